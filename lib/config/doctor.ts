/**
 * `--check`: a doctor that tells a person whether this server can work, and how to fix what cannot.
 *
 * @module
 */
import { dirname } from "node:path";
import type { Config } from "./config.ts";
import {
  AuthError,
  ConfigError,
  LmStudioError,
  ProtocolError,
  SessionStoreError,
  UnreachableError,
} from "../errors.ts";
import { NotLmStudioError } from "../lmstudio/http_errors.ts";
import { LmStudioClient } from "../lmstudio/client.ts";
import { loadedInstances } from "../lmstudio/models.ts";
import { checkSessionDatabase } from "../history/database.ts";

/** One line of the report. */
export interface CheckResult {
  /** Passed? */
  readonly ok: boolean;
  /** What was found. */
  readonly message: string;
  /** How to fix it, when it failed. */
  readonly fix?: string;
}

/** Options of {@linkcode runDoctor}. */
export interface DoctorOptions {
  /** The fetch to use. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

/**
 * Probes each LM Studio server of LM_STUDIO_URL, then the sessions database.
 *
 * @param config The parsed configuration
 * @param options Test seams
 * @returns One result per check, in order
 */
export async function runDoctor(config: Config, options: DoctorOptions = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  // Each server of LM_STUDIO_URL in turn, with its own token; with several, each line names its server.
  const several = config.hosts.length > 1;
  for (const host of config.hosts) {
    const found = await checkHost({ ...config, baseUrl: host.baseUrl, apiKey: host.apiKey }, options);
    results.push(
      ...(several ? found.map((r) => ({ ...r, message: `${host.baseUrl}: ${r.message}` })) : found),
    );
  }
  results.push(await sessionsCheck(config.sessionsDb));
  return results;
}

/** The checks of one LM Studio server (every one but the sessions database). */
async function checkHost(config: Config, options: DoctorOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const seams = options.fetch ? { fetch: options.fetch } : {};
  const client = new LmStudioClient({ ...config, ...seams });
  const anonymous = new LmStudioClient({ ...config, apiKey: undefined, ...seams });
  const url = config.baseUrl;
  try {
    const models = await client.listModels();
    results.push({ ok: true, message: `LM Studio answers at ${url}` });
    results.push({ ok: true, message: "Native API /api/v1 is available (LM Studio 0.4.0 or newer)" });
    results.push(await authCheck(config, anonymous));
    const loaded = loadedInstances(models);
    results.push({
      ok: true,
      message: loaded.length
        ? `Loaded models: ${
          loaded.map((i) => i.id + (i.context_length ? ` (context ${i.context_length})` : "")).join(", ")
        }`
        : `No models loaded (${models.length} downloaded); tools load them on demand with model_load`,
    });
  } catch (error) {
    results.push(failure(error, url));
    // Only an old LM Studio (no native API) is worth probing further; any other failure has one cause
    // and one fix, already given.
    if (!(error instanceof ProtocolError)) return results;
  }
  try {
    const ids = await client.listOpenAiModels();
    results.push({ ok: true, message: `OpenAI-compatible API /v1 is available (${ids.length} models)` });
  } catch (error) {
    if (!(error instanceof LmStudioError)) throw error;
    results.push({
      ok: false,
      message: `OpenAI-compatible API /v1 failed: ${error.message}`,
      fix: "chat and embed need it; update LM Studio and keep its server running",
    });
  }
  return results;
}

async function authCheck(config: Config, anonymous: LmStudioClient): Promise<CheckResult> {
  let required = false;
  try {
    await anonymous.listModels();
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    required = true;
  }
  if (!required) {
    return {
      ok: true,
      message: `Authentication: not required by LM Studio${
        config.apiKey ? " (LM_STUDIO_API_KEY is set and sent anyway)" : ""
      }`,
    };
  }
  return { ok: true, message: "Authentication: required, and LM_STUDIO_API_KEY is accepted" };
}

function failure(error: unknown, url: string): CheckResult {
  if (!(error instanceof LmStudioError)) throw error;
  if (error instanceof AuthError) return { ok: false, message: "Authentication failed", fix: error.message };
  if (error instanceof NotLmStudioError) {
    // Another program answered: say what it sent and what LM Studio would have, not "LM Studio failed".
    return {
      ok: false,
      message: `${url} does not look like LM Studio: ${error.request} got ${error.answered}`,
      fix: `${error.reason[0]!.toUpperCase()}${error.reason.slice(1)}. Point LM_STUDIO_URL at LM Studio's ` +
        `server (the address its Developer tab shows; http://localhost:1234 unless you changed the port); if ` +
        `a proxy sits in front of LM Studio, this is the proxy's answer`,
    };
  }
  if (error instanceof UnreachableError && error.kind === "blocked") {
    // Nothing was sent, so nothing is known about LM Studio: the cause is the URL, not a stopped server.
    return {
      ok: false,
      message: `LM_STUDIO_URL ${url} uses port ${new URL(url).port}, which is blocked`,
      fix: error.message,
    };
  }
  if (error instanceof UnreachableError) {
    return { ok: false, message: `LM Studio does not answer at ${url}`, fix: error.message };
  }
  if (error instanceof ConfigError) {
    return { ok: false, message: `This server may not connect to ${url}`, fix: error.message };
  }
  if (error instanceof ProtocolError) {
    return { ok: false, message: `LM Studio at ${url} does not answer the native API`, fix: error.message };
  }
  return { ok: false, message: `LM Studio at ${url} failed the models request`, fix: error.message };
}

/**
 * Whether the sessions database can be opened for writing, without creating it.
 *
 * @param path The database path or `:memory:`
 * @returns The check result
 */
export async function sessionsCheck(path: string): Promise<CheckResult> {
  if (path === ":memory:") {
    return { ok: true, message: "Sessions DB: in memory (history is lost when the server stops)" };
  }
  try {
    const stat = await Deno.stat(path).catch((error) => {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    });
    if (stat) {
      if (!stat.isFile) throw new Error("it exists but is not a file");
      (await Deno.open(path, { read: true, write: true })).close();
      checkSessionDatabase(path);
      return { ok: true, message: `Sessions DB: ${path} is an SQLite database and is writable` };
    }
    let dir = dirname(path);
    for (let depth = 0; depth < 64; depth++) {
      const dirStat = await Deno.stat(dir).catch(() => undefined);
      if (dirStat?.isDirectory) break;
      if (dirname(dir) === dir) break;
      dir = dirname(dir);
    }
    const probe = await Deno.makeTempFile({ dir, prefix: ".lmstudio-mcp-check-" });
    await Deno.remove(probe);
    return { ok: true, message: `Sessions DB: ${path} will be created on the first chat` };
  } catch (error) {
    return {
      ok: false,
      message: `Sessions DB: ${path} cannot be used (${dbProblem(error)})`,
      fix: "Set MCP_SESSIONS_DB to a file in a directory you own, or fix the permissions; " +
        "the other tools work without it",
    };
  }
}

function dbProblem(error: unknown): string {
  // Deno's own advice ("run again with --allow-all") would grant far more than a path needs.
  if (error instanceof Deno.errors.NotCapable) {
    return 'Deno\'s --allow-read/--allow-write do not include it (see the README, "Permissions")';
  }
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof SessionStoreError) {
    return error.message.replace(/^Cannot open [^:]*: /, "").split(". ")[0] ?? "";
  }
  return error instanceof Error ? error.message : String(error);
}
