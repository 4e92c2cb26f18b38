/**
 * Chat history on SQLite (built-in `node:sqlite`, no native library to fetch). The only module that
 * knows SQL: swap the driver here and nothing else changes.
 *
 * - A version table and ordered migrations, applied in one `BEGIN IMMEDIATE` transaction so that two
 *   servers starting at once migrate once.
 * - WAL, `busy_timeout`, foreign keys. Sessions and turns in separate tables.
 * - A turn (user message + reply) is one row written in one transaction: a crash never leaves half a
 *   turn, and a committed turn survives `kill -9` (WAL is durable at commit with `synchronous=FULL`).
 * - A database written by `mcp-llm-studio` (table `sessions(id, role, content, created_at)`) is imported
 *   on first open; its table is left untouched.
 * - Long tool calls run as MCP tasks keep their state and result in `mcp_tasks` (migrations 3 and 4), so
 *   a finished task's result survives a dropped connection and a restart; a running task renews a lease,
 *   and one whose lease ran out (its server died) reads as failed. Each task is read by id and owner only
 *   (no listing), and the results kept are capped in bytes.
 *
 * Over 350 lines on purpose: the schema, its migrations, the statements and the one transaction helper change
 * together; locks live in session_lock.ts and the Markdown export in session_export.ts.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { dirname } from "node:path";
import { SessionStoreError } from "./errors.ts";
import { type LockOptions, type Release, SessionLocks } from "./session_lock.ts";

/** One session, as listed. */
export interface SessionSummary {
  /** The session id. */
  readonly id: string;
  /** The model of the last turn. */
  readonly model: string | null;
  /** The system prompt, fixed when the session started. */
  readonly system: string | null;
  /** Number of stored turns (user message + reply). */
  readonly turns: number;
  /** Characters stored (messages, replies, reasoning). */
  readonly chars: number;
  /** Epoch ms. */
  readonly created_at: number;
  /** Epoch ms of the last turn. */
  readonly updated_at: number;
}

/** One stored turn. */
export interface Turn {
  /** 1-based position in the session. */
  readonly seq: number;
  /** The user's message. */
  readonly user: string;
  /** The model's reply. */
  readonly assistant: string;
  /** The model's reasoning, if any. */
  readonly reasoning: string | null;
  /** The model that answered. */
  readonly model: string | null;
  /** Prompt tokens LM Studio reported. */
  readonly prompt_tokens: number | null;
  /** Generated tokens LM Studio reported. */
  readonly completion_tokens: number | null;
  /** Epoch ms. */
  readonly created_at: number;
}

/** A turn to append. */
export interface NewTurn {
  /** The user's message. */
  readonly user: string;
  /** The model's reply. */
  readonly assistant: string;
  /** The model's reasoning, if any. */
  readonly reasoning: string | null;
  /** The model that answered. */
  readonly model: string;
  /** Prompt tokens LM Studio reported. */
  readonly prompt_tokens: number | null;
  /** Generated tokens LM Studio reported. */
  readonly completion_tokens: number | null;
}

/** What the chat logic needs from a store. */
export interface SessionStore {
  /** Where the data lives (`:memory:` or a path). */
  readonly location: string;
  /** One session, or undefined. */
  get(id: string): SessionSummary | undefined;
  /** The newest turns whose text fits `charBudget` (at most `maxTurns`), oldest first. */
  recentTurns(id: string, charBudget: number, maxTurns?: number): Turn[];
  /** Turns `offset+1 … offset+limit`, oldest first. */
  turns(id: string, offset: number, limit: number): Turn[];
  /**
   * Appends a turn in one transaction, creating the session (with its system prompt) on the first.
   * Fails with a conflict when the session no longer has `expectedTurns` turns.
   */
  appendTurn(id: string, expectedTurns: number, system: string | null, turn: NewTurn): SessionSummary;
  /** Sessions, most recent first. */
  list(limit: number, offset: number): SessionSummary[];
  /** Number of sessions. */
  count(): number;
  /** Deletes a session and its turns; false when there was none. */
  delete(id: string): boolean;
  /** Serialises sends to one session, across processes. */
  lock(id: string, options: LockOptions): Promise<Release>;
  /** How commits are made durable, read back from SQLite (for `--check` and tests). */
  durability(): Durability;
  /** The MCP tasks kept in the same database. */
  readonly tasks: TaskStore;
  /** Closes the database. */
  close(): void;
}

/** The settings a store's durability rests on, as SQLite reports them. */
export interface Durability {
  /** `PRAGMA journal_mode`: `wal` for a file (`memory` for `:memory:`). */
  readonly journalMode: string;
  /** `PRAGMA synchronous`: 2 is FULL (every commit reaches the disk before it returns). */
  readonly synchronous: number;
  /** `PRAGMA foreign_keys`: 1 when on. */
  readonly foreignKeys: number;
}

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
 * The store's task table: created, renewed, finished, read, pruned. Every read is by id and by owner
 * (who created the task: a token holder, a local stdio user), so a task is visible to its creator only;
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

/** Raised by `appendTurn` when another writer got there first. */
export class TurnConflictError extends SessionStoreError {}

const MIGRATIONS: readonly ((db: DatabaseSync) => void)[] = [
  // 1: sessions and turns.
  (db) => {
    db.exec(`
      CREATE TABLE chat_sessions (
        id TEXT PRIMARY KEY,
        model TEXT,
        system TEXT,
        turns INTEGER NOT NULL DEFAULT 0,
        chars INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX chat_sessions_updated ON chat_sessions (updated_at DESC);
      CREATE TABLE chat_turns (
        session_id TEXT NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        user TEXT NOT NULL,
        assistant TEXT NOT NULL,
        reasoning TEXT,
        model TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (session_id, seq)
      );
    `);
  },
  // 2: import the history of mcp-llm-studio, if this file is one of its databases.
  importReferenceHistory,
  // 3: MCP tasks (long tool calls the client polls), their state and result; rowid keeps creation order.
  (db) => {
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
    `);
  },
  // 4: each task's owner (only its creator sees it), and results in a table of their own, with their size
  // (results are capped in total; status reads never walk a result's pages). Tasks of earlier versions
  // had no owner, so nobody could see them: they go.
  (db) => {
    db.exec(`
      DELETE FROM mcp_tasks;
      ALTER TABLE mcp_tasks ADD COLUMN owner TEXT NOT NULL DEFAULT '';
      CREATE TABLE mcp_task_results (
        id TEXT PRIMARY KEY REFERENCES mcp_tasks (id) ON DELETE CASCADE,
        bytes INTEGER NOT NULL,
        result TEXT NOT NULL
      );
    `);
  },
];

/** The task columns every read takes, without the payloads. */
const TASK_STATE_COLUMNS =
  "id, tool, status, status_message, created_at, updated_at, lease_until, ttl_ms, cancel_requested";

/** The schema version this code writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/**
 * Opens (creating if needed) the store. POSIX: the directory is created 0700 and the file 0600.
 *
 * @param location A file path or `:memory:`
 * @returns The open store
 * @throws {SessionStoreError} With the path, the reason and the fix
 */
export function openSessionStore(location: string): SessionStore {
  return new SqliteSessionStore(location);
}

class SqliteSessionStore implements SessionStore {
  readonly location: string;
  #db: DatabaseSync;
  #locks: SessionLocks;
  #statements = new Map<string, StatementSync>();
  readonly tasks: TaskStore = {
    create: ({ id, owner, tool, leaseMs, ttlMs, maxTasks }) => {
      const now = Date.now();
      return this.#write(() => {
        this.#run("DELETE FROM mcp_tasks WHERE created_at + ttl_ms < ?", now);
        this.#run(
          "DELETE FROM mcp_tasks WHERE id IN (SELECT id FROM mcp_tasks ORDER BY rowid DESC LIMIT -1 OFFSET ?)",
          Math.max(0, maxTasks - 1),
        );
        this.#run(
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
        return this.tasks.state(id, owner)!;
      });
    },
    get: (id, owner) =>
      this.#get(
        `SELECT ${TASK_STATE_COLUMNS}, error, (SELECT result FROM mcp_task_results r WHERE r.id = t.id) AS result ` +
          "FROM mcp_tasks t WHERE id = ? AND owner = ?",
        id,
        owner,
      ) as TaskRow | undefined,
    state: (id, owner) =>
      this.#get(`SELECT ${TASK_STATE_COLUMNS} FROM mcp_tasks WHERE id = ? AND owner = ?`, id, owner) as
        | TaskState
        | undefined,
    beat: (id, message, leaseMs) => {
      const now = Date.now();
      this.#write(() =>
        this.#run(
          "UPDATE mcp_tasks SET status_message = ?, updated_at = ?, lease_until = ? WHERE id = ? AND status = 'working'",
          message,
          now,
          now + leaseMs,
          id,
        )
      );
      const row = this.#get("SELECT cancel_requested FROM mcp_tasks WHERE id = ?", id);
      return Number(row?.cancel_requested ?? 0) === 1;
    },
    finish: (id, status, message, payload, budget) => {
      this.#write(() => {
        const changed = Number(
          this.#run(
            "UPDATE mcp_tasks SET status = ?, status_message = ?, error = ?, updated_at = ? " +
              "WHERE id = ? AND status = 'working'",
            status,
            message,
            status === "failed" ? payload : null,
            Date.now(),
            id,
          ).changes,
        );
        if (changed === 0 || status !== "completed" || payload === null) return;
        const bytes = utf8Length(payload);
        if (budget) this.#makeRoom(id, bytes, budget);
        this.#run("INSERT INTO mcp_task_results (id, bytes, result) VALUES (?, ?, ?)", id, bytes, payload);
      });
    },
    requestCancel: (id) =>
      this.#write(() =>
        Number(this.#run("UPDATE mcp_tasks SET cancel_requested = 1 WHERE id = ?", id).changes) > 0
      ),
    resultBytes: () =>
      Number(
        (this.#get("SELECT COALESCE(SUM(bytes), 0) AS n FROM mcp_task_results") as { n: number }).n,
      ),
  };

  /** Drops the oldest kept results until `bytes` more fit the budget (inside the caller's transaction). */
  #makeRoom(id: string, bytes: number, budget: ResultBudget): void {
    let total = this.tasks.resultBytes();
    // Each pass drops one result; there are at most as many as rows.
    while (total + bytes > budget.maxTotalBytes) {
      const oldest = this.#get(
        "SELECT r.id, r.bytes, t.tool FROM mcp_task_results r JOIN mcp_tasks t ON t.id = r.id " +
          "WHERE r.id <> ? ORDER BY t.rowid LIMIT 1",
        id,
      ) as { id: string; tool: string; bytes: number } | undefined;
      if (!oldest) return;
      const error = budget.dropped(oldest.tool);
      this.#run("DELETE FROM mcp_task_results WHERE id = ?", oldest.id);
      this.#run(
        "UPDATE mcp_tasks SET status = 'failed', status_message = ?, error = ?, updated_at = ? WHERE id = ?",
        (JSON.parse(error) as { message: string }).message,
        error,
        Date.now(),
        oldest.id,
      );
      total -= Number(oldest.bytes);
    }
  }

  constructor(location: string) {
    this.location = location;
    const memory = location === ":memory:";
    try {
      if (!memory) prepareFile(location);
      this.#db = new DatabaseSync(location);
      this.#db.exec("PRAGMA busy_timeout = 10000");
      // Switching a new file to WAL needs an exclusive lock and SQLite does not wait for it (the busy
      // handler is not used): when several servers open one new file at once, retry for a while.
      withBusyRetry(() => {
        if (!memory) this.#db.exec("PRAGMA journal_mode = WAL");
        this.#db.exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
        migrate(this.#db);
      });
    } catch (error) {
      if (error instanceof SessionStoreError) throw error;
      throw openError(location, error);
    }
    this.#locks = new SessionLocks(memory ? undefined : `${location}.locks`);
  }

  durability(): Durability {
    const value = (name: string) => Object.values(this.#db.prepare(`PRAGMA ${name}`).get() ?? {})[0];
    return {
      journalMode: String(value("journal_mode")),
      synchronous: Number(value("synchronous")),
      foreignKeys: Number(value("foreign_keys")),
    };
  }

  get(id: string): SessionSummary | undefined {
    return this.#get("SELECT * FROM chat_sessions WHERE id = ?", id) as SessionSummary | undefined;
  }

  recentTurns(id: string, charBudget: number, maxTurns = Number.MAX_SAFE_INTEGER): Turn[] {
    const out: Turn[] = [];
    let used = 0;
    for (
      const row of this.#statement("SELECT * FROM chat_turns WHERE session_id = ? ORDER BY seq DESC").iterate(
        id,
      )
    ) {
      const turn = toTurn(row);
      used += turn.user.length + turn.assistant.length;
      if (used > charBudget || out.length >= maxTurns) break;
      out.push(turn);
    }
    return out.reverse();
  }

  turns(id: string, offset: number, limit: number): Turn[] {
    return this.#statement("SELECT * FROM chat_turns WHERE session_id = ? ORDER BY seq LIMIT ? OFFSET ?")
      .all(id, limit, offset).map(toTurn);
  }

  appendTurn(id: string, expectedTurns: number, system: string | null, turn: NewTurn): SessionSummary {
    const now = Date.now();
    const chars = turn.user.length + turn.assistant.length + (turn.reasoning?.length ?? 0);
    return this.#write(() => {
      const current = this.get(id);
      if ((current?.turns ?? 0) !== expectedTurns) {
        throw new TurnConflictError(`Session "${id}" changed while this reply was generated`);
      }
      if (!current) {
        this.#run(
          "INSERT INTO chat_sessions (id, model, system, turns, chars, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?, ?)",
          id,
          turn.model,
          system,
          system?.length ?? 0,
          now,
          now,
        );
      }
      this.#run(
        "INSERT INTO chat_turns (session_id, seq, user, assistant, reasoning, model, prompt_tokens, " +
          "completion_tokens, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        id,
        expectedTurns + 1,
        turn.user,
        turn.assistant,
        turn.reasoning,
        turn.model,
        turn.prompt_tokens,
        turn.completion_tokens,
        now,
      );
      this.#run(
        "UPDATE chat_sessions SET turns = turns + 1, chars = chars + ?, model = ?, updated_at = ? WHERE id = ?",
        chars,
        turn.model,
        now,
        id,
      );
      return this.get(id)!;
    });
  }

  list(limit: number, offset: number): SessionSummary[] {
    return this.#statement("SELECT * FROM chat_sessions ORDER BY updated_at DESC, id LIMIT ? OFFSET ?")
      .all(limit, offset) as unknown as SessionSummary[];
  }

  count(): number {
    return Number((this.#get("SELECT count(*) AS n FROM chat_sessions") as { n: number }).n);
  }

  delete(id: string): boolean {
    return this.#write(() => Number(this.#run("DELETE FROM chat_sessions WHERE id = ?", id).changes) > 0);
  }

  lock(id: string, options: LockOptions): Promise<Release> {
    return this.#locks.acquire(id, options);
  }

  close(): void {
    this.#db.close();
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #get(sql: string, ...params: (string | number | null)[]): Record<string, unknown> | undefined {
    return this.#statement(sql).get(...params) as Record<string, unknown> | undefined;
  }

  #run(sql: string, ...params: (string | number | null)[]) {
    return this.#statement(sql).run(...params);
  }

  #write<T>(work: () => T): T {
    try {
      return transaction(this.#db, work);
    } catch (error) {
      if (error instanceof SessionStoreError) throw error;
      throw new SessionStoreError(
        `Could not write chat history to ${this.location}: ${(error as Error).message}. Check that the ` +
          `disk is not full and the file is writable`,
        { cause: error },
      );
    }
  }
}

function transaction<T>(db: DatabaseSync, work: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = work();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

function toTurn(row: Record<string, unknown>): Turn {
  return {
    seq: Number(row.seq),
    user: String(row.user),
    assistant: String(row.assistant),
    reasoning: row.reasoning === null ? null : String(row.reasoning),
    model: row.model === null ? null : String(row.model),
    prompt_tokens: row.prompt_tokens === null ? null : Number(row.prompt_tokens),
    completion_tokens: row.completion_tokens === null ? null : Number(row.completion_tokens),
    created_at: Number(row.created_at),
  };
}

/** Creates the directory (0700) and an empty file (0600) before SQLite opens it. */
function prepareFile(path: string): void {
  const posix = Deno.build.os !== "windows";
  Deno.mkdirSync(dirname(path), { recursive: true, ...(posix ? { mode: 0o700 } : {}) });
  const file = Deno.openSync(path, {
    read: true,
    write: true,
    create: true,
    ...(posix ? { mode: 0o600 } : {}),
  });
  file.close();
}

/** Runs `work`, retrying for up to 10 s while SQLite says the database is locked or busy. */
function withBusyRetry(work: () => void): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let attempt = 0, waited = 0;; attempt++) {
    try {
      work();
      return;
    } catch (error) {
      const busy = /database is locked|SQLITE_BUSY|database table is locked/i.test(String(error));
      if (!busy || waited >= 10_000) throw error;
      const ms = Math.min(200, 5 * 2 ** attempt);
      Atomics.wait(pause, 0, 0, ms); // A short synchronous pause: opening the store is synchronous.
      waited += ms;
    }
  }
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

function migrate(db: DatabaseSync): void {
  db.exec("CREATE TABLE IF NOT EXISTS lmstudio_mcp_schema (version INTEGER NOT NULL)");
  transaction(db, () => {
    const row = db.prepare("SELECT max(version) AS v FROM lmstudio_mcp_schema").get() as { v: number | null };
    const current = Number(row.v ?? 0);
    if (current > SCHEMA_VERSION) {
      throw new SessionStoreError(
        `The chat history database was written by a newer lmstudio-mcp (schema ${current}, this one knows ` +
          `${SCHEMA_VERSION}). Update lmstudio-mcp, or point MCP_SESSIONS_DB at another file`,
      );
    }
    for (let version = current + 1; version <= SCHEMA_VERSION; version++) {
      MIGRATIONS[version - 1]!(db);
      db.prepare("INSERT INTO lmstudio_mcp_schema (version) VALUES (?)").run(version);
    }
  });
}

/**
 * Imports `mcp-llm-studio`'s history: one row per message, system first, ordered by rowid. Each
 * user row followed by an assistant row becomes a turn; a user row without a reply is skipped.
 */
function importReferenceHistory(db: DatabaseSync): void {
  const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'sessions'").get();
  if (!table) return;
  const columns = new Set(
    (db.prepare("PRAGMA table_info(sessions)").all() as { name: string }[]).map((c) => c.name),
  );
  if (!["id", "role", "content", "created_at"].every((c) => columns.has(c))) return;
  const rows = db.prepare("SELECT id, role, content, created_at FROM sessions ORDER BY id, rowid").all() as {
    id: string;
    role: string;
    content: string;
    created_at: number;
  }[];
  const insertSession = db.prepare(
    "INSERT INTO chat_sessions (id, model, system, turns, chars, created_at, updated_at) VALUES (?, NULL, ?, ?, ?, ?, ?)",
  );
  const insertTurn = db.prepare(
    "INSERT INTO chat_turns (session_id, seq, user, assistant, reasoning, model, prompt_tokens, " +
      "completion_tokens, created_at) VALUES (?, ?, ?, ?, NULL, NULL, NULL, NULL, ?)",
  );
  let index = 0;
  while (index < rows.length) {
    const id = rows[index]!.id;
    const group: typeof rows = [];
    while (index < rows.length && rows[index]!.id === id) group.push(rows[index++]!);
    const system = group[0]?.role === "system" ? group[0].content : null;
    const turns: { user: string; assistant: string; at: number }[] = [];
    let pending: string | undefined;
    for (const row of group) {
      if (row.role === "user") pending = row.content;
      else if (row.role === "assistant" && pending !== undefined) {
        turns.push({ user: pending, assistant: row.content, at: Number(row.created_at) });
        pending = undefined;
      }
    }
    const created = Number(group[0]?.created_at ?? Date.now());
    const updated = Number(group.at(-1)?.created_at ?? created);
    const chars = (system?.length ?? 0) + turns.reduce((n, t) => n + t.user.length + t.assistant.length, 0);
    insertSession.run(id, system, turns.length, chars, created, updated);
    turns.forEach((turn, i) => insertTurn.run(id, i + 1, turn.user, turn.assistant, turn.at));
  }
}

/**
 * Checks, without changing anything, that an existing file is an SQLite database this server can open.
 *
 * @param location The database path
 * @throws {SessionStoreError} When it is not a database or cannot be opened
 */
export function checkSessionDatabase(location: string): void {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(location, { readOnly: true });
    db.prepare("PRAGMA schema_version").get(); // Reads the header: a text file fails here.
  } catch (error) {
    throw openError(location, error);
  } finally {
    db?.close();
  }
}

function openError(location: string, error: unknown): SessionStoreError {
  const reason = error instanceof Deno.errors.NotCapable
    ? 'Deno\'s --allow-read/--allow-write do not include it (see the README, "Permissions")'
    : error instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : error instanceof Error
    ? error.message
    : String(error);
  return new SessionStoreError(
    `Cannot open the chat history database ${location}: ${reason}. Set MCP_SESSIONS_DB to a writable file ` +
      `path (or :memory: to keep history only while the server runs). The other tools keep working`,
    { cause: error },
  );
}

/**
 * A store that opens on first use, so that a bad MCP_SESSIONS_DB fails the first `chat` call with a
 * clear error instead of the server's start, and the other tools keep working. A failed open is
 * retried on the next call.
 *
 * @param location A file path or `:memory:`
 * @param open How to open it. @default openSessionStore
 * @returns A function that returns the open store
 */
export function lazySessionStore(
  location: string,
  open: (location: string) => SessionStore = openSessionStore,
): () => SessionStore {
  let store: SessionStore | undefined;
  return () => store ??= open(location);
}
