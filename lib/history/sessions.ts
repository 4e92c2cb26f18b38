/**
 * Chat history: sessions and their turns, in the server's SQLite database (database.ts opens it and runs
 * the migrations; this module brings the history's own and knows its tables).
 *
 * - Sessions and turns in separate tables. A turn (user message + reply) is one row written in one
 *   transaction: a crash never leaves half a turn, and a committed turn survives `kill -9`.
 * - A database written by `mcp-llm-studio` (table `sessions(id, role, content, created_at)`) is imported
 *   on first open; its table is left untouched.
 * - Sends to one session are serialised across processes (session_lock.ts); the Markdown export is in
 *   session_export.ts.
 *
 * @module
 */
import { Database, type Durability, type Migration, type SqlValue } from "./database.ts";
import { SessionStoreError } from "../errors.ts";
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
  /** Closes the database. */
  close(): void;
}

/** Raised by `appendTurn` when another writer got there first. */
export class TurnConflictError extends SessionStoreError {}

/**
 * The history's migrations: versions 1 and 2 of the one sequence every store of the database shares
 * (the server's own follow; see `Migration`).
 */
export const HISTORY_MIGRATIONS: readonly Migration[] = [
  // 1: sessions and turns.
  {
    version: 1,
    up: (db) =>
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
    `),
  },
  // 2: import the history of mcp-llm-studio, if this file is one of its databases.
  { version: 2, up: importReferenceHistory },
];

/**
 * Opens (creating if needed) a database holding chat history only. POSIX: the directory is created 0700
 * and the file 0600. The server opens its database with its own migrations too (server/store.ts).
 *
 * @param location A file path or `:memory:`
 * @returns The open store
 * @throws {SessionStoreError} With the path, the reason and the fix
 */
export function openSessionStore(location: string): SessionStore {
  return historyStore(Database.open(location, HISTORY_MIGRATIONS));
}

/**
 * The chat history of an open database (whose migrations include {@linkcode HISTORY_MIGRATIONS}). The
 * store's `close` closes the database.
 *
 * @param db The database
 * @returns The store
 */
export function historyStore(db: Database): SessionStore {
  return new SqliteSessionStore(db);
}

class SqliteSessionStore implements SessionStore {
  readonly location: string;
  #db: Database;
  #locks: SessionLocks;

  constructor(db: Database) {
    this.#db = db;
    this.location = db.location;
    this.#locks = new SessionLocks(db.location === ":memory:" ? undefined : `${db.location}.locks`);
  }

  durability(): Durability {
    return this.#db.durability();
  }

  get(id: string): SessionSummary | undefined {
    return this.#db.get("SELECT * FROM chat_sessions WHERE id = ?", id) as SessionSummary | undefined;
  }

  recentTurns(id: string, charBudget: number, maxTurns = Number.MAX_SAFE_INTEGER): Turn[] {
    const out: Turn[] = [];
    let used = 0;
    for (
      const row of this.#db.iterate("SELECT * FROM chat_turns WHERE session_id = ? ORDER BY seq DESC", id)
    ) {
      const turn = toTurn(row);
      used += turn.user.length + turn.assistant.length;
      if (used > charBudget || out.length >= maxTurns) break;
      out.push(turn);
    }
    return out.reverse();
  }

  turns(id: string, offset: number, limit: number): Turn[] {
    return this.#db.all(
      "SELECT * FROM chat_turns WHERE session_id = ? ORDER BY seq LIMIT ? OFFSET ?",
      id,
      limit,
      offset,
    )
      .map(toTurn);
  }

  appendTurn(id: string, expectedTurns: number, system: string | null, turn: NewTurn): SessionSummary {
    const now = Date.now();
    const chars = turn.user.length + turn.assistant.length + (turn.reasoning?.length ?? 0);
    return this.#db.write(() => {
      const current = this.get(id);
      if ((current?.turns ?? 0) !== expectedTurns) {
        throw new TurnConflictError(`Session "${id}" changed while this reply was generated`);
      }
      if (!current) {
        this.#db.run(
          "INSERT INTO chat_sessions (id, model, system, turns, chars, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?, ?)",
          id,
          turn.model,
          system,
          system?.length ?? 0,
          now,
          now,
        );
      }
      this.#db.run(
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
      this.#db.run(
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
    return this.#db.all(
      "SELECT * FROM chat_sessions ORDER BY updated_at DESC, id LIMIT ? OFFSET ?",
      limit,
      offset,
    ) as unknown as SessionSummary[];
  }

  count(): number {
    return Number((this.#db.get("SELECT count(*) AS n FROM chat_sessions") as { n: number }).n);
  }

  delete(id: string): boolean {
    return this.#db.write(() =>
      Number(this.#db.run("DELETE FROM chat_sessions WHERE id = ?", id).changes) > 0
    );
  }

  lock(id: string, options: LockOptions): Promise<Release> {
    return this.#locks.acquire(id, options);
  }

  close(): void {
    this.#db.close();
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

/**
 * Imports `mcp-llm-studio`'s history: one row per message, system first, ordered by rowid. Each
 * user row followed by an assistant row becomes a turn; a user row without a reply is skipped.
 */
function importReferenceHistory(db: Database): void {
  const table = db.get("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'sessions'");
  if (!table) return;
  const columns = new Set(db.all("PRAGMA table_info(sessions)").map((c) => String(c.name)));
  if (!["id", "role", "content", "created_at"].every((c) => columns.has(c))) return;
  const rows = db.all("SELECT id, role, content, created_at FROM sessions ORDER BY id, rowid") as {
    id: string;
    role: string;
    content: string;
    created_at: number;
  }[];
  const insertSession = (...values: SqlValue[]) =>
    db.run(
      "INSERT INTO chat_sessions (id, model, system, turns, chars, created_at, updated_at) VALUES (?, NULL, ?, ?, ?, ?, ?)",
      ...values,
    );
  const insertTurn = (...values: SqlValue[]) =>
    db.run(
      "INSERT INTO chat_turns (session_id, seq, user, assistant, reasoning, model, prompt_tokens, " +
        "completion_tokens, created_at) VALUES (?, ?, ?, ?, NULL, NULL, NULL, NULL, ?)",
      ...values,
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
    insertSession(id, system, turns.length, chars, created, updated);
    turns.forEach((turn, i) => insertTurn(id, i + 1, turn.user, turn.assistant, turn.at));
  }
}
