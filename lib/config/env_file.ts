/**
 * Safe `.env` handling.
 *
 * MCP clients start servers with the user's project as the working directory, so a `.env` that came
 * with a cloned repository must not be able to send prompts, the API key or chat history elsewhere.
 * We read an env file only when the user names it (`--env-file PATH`) or from the user's own config
 * directory. A working-directory `.env` that sets our variables is reported, never loaded. The real
 * environment always wins over any file.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { parseEnv } from "node:util";
import { CONFIG_VARIABLES } from "./config.ts";
import { ConfigError } from "../errors.ts";

/** Reads a text file; returns undefined when it does not exist or may not be read. */
export type ReadTextFile = (path: string) => string | undefined;

/** Inputs of {@linkcode resolveEnvironment}. */
export interface EnvironmentSources {
  /** The real process environment (at least our variables). */
  readonly processEnv: Readonly<Record<string, string | undefined>>;
  /** `--env-file` as given on the command line. */
  readonly envFile?: string | undefined;
  /** The per-user env file, from {@linkcode userEnvFilePath}. */
  readonly userEnvFile?: string | undefined;
  /** The working directory, to spot an untrusted `.env` there. */
  readonly cwd?: string | undefined;
  /** File reader, injected for tests. */
  readonly readTextFile: ReadTextFile;
}

/** The merged environment and what to tell the user about it. */
export interface ResolvedEnvironment {
  /** Our variables, with the real environment over the file. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The env file that was loaded, if any. */
  readonly loadedFile: string | undefined;
  /** Lines for stderr. */
  readonly notices: readonly string[];
}

/**
 * The per-user env file: `$XDG_CONFIG_HOME/lmstudio-mcp/.env` (default `~/.config`) on Linux,
 * `~/Library/Application Support/lmstudio-mcp/.env` on macOS, `%APPDATA%\lmstudio-mcp\.env` on
 * Windows.
 *
 * @param os The operating system, as in `Deno.build.os`
 * @param env The process environment (HOME, USERPROFILE, APPDATA, XDG_CONFIG_HOME)
 * @returns The path, or undefined when no home directory is known
 * @example
 * ```ts
 * import { userEnvFilePath } from "./env_file.ts";
 * userEnvFilePath("linux", { HOME: "/home/me" }); // "/home/me/.config/lmstudio-mcp/.env"
 * ```
 */
export function userEnvFilePath(
  os: string,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const home = homeDirectory(os, env);
  let base: string | undefined;
  if (os === "windows") base = env.APPDATA || (home && join(home, "AppData", "Roaming"));
  else if (os === "darwin") base = home && join(home, "Library", "Application Support");
  else base = env.XDG_CONFIG_HOME || (home && join(home, ".config"));
  return base ? join(base, "lmstudio-mcp", ".env") : undefined;
}

/**
 * The user's home directory: USERPROFILE on Windows, HOME elsewhere.
 *
 * @param os The operating system, as in `Deno.build.os`
 * @param env The process environment
 * @returns The home directory, or undefined when unknown
 */
export function homeDirectory(
  os: string,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  return (os === "windows" ? env.USERPROFILE || env.HOME : env.HOME) || undefined;
}

/**
 * Merges the env file (explicit, else per-user) under the real environment.
 *
 * @param sources Where to look
 * @returns The merged variables, the file used and notices for stderr
 * @throws {ConfigError} When `--env-file` names a file that cannot be read or parsed
 */
export function resolveEnvironment(sources: EnvironmentSources): ResolvedEnvironment {
  const notices: string[] = [];
  let fileVars: Record<string, string> = {};
  let loadedFile: string | undefined;
  if (sources.envFile !== undefined) {
    const text = sources.readTextFile(sources.envFile);
    if (text === undefined) {
      throw new ConfigError(
        `--env-file ${sources.envFile} cannot be read. Check the path, and that the server may read it`,
      );
    }
    fileVars = parseFile(text, sources.envFile);
    loadedFile = sources.envFile;
  } else if (sources.userEnvFile !== undefined) {
    const text = sources.readTextFile(sources.userEnvFile);
    if (text !== undefined) {
      fileVars = parseFile(text, sources.userEnvFile);
      loadedFile = sources.userEnvFile;
    }
  }
  const env: Record<string, string | undefined> = {};
  for (const name of CONFIG_VARIABLES) {
    const real = sources.processEnv[name];
    env[name] = real !== undefined && real !== "" ? real : fileVars[name];
  }
  const cwdNotice = untrustedCwdNotice(sources, loadedFile);
  if (cwdNotice) notices.push(cwdNotice);
  return Object.freeze({ env: Object.freeze(env), loadedFile, notices: Object.freeze(notices) });
}

function parseFile(text: string, path: string): Record<string, string> {
  try {
    return { ...parseEnv(text) } as Record<string, string>;
  } catch (cause) {
    throw new ConfigError(`The env file ${path} cannot be parsed. Use KEY=value lines`, { cause });
  }
}

function untrustedCwdNotice(sources: EnvironmentSources, loadedFile: string | undefined) {
  if (!sources.cwd) return undefined;
  const cwdEnv = join(sources.cwd, ".env");
  if (loadedFile !== undefined && resolve(loadedFile) === resolve(cwdEnv)) return undefined;
  const text = sources.readTextFile(cwdEnv);
  if (text === undefined) return undefined;
  let vars: Record<string, string>;
  try {
    vars = parseEnv(text) as Record<string, string>;
  } catch {
    return undefined; // Not ours to judge: we never load this file anyway.
  }
  const ours = CONFIG_VARIABLES.filter((name) => name in vars);
  if (ours.length === 0) return undefined;
  const where = sources.userEnvFile ? ` or move the values to ${sources.userEnvFile}` : "";
  return `Ignoring ${cwdEnv}: it sets ${ours.join(", ")}, but a .env in the working directory is not ` +
    `trusted (it may come with a cloned repository). To use it, pass --env-file ${cwdEnv}${where}`;
}
