/**
 * Where MCP tasks (server/tasks.ts) keep their state and result: tables `mcp_tasks` and
 * `mcp_task_results` in the server's SQLite database (lib/history/database.ts), beside the chat history. A
 * finished task's result survives a dropped connection and a restart; a running task renews a lease, and
 * one whose lease ran out (its server died) reads as failed. Each task is read by id and owner only (no
 * listing), and the results kept are capped in bytes.
 *
 * @module
 */
import type { Database, Migration } from "../lib/history/database.ts";

/** The state of an MCP task (the tasks extension's statuses). */
export type TaskStatus = "working" | "completed" | "failed" | "cancelled";

/** A stored task without its payloads (what status checks read: never the result's bytes). */
export interface TaskState {
  /** The task id (a random UUID: the handle is the capability). */
  readonly id: string;
  /** The tool that runs. */
  readonly tool: string;
  /** Current status. */
  readonly status: TaskStatus;
  /** What is happening, or why it ended. */
  readonly status_message: string | null;
  /** Epoch ms. */
  readonly created_at: number;
  /** Epoch ms of the last change. */
  readonly updated_at: number;
  /** Until when the server running it is known alive (epoch ms); past it, a working task failed. */
  readonly lease_until: number;
  /** How long the task is kept after it was created, in ms. */
  readonly ttl_ms: number;
  /** 1 once tasks/cancel asked for it (the server running it stops at its next beat). */
  readonly cancel_requested: number;
}

/** One stored task with its payloads. */
export interface TaskRow extends TaskState {
  /** The tool result as JSON (status completed). */
  readonly result: string | null;
  /** The JSON-RPC error as JSON (status failed). */
  readonly error: string | null;
}

/** How a finished task's result is kept. */
export interface ResultBudget {
  /** Most bytes of results (UTF-8 JSON) all tasks keep together; the oldest results go first. */
  readonly maxTotalBytes: number;
  /** The error JSON a task whose result was dropped to make room ends with. */
  readonly dropped: (tool: string) => string;
}

/**
 * The task table: created, renewed, finished, read, pruned. Every read is by id and by owner (who
 * created the task: a token holder, a local stdio user), so a task is visible to its creator only;
 * nothing lists tasks.
 */
export interface TaskStore {
  /** Creates a working task; prunes first: expired tasks, then the oldest past `maxTasks`. */
  create(
    row: { id: string; owner: string; tool: string; leaseMs: number; ttlMs: number; maxTasks: number },
  ): TaskState;
  /** One task with its result or error, or undefined (none, or another owner's). */
  get(id: string, owner: string): TaskRow | undefined;
  /** One task without its result or error, or undefined (none, or another owner's). */
  state(id: string, owner: string): TaskState | undefined;
  /** Renews a working task's lease and sets its message; returns whether a cancel was asked. */
  beat(id: string, message: string, leaseMs: number): boolean;
  /**
   * Ends a working task (no change when it already ended). A completed task's result counts against
   * `budget`: the oldest kept results are dropped (their tasks fail, saying so) until it fits.
   */
  finish(
    id: string,
    status: Exclude<TaskStatus, "working">,
    message: string,
    payload: string | null,
    budget?: ResultBudget,
  ): void;
  /** Asks a working task to stop. False when there is no such task. */
  requestCancel(id: string): boolean;
  /** Bytes of results kept, over every task. */
  resultBytes(): number;
}

/**
 * The task tables' migrations: versions 3 and 4 of the database's one sequence (the chat history's
 * are 1 and 2; lib/history/database.ts).
 */
export const TASK_MIGRATIONS: readonly Migration[] = [
  // 3: MCP tasks (long tool calls the client polls), their state and result; rowid keeps creation order.
  {
    version: 3,
    up: (db) =>
      db.exec(`
      CREATE TABLE mcp_tasks (
        id TEXT PRIMARY KEY,
        tool TEXT NOT NULL,
        status TEXT NOT NULL,
        status_message TEXT,
        result TEXT,
        error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        lease_until INTEGER NOT NULL,
        ttl_ms INTEGER NOT NULL,
        cancel_requested INTEGER NOT NULL DEFAULT 0
      );
    `),
  },
  // 4: each task's owner (only its creator sees it), and results in a table of their own, with their size
  // (results are capped in total; status reads never walk a result's pages). Tasks of earlier versions
  // had no owner, so nobody could see them: they go.
  {
    version: 4,
    up: (db) =>
      db.exec(`
      DELETE FROM mcp_tasks;
      ALTER TABLE mcp_tasks ADD COLUMN owner TEXT NOT NULL DEFAULT '';
      CREATE TABLE mcp_task_results (
        id TEXT PRIMARY KEY REFERENCES mcp_tasks (id) ON DELETE CASCADE,
        bytes INTEGER NOT NULL,
        result TEXT NOT NULL
      );
    `),
  },
];

/** The task columns every read takes, without the payloads. */
const TASK_STATE_COLUMNS =
  "id, tool, status, status_message, created_at, updated_at, lease_until, ttl_ms, cancel_requested";

/**
 * The tasks of an open database (whose migrations include {@linkcode TASK_MIGRATIONS}).
 *
 * @param db The database
 * @returns The store
 */
export function taskStore(db: Database): TaskStore {
  const state = (id: string, owner: string) =>
    db.get(`SELECT ${TASK_STATE_COLUMNS} FROM mcp_tasks WHERE id = ? AND owner = ?`, id, owner) as
      | TaskState
      | undefined;
  const resultBytes = () =>
    Number((db.get("SELECT COALESCE(SUM(bytes), 0) AS n FROM mcp_task_results") as { n: number }).n);

  /** Drops the oldest kept results until `bytes` more fit the budget (inside the caller's transaction). */
  const makeRoom = (id: string, bytes: number, budget: ResultBudget): void => {
    let total = resultBytes();
    // Each pass drops one result; there are at most as many as rows.
    while (total + bytes > budget.maxTotalBytes) {
      const oldest = db.get(
        "SELECT r.id, r.bytes, t.tool FROM mcp_task_results r JOIN mcp_tasks t ON t.id = r.id " +
          "WHERE r.id <> ? ORDER BY t.rowid LIMIT 1",
        id,
      ) as { id: string; tool: string; bytes: number } | undefined;
      if (!oldest) return;
      const error = budget.dropped(oldest.tool);
      db.run("DELETE FROM mcp_task_results WHERE id = ?", oldest.id);
      db.run(
        "UPDATE mcp_tasks SET status = 'failed', status_message = ?, error = ?, updated_at = ? WHERE id = ?",
        (JSON.parse(error) as { message: string }).message,
        error,
        Date.now(),
        oldest.id,
      );
      total -= Number(oldest.bytes);
    }
  };

  return {
    create: ({ id, owner, tool, leaseMs, ttlMs, maxTasks }) => {
      const now = Date.now();
      return db.write(() => {
        db.run("DELETE FROM mcp_tasks WHERE created_at + ttl_ms < ?", now);
        db.run(
          "DELETE FROM mcp_tasks WHERE id IN (SELECT id FROM mcp_tasks ORDER BY rowid DESC LIMIT -1 OFFSET ?)",
          Math.max(0, maxTasks - 1),
        );
        db.run(
          "INSERT INTO mcp_tasks (id, owner, tool, status, status_message, created_at, updated_at, lease_until, " +
            "ttl_ms) VALUES (?, ?, ?, 'working', 'Started', ?, ?, ?, ?)",
          id,
          owner,
          tool,
          now,
          now,
          now + leaseMs,
          ttlMs,
        );
        return state(id, owner)!;
      });
    },
    get: (id, owner) =>
      db.get(
        `SELECT ${TASK_STATE_COLUMNS}, error, (SELECT result FROM mcp_task_results r WHERE r.id = t.id) AS result ` +
          "FROM mcp_tasks t WHERE id = ? AND owner = ?",
        id,
        owner,
      ) as TaskRow | undefined,
    state,
    beat: (id, message, leaseMs) => {
      const now = Date.now();
      db.write(() =>
        db.run(
          "UPDATE mcp_tasks SET status_message = ?, updated_at = ?, lease_until = ? WHERE id = ? AND status = 'working'",
          message,
          now,
          now + leaseMs,
          id,
        )
      );
      const row = db.get("SELECT cancel_requested FROM mcp_tasks WHERE id = ?", id);
      return Number(row?.cancel_requested ?? 0) === 1;
    },
    finish: (id, status, message, payload, budget) => {
      db.write(() => {
        const { changes } = db.run(
          "UPDATE mcp_tasks SET status = ?, status_message = ?, error = ?, updated_at = ? " +
            "WHERE id = ? AND status = 'working'",
          status,
          message,
          status === "failed" ? payload : null,
          Date.now(),
          id,
        );
        if (changes === 0 || status !== "completed" || payload === null) return;
        const bytes = utf8Length(payload);
        if (budget) makeRoom(id, bytes, budget);
        db.run("INSERT INTO mcp_task_results (id, bytes, result) VALUES (?, ?, ?)", id, bytes, payload);
      });
    },
    requestCancel: (id) =>
      db.write(() => db.run("UPDATE mcp_tasks SET cancel_requested = 1 WHERE id = ?", id).changes > 0),
    resultBytes,
  };
}

/** The UTF-8 length of a string, without encoding it. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      bytes += 4; // A surrogate pair: one 4-byte character.
      i++;
    } else bytes += 3;
  }
  return bytes;
}
