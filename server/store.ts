/**
 * The server's database: the chat history (lib/sessions.ts) and the MCP tasks (task_store.ts) in one
 * SQLite file (MCP_SESSIONS_DB), opened once with every migration of both, in their one sequence.
 *
 * @module
 */
import { Database, type Migration } from "../lib/database.ts";
import { HISTORY_MIGRATIONS, historyStore, type SessionStore } from "../lib/sessions.ts";
import { TASK_MIGRATIONS, type TaskStore, taskStore } from "./task_store.ts";

/** Every migration of the server's database: the history's, then the tasks'. */
export const SCHEMA: readonly Migration[] = [...HISTORY_MIGRATIONS, ...TASK_MIGRATIONS];

/** The schema version this server writes. */
export const SCHEMA_VERSION: number = SCHEMA.length;

/** The task store of each store this module opened. */
const TASKS = new WeakMap<SessionStore, TaskStore>();

/**
 * Opens (creating if needed) the server's database: the chat history, with the task tables beside it
 * ({@linkcode tasksOf}).
 *
 * @param location A file path or `:memory:`
 * @returns The chat history store (closing it closes the database)
 * @throws {SessionStoreError} With the path, the reason and the fix
 */
export function openServerStore(location: string): SessionStore {
  const db = Database.open(location, SCHEMA);
  const sessions = historyStore(db);
  TASKS.set(sessions, taskStore(db));
  return sessions;
}

/**
 * The tasks kept in the database of a store {@linkcode openServerStore} opened.
 *
 * @param sessions The store
 * @returns Its task store
 */
export function tasksOf(sessions: SessionStore): TaskStore {
  const tasks = TASKS.get(sessions);
  if (!tasks) {
    throw new Error("This chat history store was not opened with the task tables (openServerStore)");
  }
  return tasks;
}
