/**
 * lmstudio-mcp: an MCP server that drives a local LM Studio.
 *
 * This entry point only parses flags and configuration, builds the dependencies once (server/deps.ts)
 * and hands them to a transport (transports/stdio.ts or transports/http.ts).
 * Nothing runs at import time; nothing that could wait for the first call runs before connecting.
 *
 * @module
 */
import { parseArgs } from "node:util";
import denoJson from "./deno.json" with { type: "json" };
import { type Config, CONFIG_VARIABLES, parseConfig } from "./lib/config/config.ts";
import { runDoctor } from "./lib/config/doctor.ts";
import { homeDirectory, resolveEnvironment, userEnvFilePath } from "./lib/config/env_file.ts";
import { LmStudioError } from "./lib/errors.ts";
import { hostSecrets } from "./lib/lmstudio/hosts.ts";
import { createStderrLogger, type Logger } from "./lib/config/logger.ts";
import { redactingLogger, redactor } from "./lib/config/redact.ts";
import { type HttpSettings, httpSettings } from "./transports/http_listen.ts";
import { serveHttp } from "./transports/http.ts";
import { mcpApp } from "./server/build_server.ts";
import { buildDeps } from "./server/deps.ts";
import { serveOnStdio } from "./transports/stdio.ts";

/** The version, from deno.json (a JSON import, so `deno compile` embeds it). */
export const VERSION: string = denoJson.version;

/** Name and version, for `initialize` and `server/discover`. */
const INFO = { name: "lmstudio-mcp", version: VERSION };

function helpText(): string {
  return `lmstudio-mcp ${VERSION} — MCP server for a local LM Studio

Usage:
  lmstudio-mcp                  Run the MCP server on stdio (what MCP clients start)
  lmstudio-mcp --http [HOST:]PORT
                                Serve MCP over Streamable HTTP at /mcp (default host 127.0.0.1;
                                another host needs LMSTUDIO_MCP_TOKEN). GET /health for monitors
  lmstudio-mcp --check          Check LM Studio, auth and the sessions DB, then exit (0 = healthy)
  lmstudio-mcp --version        Print the version
  lmstudio-mcp --help           Print this help

Options:
  --env-file PATH               Read variables from this env file (the real environment wins)
  --allow-dir PATH              Let the files parameter read this folder (repeatable; also
                                LMSTUDIO_MCP_ALLOW_DIRS). Client roots narrow it; over HTTP beyond
                                loopback, files reads nothing without it

Environment (see the README for defaults):
  ${CONFIG_VARIABLES.join("\n  ")}

Env files: only --env-file PATH or the per-user file
  ${userEnvFilePath(Deno.build.os, readProcessEnv()) ?? "(no home directory)"}
are read; a .env in the working directory is ignored (it may come from a cloned repository).
`;
}

/** Writes a line of CLI output to stdout; used only by the one-shot modes, never by the server. */
function print(line: string): void {
  // deno-lint-ignore no-console -- --version, --help and --check answer on stdout
  console.log(line);
}

const PLATFORM_VARIABLES = ["HOME", "USERPROFILE", "APPDATA", "XDG_CONFIG_HOME"];

function readProcessEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const name of [...CONFIG_VARIABLES, ...PLATFORM_VARIABLES]) {
    try {
      env[name] = Deno.env.get(name);
    } catch {
      env[name] = undefined; // No env permission for this name: treat it as unset.
    }
  }
  return env;
}

function readTextFile(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined; // Missing or not readable: the caller treats both as "no file".
  }
}

function isFolder(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false; // Missing, or no permission to look: not usable either way.
  }
}

function cwdOrUndefined(): string | undefined {
  try {
    return Deno.cwd();
  } catch {
    return undefined; // No read permission for the working directory: skip the .env notice.
  }
}

function loadConfig(
  envFile: string | undefined,
  allowDirFlags: readonly string[],
  log: Logger,
): { config: Config; env: Readonly<Record<string, string | undefined>> } {
  const processEnv = readProcessEnv();
  const resolved = resolveEnvironment({
    processEnv,
    envFile,
    userEnvFile: userEnvFilePath(Deno.build.os, processEnv),
    cwd: cwdOrUndefined(),
    readTextFile,
  });
  // Everything said about the configuration is redacted: a bad value may hold the API key.
  const key = resolved.env.LM_STUDIO_API_KEY?.trim();
  const redact = redactor([key, ...(key?.includes(",") ? key.split(",").map((t) => t.trim()) : [])]);
  const safe = redactingLogger(log, redact);
  for (const notice of resolved.notices) safe.warn(notice);
  try {
    const { config, warnings } = parseConfig(resolved.env, {
      home: homeDirectory(Deno.build.os, processEnv),
      allowDirFlags,
      cwd: cwdOrUndefined() ?? "/",
    });
    for (const warning of warnings) safe.warn(warning);
    for (const dir of config.allowDirs) {
      if (!isFolder(dir)) {
        safe.warn(`Allowed folder ${dir} is not a folder this server can read; files there will fail`);
      }
    }
    return { config, env: resolved.env };
  } catch (error) {
    if (error instanceof LmStudioError) error.message = redact(error.message);
    throw error;
  }
}

async function check(config: Config): Promise<number> {
  const redact = redactor(hostSecrets(config.hosts));
  const say = (line: string) => print(redact(line));
  say(`lmstudio-mcp ${VERSION} — checking ${config.hosts.map((h) => h.baseUrl).join(", ")}`);
  const results = await runDoctor(config);
  for (const result of results) {
    say(`${result.ok ? "✓" : "✗"} ${result.message}`);
    if (result.fix) say(`  → ${result.fix}`);
  }
  const failed = results.filter((r) => !r.ok).length;
  say(failed ? `${failed} check(s) failed.` : "All checks passed.");
  return failed ? 1 : 0;
}

/**
 * A failure nobody awaited is a bug, but it must not end a server that clients depend on: it is logged
 * (redacted, like every line) and the server keeps serving.
 */
function keepServingOnStrayErrors(log: Logger): void {
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    log.error("A promise failed with nobody waiting for it (the server keeps running)", event.reason);
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    log.error("An uncaught error (the server keeps running)", event.error);
  });
}

/**
 * Why the listening socket could not be opened, said so that a person (or a service manager's log) knows
 * what to do; undefined for errors that are not about the address.
 */
export function listenFailure(error: unknown, settings: HttpSettings): string | undefined {
  const where = `${
    settings.hostname.includes(":") ? `[${settings.hostname}]` : settings.hostname
  }:${settings.port}`;
  if (error instanceof Deno.errors.AddrInUse) {
    return `Cannot serve MCP on ${where}: port ${settings.port} is already in use (another lmstudio-mcp, or ` +
      `another program: \`lsof -i :${settings.port}\` shows which). Stop it, or choose another port, e.g. ` +
      `--http ${settings.port === 65535 ? settings.port - 1 : settings.port + 1}`;
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return `Cannot serve MCP on ${where}: ${settings.hostname} is not an address of this machine. Use ` +
      "127.0.0.1 (this machine only) or an address the machine has";
  }
  if (error instanceof Deno.errors.PermissionDenied && settings.port < 1024) {
    return `Cannot serve MCP on ${where}: ports below 1024 need special rights. Choose a port from 1024 up, ` +
      "e.g. --http 8765";
  }
  return undefined;
}

/** Starts HTTP mode; returns an exit code when it cannot listen. */
function serveOverHttp(config: Config, settings: HttpSettings, given: Logger): number | undefined {
  // Beyond loopback a client's working folder means nothing here: files reads only allowed folders.
  const built = buildDeps(config, given, { secrets: [settings.token], remote: !settings.loopback });
  const log = built.deps.log;
  let handle;
  try {
    handle = serveHttp(settings, mcpApp(built.deps, INFO));
  } catch (error) {
    const message = listenFailure(error, settings);
    if (message === undefined) throw error;
    log.error(message);
    built.close();
    return 1;
  }
  keepServingOnStrayErrors(log);
  if (settings.token === undefined && config.allowDirs.length === 0) {
    log.warn(
      "No token: anyone who can connect to this machine's loopback (any local user or program) can use " +
        "your models, read your chat history and task results, and, through the files parameter, have any file " +
        "you can read sent to LM Studio. On a machine you share, set LMSTUDIO_MCP_TOKEN (clients then send it " +
        "as a bearer token) and narrow files with --allow-dir",
    );
  }
  log.info(
    `${VERSION} serving MCP at ${handle.url}` + (settings.token ? " (bearer token required)" : "") +
      `, LM Studio at ${config.hosts.map((h) => h.baseUrl).join(", ")}`,
  );
  // SIGINT/SIGTERM: end every session (aborting LM Studio calls in flight), stop listening, close the DB.
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log.info("Shutting down");
    await handle.shutdown();
    built.close();
    Deno.exit(0);
  };
  for (const signal of Deno.build.os === "windows" ? ["SIGINT"] as const : ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => void stop());
  }
  return undefined;
}

function serve(config: Config, given: Logger): void {
  const { deps } = buildDeps(config, given);
  keepServingOnStrayErrors(deps.log);
  serveOnStdio(mcpApp(deps, INFO).make, deps.log);
  deps.log.info(`${VERSION} ready on stdio, LM Studio at ${config.hosts.map((h) => h.baseUrl).join(", ")}`);
}

/**
 * Runs the command line.
 *
 * @param args The arguments after the executable
 * @returns An exit code for one-shot modes, or undefined while the stdio server runs
 */
export async function main(args: readonly string[]): Promise<number | undefined> {
  const log = createStderrLogger();
  let flags;
  try {
    flags = parseArgs({
      args: [...args],
      options: {
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
        check: { type: "boolean" },
        http: { type: "string" },
        "env-file": { type: "string" },
        "allow-dir": { type: "string", multiple: true },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    log.error(`${error instanceof Error ? error.message : error}. Run with --help for usage`);
    return 2;
  }
  if (flags.version) {
    print(VERSION);
    return 0;
  }
  if (flags.help) {
    print(helpText());
    return 0;
  }
  let config: Config;
  let http: HttpSettings | undefined;
  try {
    const loaded = loadConfig(flags["env-file"], flags["allow-dir"] ?? [], log);
    config = loaded.config;
    const listen = flags.http ?? loaded.env.LMSTUDIO_MCP_HTTP?.trim();
    if (listen && !flags.check) {
      http = httpSettings(listen, loaded.env, (path) => Deno.readTextFileSync(path));
    }
  } catch (error) {
    if (!(error instanceof LmStudioError)) throw error;
    log.error(error.message);
    return 1;
  }
  if (flags.check) return await check(config);
  if (http) return serveOverHttp(config, http, log);
  serve(config, log);
  return undefined;
}

if (import.meta.main) {
  const code = await main(Deno.args);
  if (code !== undefined) Deno.exit(code);
}
