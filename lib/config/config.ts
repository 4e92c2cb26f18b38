/**
 * Configuration: the reference server's environment variables, parsed once into frozen data.
 *
 * Pure: the caller passes the environment in and prints the warnings out, so tests need no process
 * state and `lib/` never reads `Deno.env`.
 *
 * @module
 */
import { ALLOW_DIRS_VARIABLE, allowedDirs } from "../files/allow_dirs.ts";
import { join } from "node:path";
import { ConfigError } from "../errors.ts";
import { distinctHosts, type HostConfig, splitHosts } from "../lmstudio/hosts.ts";

/** The variables of HTTP mode (also listed by `--help` and read from env files). */
export const HTTP_VARIABLES: readonly string[] = Object.freeze([
  "LMSTUDIO_MCP_HTTP",
  "LMSTUDIO_MCP_TOKEN",
  "LMSTUDIO_MCP_TOKEN_FILE",
  "LMSTUDIO_MCP_ALLOWED_HOSTS",
  "LMSTUDIO_MCP_ALLOWED_ORIGINS",
  "LMSTUDIO_MCP_SESSION_IDLE_MS",
]);

/** Timeouts in milliseconds, each raised by the variable named in its doc. */
export interface Timeouts {
  /** model_list, model_unload, embed, download start. LM_STUDIO_TIMEOUT_DEFAULT_MS. */
  readonly defaultMs: number;
  /** ask and chat, the whole call. LM_STUDIO_TIMEOUT_INFERENCE_MS. */
  readonly inferenceMs: number;
  /** model_load. LM_STUDIO_TIMEOUT_LOAD_MS. */
  readonly loadMs: number;
  /** Silence allowed between two chunks of a stream. LM_STUDIO_SSE_IDLE_TIMEOUT_MS. */
  readonly sseIdleMs: number;
}

/** Everything the server needs to know, parsed and validated. */
export interface Config {
  /** LM Studio's base URL without a trailing slash or API suffix, e.g. `http://localhost:1234`. */
  readonly baseUrl: string;
  /** Bearer token, or undefined when none is configured. Never print it. */
  readonly apiKey: string | undefined;
  /**
   * Every LM Studio server (LM_STUDIO_URL may list several, comma-separated), each with its own token;
   * the first is `baseUrl` and `apiKey`.
   */
  readonly hosts: readonly HostConfig[];
  /** Path of the chat history database, or `:memory:`. */
  readonly sessionsDb: string;
  /** Per-call timeouts. */
  readonly timeouts: Timeouts;
  /** Polling cadence of model_download. LM_STUDIO_DOWNLOAD_POLL_INTERVAL_MS. */
  readonly downloadPollIntervalMs: number;
  /** How long one model_download call keeps polling. LM_STUDIO_DOWNLOAD_POLL_TIMEOUT_MS. */
  readonly downloadPollTimeoutMs: number;
  /** Longest gap between two progress notifications. LM_STUDIO_HEARTBEAT_MS. */
  readonly heartbeatMs: number;
  /** The user's home directory, for `~` in paths; undefined when unknown. */
  readonly home: string | undefined;
  /** Folders `files` may read (`--allow-dir`, LMSTUDIO_MCP_ALLOW_DIRS), absolute; empty when none given. */
  readonly allowDirs: readonly string[];
  /**
   * Requests `each`/`prompts` send at once (LMSTUDIO_MCP_PARALLEL), overriding the loaded instance's
   * `parallel`; undefined to follow LM Studio.
   */
  readonly parallel: number | undefined;
  /**
   * The largest `context_length` a call asks for when it loads a model sized to its job
   * (LMSTUDIO_MCP_MAX_CONTEXT); undefined for the model's own maximum.
   */
  readonly maxContext: number | undefined;
}

/** The most requests one fan-out may send at once, however it is asked. */
export const MAX_PARALLEL = 64;

/** The result of {@linkcode parseConfig}: the config and one warning per ignored value. */
export interface ParsedConfig {
  /** The frozen configuration. */
  readonly config: Config;
  /** Human-readable lines for stderr, one per variable that fell back to its default. */
  readonly warnings: readonly string[];
}

/** Options of {@linkcode parseConfig}. */
export interface ParseConfigOptions {
  /** The user's home directory, for the default sessions DB. */
  readonly home?: string | undefined;
  /** The `--allow-dir` values, before LMSTUDIO_MCP_ALLOW_DIRS. */
  readonly allowDirFlags?: readonly string[];
  /** The working folder, for relative `--allow-dir` paths. @default "/" */
  readonly cwd?: string;
  /** The OS, for the path-list separator. @default Deno.build.os */
  readonly os?: typeof Deno.build.os;
}

/** Every variable we read, with its default; the reference's names and defaults. */
export const DEFAULTS: Readonly<{
  LM_STUDIO_URL: string;
  LM_STUDIO_TIMEOUT_DEFAULT_MS: number;
  LM_STUDIO_TIMEOUT_INFERENCE_MS: number;
  LM_STUDIO_TIMEOUT_LOAD_MS: number;
  LM_STUDIO_SSE_IDLE_TIMEOUT_MS: number;
  LM_STUDIO_DOWNLOAD_POLL_INTERVAL_MS: number;
  LM_STUDIO_DOWNLOAD_POLL_TIMEOUT_MS: number;
  LM_STUDIO_HEARTBEAT_MS: number;
}> = Object.freeze({
  LM_STUDIO_URL: "http://localhost:1234",
  LM_STUDIO_TIMEOUT_DEFAULT_MS: 30_000,
  LM_STUDIO_TIMEOUT_INFERENCE_MS: 120_000,
  LM_STUDIO_TIMEOUT_LOAD_MS: 300_000,
  LM_STUDIO_SSE_IDLE_TIMEOUT_MS: 60_000,
  LM_STUDIO_DOWNLOAD_POLL_INTERVAL_MS: 5_000,
  LM_STUDIO_DOWNLOAD_POLL_TIMEOUT_MS: 120_000,
  LM_STUDIO_HEARTBEAT_MS: 5_000,
});

/** Names of all variables the server reads from the environment or an env file. */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze([
  "LM_STUDIO_URL",
  "LM_STUDIO_API_KEY",
  "MCP_SESSIONS_DB",
  "LM_STUDIO_TIMEOUT_DEFAULT_MS",
  "LM_STUDIO_TIMEOUT_INFERENCE_MS",
  "LM_STUDIO_TIMEOUT_LOAD_MS",
  "LM_STUDIO_SSE_IDLE_TIMEOUT_MS",
  "LM_STUDIO_DOWNLOAD_POLL_INTERVAL_MS",
  "LM_STUDIO_DOWNLOAD_POLL_TIMEOUT_MS",
  "LM_STUDIO_HEARTBEAT_MS",
  ALLOW_DIRS_VARIABLE,
  "LMSTUDIO_MCP_PARALLEL",
  "LMSTUDIO_MCP_MAX_CONTEXT",
  ...HTTP_VARIABLES,
]);

type MsVariable = Exclude<keyof typeof DEFAULTS, "LM_STUDIO_URL">;

/** The largest timeout we accept: about 24 days, the limit of `setTimeout`. */
const MAX_MS = 2_147_483_647;

/**
 * Normalises LM_STUDIO_URL: trims, drops trailing slashes and a `/v1` or `/api/v1` suffix.
 *
 * @param raw The value as the user wrote it
 * @returns The base URL, e.g. `http://localhost:1234`
 * @throws {ConfigError} When the value is not an http(s) URL
 * @example
 * ```ts
 * import { normalizeBaseUrl } from "./config.ts";
 * normalizeBaseUrl("http://localhost:1234/v1/"); // "http://localhost:1234"
 * ```
 */
export function normalizeBaseUrl(raw: string): string {
  const value = raw.trim();
  let url: URL;
  try {
    url = new URL(value);
  } catch (cause) {
    throw new ConfigError(
      `LM_STUDIO_URL is not a valid URL: "${value}". Use the form http://localhost:1234`,
      { cause },
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(
      `LM_STUDIO_URL must start with http:// or https://, got "${value}". Use the form http://localhost:1234`,
    );
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new ConfigError(
      `LM_STUDIO_URL must be a plain base URL without query, fragment or credentials, got "${url.origin}…". ` +
        `Put the token in LM_STUDIO_API_KEY instead`,
    );
  }
  const path = url.pathname.replace(/\/+$/, "").replace(/\/(api\/)?v1$/, "").replace(/\/+$/, "");
  return url.origin + path;
}

/**
 * Parses the environment into a frozen {@linkcode Config}.
 *
 * A timeout that is not a positive integer keeps its default, as in the reference, and adds one
 * warning naming the variable. A malformed LM_STUDIO_URL is an error.
 *
 * @param env The environment (real environment merged over any env file)
 * @param options Where home is, for the default database path
 * @returns The config and the warnings to print on stderr
 * @throws {ConfigError} When LM_STUDIO_URL is malformed
 * @example
 * ```ts
 * import { parseConfig } from "./config.ts";
 * const { config } = parseConfig({ LM_STUDIO_URL: "http://127.0.0.1:1234/" }, { home: "/home/me" });
 * config.baseUrl; // "http://127.0.0.1:1234"
 * ```
 */
export function parseConfig(
  env: Readonly<Record<string, string | undefined>>,
  options: ParseConfigOptions = {},
): ParsedConfig {
  const warnings: string[] = [];
  const ms = (name: MsVariable): number => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === "") return DEFAULTS[name];
    const value = Number(raw);
    if (/^\d+$/.test(raw) && Number.isSafeInteger(value) && value > 0 && value <= MAX_MS) {
      return value;
    }
    warnings.push(
      `${name}="${raw}" is not a positive whole number of milliseconds; using the default ${DEFAULTS[name]}`,
    );
    return DEFAULTS[name];
  };
  const hosts = distinctHosts(
    splitHosts(env.LM_STUDIO_URL, env.LM_STUDIO_API_KEY, DEFAULTS.LM_STUDIO_URL)
      .map((h) => ({ baseUrl: normalizeBaseUrl(h.url), apiKey: h.apiKey })),
  );
  const config: Config = Object.freeze({
    baseUrl: hosts[0]!.baseUrl,
    apiKey: hosts[0]!.apiKey,
    hosts,
    sessionsDb: sessionsDbPath(env.MCP_SESSIONS_DB, options.home, warnings),
    timeouts: Object.freeze({
      defaultMs: ms("LM_STUDIO_TIMEOUT_DEFAULT_MS"),
      inferenceMs: ms("LM_STUDIO_TIMEOUT_INFERENCE_MS"),
      loadMs: ms("LM_STUDIO_TIMEOUT_LOAD_MS"),
      sseIdleMs: ms("LM_STUDIO_SSE_IDLE_TIMEOUT_MS"),
    }),
    downloadPollIntervalMs: ms("LM_STUDIO_DOWNLOAD_POLL_INTERVAL_MS"),
    downloadPollTimeoutMs: ms("LM_STUDIO_DOWNLOAD_POLL_TIMEOUT_MS"),
    heartbeatMs: ms("LM_STUDIO_HEARTBEAT_MS"),
    home: options.home,
    allowDirs: allowedDirs(options.allowDirFlags ?? [], env[ALLOW_DIRS_VARIABLE], {
      cwd: options.cwd ?? "/",
      home: options.home,
      os: options.os ?? Deno.build.os,
    }),
    parallel: parallelOf(env.LMSTUDIO_MCP_PARALLEL, warnings),
    maxContext: maxContextOf(env.LMSTUDIO_MCP_MAX_CONTEXT, warnings),
  });
  return Object.freeze({ config, warnings: Object.freeze(warnings) });
}

function parallelOf(raw: string | undefined, warnings: string[]): number | undefined {
  const value = raw?.trim();
  if (!value) return undefined;
  const n = Number(value);
  if (/^\d+$/.test(value) && n >= 1 && n <= MAX_PARALLEL) return n;
  warnings.push(
    `LMSTUDIO_MCP_PARALLEL="${value}" is not a whole number from 1 to ${MAX_PARALLEL}; ` +
      "following the loaded model's parallel slots instead",
  );
  return undefined;
}

function maxContextOf(raw: string | undefined, warnings: string[]): number | undefined {
  const value = raw?.trim();
  if (!value) return undefined;
  const n = Number(value);
  if (/^\d+$/.test(value) && n >= 512 && n <= 16_777_216) return n;
  warnings.push(
    `LMSTUDIO_MCP_MAX_CONTEXT="${value}" is not a whole number from 512 to 16777216; ` +
      "loads sized to a job go up to the model's maximum context instead",
  );
  return undefined;
}

function sessionsDbPath(raw: string | undefined, home: string | undefined, warnings: string[]) {
  const value = raw?.trim();
  if (value === ":memory:") return value;
  if (value) {
    if (home && (value === "~" || value.startsWith("~/") || value.startsWith("~\\"))) {
      return join(home, value.slice(1));
    }
    return value;
  }
  if (!home) {
    warnings.push(
      "No home directory is known (HOME / USERPROFILE unset), so chat history is kept in memory only; " +
        "set MCP_SESSIONS_DB to a file path to keep it",
    );
    return ":memory:";
  }
  return join(home, ".mcp-llm-studio", "sessions.db");
}
