/**
 * The SQLite database the server keeps its state in (built-in `node:sqlite`, no native library to fetch):
 * opening it (the file 0600 in a 0700 folder, WAL, `synchronous=FULL`, foreign keys, a busy timeout),
 * its migrations and its transactions. What the tables hold is not known here: each store brings its
 * migrations (chat history in sessions.ts; the server adds its own), and whoever opens the database
 * passes all of them.
 *
 * - One version table (`lmstudio_mcp_schema`, a row per applied version) and one ordered sequence of
 *   versions over every store, applied in one `BEGIN IMMEDIATE` transaction, so that two servers starting
 *   at once migrate once. A file whose version is newer than every migration given is refused.
 * - Switching a new file to WAL needs an exclusive lock SQLite does not wait for: opening retries for up
 *   to 10 s while the database is busy.
 * - Writes go through {@linkcode Database.write}: one `BEGIN IMMEDIATE` transaction, rolled back on any
 *   throw; a committed write survives `kill -9` (WAL is durable at commit with `synchronous=FULL`).
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { dirname } from "node:path";
import { SessionStoreError } from "../errors.ts";

/** A value bound to a statement. */
export type SqlValue = string | number | null;

/** One step of the schema. */
export interface Migration {
  /** Its place in the one sequence of versions, from 1 (stores share it: versions never repeat). */
  readonly version: number;
  /** Changes the schema (inside the migration transaction). */
  readonly up: (db: Database) => void;
}

/** The settings a database's durability rests on, as SQLite reports them. */
export interface Durability {
  /** `PRAGMA journal_mode`: `wal` for a file (`memory` for `:memory:`). */
  readonly journalMode: string;
  /** `PRAGMA synchronous`: 2 is FULL (every commit reaches the disk before it returns). */
  readonly synchronous: number;
  /** `PRAGMA foreign_keys`: 1 when on. */
  readonly foreignKeys: number;
}

/** An open database: statements (prepared once and kept), transactions, durability, close. */
export class Database {
  /** Where the data lives (`:memory:` or a path). */
  readonly location: string;
  #db: DatabaseSync;
  #statements = new Map<string, StatementSync>();

  private constructor(location: string, db: DatabaseSync) {
    this.location = location;
    this.#db = db;
  }

  /**
   * Opens (creating if needed) a database and brings its schema up to date. POSIX: the directory is
   * created 0700 and the file 0600.
   *
   * @param location A file path or `:memory:`
   * @param migrations Every migration of every store kept in it (their versions 1…N, each once)
   * @returns The open database
   * @throws {SessionStoreError} With the path, the reason and the fix
   */
  static open(location: string, migrations: readonly Migration[]): Database {
    const ordered = inOrder(migrations);
    const memory = location === ":memory:";
    let opened: Database | undefined;
    try {
      if (!memory) prepareFile(location);
      opened = new Database(location, new DatabaseSync(location));
      const db = opened;
      db.exec("PRAGMA busy_timeout = 10000");
      withBusyRetry(() => {
        if (!memory) db.exec("PRAGMA journal_mode = WAL");
        db.exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
        migrate(db, ordered);
      });
      return db;
    } catch (error) {
      opened?.close();
      if (error instanceof SessionStoreError) throw error;
      throw openError(location, error);
    }
  }

  /** Runs SQL without results (several statements allowed). */
  exec(sql: string): void {
    this.#db.exec(sql);
  }

  /** The first row of a query, or undefined. */
  get(sql: string, ...params: SqlValue[]): Record<string, unknown> | undefined {
    return this.#statement(sql).get(...params) as Record<string, unknown> | undefined;
  }

  /** Every row of a query. */
  all(sql: string, ...params: SqlValue[]): Record<string, unknown>[] {
    return this.#statement(sql).all(...params) as Record<string, unknown>[];
  }

  /** The rows of a query, read one at a time. */
  iterate(sql: string, ...params: SqlValue[]): Iterable<Record<string, unknown>> {
    return this.#statement(sql).iterate(...params) as Iterable<Record<string, unknown>>;
  }

  /** Runs a statement; returns how many rows it changed. */
  run(sql: string, ...params: SqlValue[]): { readonly changes: number } {
    return { changes: Number(this.#statement(sql).run(...params).changes) };
  }

  /**
   * Runs `work` in one `BEGIN IMMEDIATE` transaction: committed when it returns, rolled back when it
   * throws. A failure of SQLite itself (a full disk) becomes a {@linkcode SessionStoreError} saying so.
   *
   * @param work The reads and writes
   * @returns What `work` returned
   */
  write<T>(work: () => T): T {
    try {
      return this.transaction(work);
    } catch (error) {
      if (error instanceof SessionStoreError) throw error;
      throw new SessionStoreError(
        `Could not write chat history to ${this.location}: ${(error as Error).message}. Check that the ` +
          `disk is not full and the file is writable`,
        { cause: error },
      );
    }
  }

  /**
   * Runs `work` in one `BEGIN IMMEDIATE` transaction, as it is (errors pass through unchanged).
   *
   * @param work The reads and writes
   * @returns What `work` returned
   */
  transaction<T>(work: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = work();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw error;
    }
  }

  /** How commits are made durable, read back from SQLite (for `--check` and tests). */
  durability(): Durability {
    const value = (name: string) => Object.values(this.#db.prepare(`PRAGMA ${name}`).get() ?? {})[0];
    return {
      journalMode: String(value("journal_mode")),
      synchronous: Number(value("synchronous")),
      foreignKeys: Number(value("foreign_keys")),
    };
  }

  /** Closes the database. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}

/** The migrations sorted by version, checked to be 1…N with none twice (a mistake in the code). */
function inOrder(migrations: readonly Migration[]): readonly Migration[] {
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  ordered.forEach((migration, i) => {
    if (migration.version !== i + 1) {
      throw new Error(
        `The migrations must be versions 1…${ordered.length}, each once; found ${
          ordered.map((m) => m.version).join(", ")
        }`,
      );
    }
  });
  return ordered;
}

function migrate(db: Database, migrations: readonly Migration[]): void {
  const latest = migrations.length;
  db.exec("CREATE TABLE IF NOT EXISTS lmstudio_mcp_schema (version INTEGER NOT NULL)");
  db.transaction(() => {
    const row = db.get("SELECT max(version) AS v FROM lmstudio_mcp_schema") as { v: number | null };
    const current = Number(row.v ?? 0);
    if (current > latest) {
      throw new SessionStoreError(
        `The chat history database was written by a newer lmstudio-mcp (schema ${current}, this one knows ` +
          `${latest}). Update lmstudio-mcp, or point MCP_SESSIONS_DB at another file`,
      );
    }
    for (const migration of migrations.slice(current)) {
      migration.up(db);
      db.run("INSERT INTO lmstudio_mcp_schema (version) VALUES (?)", migration.version);
    }
  });
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
      Atomics.wait(pause, 0, 0, ms); // A short synchronous pause: opening the database is synchronous.
      waited += ms;
    }
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
