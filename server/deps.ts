/**
 * The composition root: everything a tool may use, built once per process from the configuration —
 * LM Studio's servers (one client each, the first as `client`), the chat store (opened on first use), and
 * the redactor that keeps secrets (every server's API key, the HTTP token) out of every result and log
 * line. `main.ts` builds it for stdio and for HTTP;
 * the in-process test harness builds it the same way.
 *
 * @module
 */
import type { Config } from "../lib/config.ts";
import { hostSecrets } from "../lib/hosts.ts";
import type { Logger } from "../lib/logger.ts";
import { Pool } from "../lib/pool.ts";
import { redactingLogger, redactor } from "../lib/redact.ts";
import { lazySessionStore, type SessionStore } from "../lib/sessions.ts";
import { openServerStore } from "./store.ts";
import type { Deps } from "../tools/tool.ts";

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
  /** Closes the chat store if it was opened. */
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
  const open = lazySessionStore(config.sessionsDb, openServerStore);
  let store: SessionStore | undefined;
  const sessions = () => store = open();
  return {
    deps: {
      client: pool.hosts[0]!.client,
      pool,
      config,
      log: redactingLogger(log, redact),
      sessions,
      redact,
      remote: options.remote,
    },
    close: () => store?.close(),
  };
}
