/**
 * Settings of `--http [HOST:]PORT` (or `LMSTUDIO_MCP_HTTP`): where to listen, the bearer token, the extra
 * hosts and origins to accept, and when idle sessions end. Safe by default, as the MCP spec asks: loopback
 * unless told otherwise, and no listening beyond loopback without a token.
 *
 * @module
 */
import { ConfigError } from "../lib/errors.ts";

/** How to serve MCP over HTTP. */
export interface HttpSettings {
  /** The interface to bind. */
  readonly hostname: string;
  /** The port (0: any free one). */
  readonly port: number;
  /** Whether `hostname` only accepts connections from this machine. */
  readonly loopback: boolean;
  /** The bearer token clients must send; required when not on loopback. */
  readonly token: string | undefined;
  /** Extra `Host` values to accept (besides the bound address and, on loopback, localhost). */
  readonly allowedHosts: readonly string[];
  /** Extra `Origin` values to accept (besides the accepted hosts' own http/https origins). */
  readonly allowedOrigins: readonly string[];
  /** Idle time after which an MCP session ends. */
  readonly sessionIdleMs: number;
}

/** Shortest token accepted: a guessable token is no protection. */
const MIN_TOKEN_LENGTH = 16;
const DEFAULT_IDLE_MS = 30 * 60_000;

/**
 * Whether a host name or address only reaches this machine.
 *
 * @param hostname e.g. `127.0.0.1`, `localhost`, `::1`, `0.0.0.0`
 * @returns True for loopback
 */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * Parses `[HOST:]PORT`.
 *
 * @param value e.g. `8765`, `127.0.0.1:8765`, `0.0.0.0:8765`, `[::1]:8765`
 * @returns Host (default 127.0.0.1) and port
 * @throws {ConfigError} When it is not of that form
 */
export function parseListen(value: string): { hostname: string; port: number } {
  const match = /^(?:(\[[0-9a-fA-F:]+\]|[^:[\]\s]+):)?(\d{1,5})$/.exec(value.trim());
  const port = Number(match?.[2]);
  if (!match || port > 65535) {
    throw new ConfigError(
      `--http "${value}" is not [HOST:]PORT. Examples: --http 8765 (this machine only), --http 0.0.0.0:8765 ` +
        "(the network; needs LMSTUDIO_MCP_TOKEN)",
    );
  }
  return { hostname: (match[1] ?? "127.0.0.1").replace(/^\[|\]$/g, ""), port };
}

/**
 * Reads the HTTP settings.
 *
 * @param listen `[HOST:]PORT` from `--http` or `LMSTUDIO_MCP_HTTP`
 * @param env The environment
 * @param readTextFile Reads `LMSTUDIO_MCP_TOKEN_FILE`
 * @returns The settings
 * @throws {ConfigError} On a malformed value, a short token, or a non-loopback bind without a token
 */
export function httpSettings(
  listen: string,
  env: Readonly<Record<string, string | undefined>>,
  readTextFile: (path: string) => string,
): HttpSettings {
  const { hostname, port } = parseListen(listen);
  let token = env.LMSTUDIO_MCP_TOKEN?.trim() || undefined;
  const file = env.LMSTUDIO_MCP_TOKEN_FILE?.trim();
  if (!token && file) {
    try {
      token = readTextFile(file).trim() || undefined;
    } catch (error) {
      throw new ConfigError(
        `LMSTUDIO_MCP_TOKEN_FILE ${file} cannot be read (${error instanceof Error ? error.message : error})`,
      );
    }
  }
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new ConfigError(
      `The MCP token is ${token.length} characters; use at least ${MIN_TOKEN_LENGTH} random ones, e.g. ` +
        "`openssl rand -hex 32`",
    );
  }
  const loopback = isLoopback(hostname);
  if (!loopback && token === undefined) {
    throw new ConfigError(
      `Refusing to serve MCP on ${hostname}:${port} without a token: anyone who can reach it could use your ` +
        "models and read your chat history. Set LMSTUDIO_MCP_TOKEN (or LMSTUDIO_MCP_TOKEN_FILE) to a long " +
        "random value and give it to your clients, or bind 127.0.0.1",
    );
  }
  const list = (name: string) =>
    (env[name] ?? "").split(",").map((item) => item.trim().toLowerCase()).filter(Boolean);
  const idleRaw = env.LMSTUDIO_MCP_SESSION_IDLE_MS?.trim();
  const idle = idleRaw ? Number(idleRaw) : DEFAULT_IDLE_MS;
  if (!Number.isSafeInteger(idle) || idle < 1000) {
    throw new ConfigError(
      `LMSTUDIO_MCP_SESSION_IDLE_MS="${idleRaw}" is not a whole number of milliseconds ≥ 1000`,
    );
  }
  return {
    hostname,
    port,
    loopback,
    token,
    allowedHosts: list("LMSTUDIO_MCP_ALLOWED_HOSTS"),
    allowedOrigins: list("LMSTUDIO_MCP_ALLOWED_ORIGINS").map((origin) => origin.replace(/\/+$/, "")),
    sessionIdleMs: idle,
  };
}
