/**
 * The composition root: everything the server and its tools use, built once per process from the
 * configuration — LM Studio's servers (one client each, the first as `client`), the database (chat
 * history and tasks, opened on first use), and the redactor that keeps secrets (every server's API key,
 * the HTTP token) out of every result and log line: the log is wrapped here, once. `main.ts` builds it
 * for stdio and for HTTP; the in-process test harness builds it the same way.
 *
 * @module
 */
import type { Config } from "../lib/config/config.ts";
import { hostSecrets } from "../lib/lmstudio/hosts.ts";
import type { Logger } from "../lib/config/logger.ts";
import { Pool } from "../lib/lmstudio/pool.ts";
import { redactingLogger, redactor } from "../lib/config/redact.ts";
import { lazyServerStores } from "./store.ts";
import type { TaskStore } from "./task_store.ts";
import type { ToolDeps } from "../tools/tool.ts";

/** Everything the server uses: what its tools are given, and the task store. */
export interface Deps extends ToolDeps {
  /** The MCP tasks, in the chat history's database (opened on first use). */
  readonly tasks: () => TaskStore;
}

/** Options of {@linkcode buildDeps}. */
export interface BuildOptions {
  /** More secrets to redact besides the API key (the HTTP bearer token). */
  readonly secrets?: readonly (string | undefined)[];
  /** Whether clients reach the server over HTTP beyond loopback (`files` then needs `--allow-dir`). */
  readonly remote?: boolean;
  /** How long a server that failed is skipped at first (tests shorten it). @default 15 s */
  readonly backoffMs?: number;
}

/** What {@linkcode buildDeps} made, and how to release it. */
export interface BuiltDeps {
  /** The dependencies every server instance shares. */
  readonly deps: Deps;
  /** Closes the database if it was opened. */
  close(): void;
}

/**
 * Builds the dependencies of a server process.
 *
 * @param config The parsed configuration
 * @param log Where log lines go (stderr); wrapped so every line is redacted
 * @param options Extra secrets, remote mode
 * @returns The dependencies and their `close`
 */
export function buildDeps(config: Config, log: Logger, options: BuildOptions = {}): BuiltDeps {
  const redact = redactor([...hostSecrets(config.hosts), ...(options.secrets ?? [])]);
  const pool = new Pool(config.hosts, {
    timeouts: config.timeouts,
    ...(options.backoffMs === undefined ? {} : { backoffMs: options.backoffMs }),
  });
  const stores = lazyServerStores(config.sessionsDb);
  return {
    deps: {
      client: pool.hosts[0]!.client,
      pool,
      config,
      log: redactingLogger(log, redact),
      sessions: () => stores.get().sessions,
      tasks: () => stores.get().tasks,
      redact,
      remote: options.remote,
    },
    close: () => stores.close(),
  };
}
