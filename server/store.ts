/**
 * The server's database: the chat history (lib/history/sessions.ts) and the MCP tasks (task_store.ts) in one
 * SQLite file (MCP_SESSIONS_DB), opened once with every migration of both, in their one sequence.
 *
 * @module
 */
import { Database, type Migration } from "../lib/history/database.ts";
import { HISTORY_MIGRATIONS, historyStore, type SessionStore } from "../lib/history/sessions.ts";
import { TASK_MIGRATIONS, type TaskStore, taskStore } from "./task_store.ts";

/** Every migration of the server's database: the history's, then the tasks'. */
export const SCHEMA: readonly Migration[] = [...HISTORY_MIGRATIONS, ...TASK_MIGRATIONS];

/** The schema version this server writes. */
export const SCHEMA_VERSION: number = SCHEMA.length;

/** The stores of the server's database. */
export interface ServerStores {
  /** The chat history. */
  readonly sessions: SessionStore;
  /** The MCP tasks. */
  readonly tasks: TaskStore;
  /** Closes the database. */
  close(): void;
}

/**
 * Opens (creating if needed) the server's database.
 *
 * @param location A file path or `:memory:`
 * @returns Its stores
 * @throws {SessionStoreError} With the path, the reason and the fix
 */
export function openServerStores(location: string): ServerStores {
  const db = Database.open(location, SCHEMA);
  return { sessions: historyStore(db), tasks: taskStore(db), close: () => db.close() };
}

/**
 * The database opened on first use, so that a bad MCP_SESSIONS_DB fails the first `chat` call (or task)
 * with a clear error instead of the server's start, and the other tools keep working. A failed open is
 * retried on the next use.
 *
 * @param location A file path or `:memory:`
 * @param open How to open it. @default openServerStores
 * @returns The stores on demand, and a `close` that closes them if they were opened
 */
export function lazyServerStores(
  location: string,
  open: (location: string) => ServerStores = openServerStores,
): { readonly get: () => ServerStores; close(): void } {
  let opened: ServerStores | undefined;
  return { get: () => opened ??= open(location), close: () => opened?.close() };
}
