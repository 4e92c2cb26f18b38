/**
 * The chat history store (on the SQLite database of lib/history/database.ts) and its locks, on temp-dir files.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { SessionStoreError } from "../../lib/errors.ts";
import { CancelledError } from "../../lib/errors.ts";
import { writeReferenceDb } from "../support/reference_db.ts";
import { until, within } from "../support/wait.ts";
import { SessionLocks } from "../../lib/history/session_lock.ts";
import { HISTORY_MIGRATIONS, openSessionStore, TurnConflictError } from "../../lib/history/sessions.ts";

/** The history alone (the server adds its own migrations: tests/server/task_store_test.ts). */
const SCHEMA_VERSION = HISTORY_MIGRATIONS.length;

const turn = (user: string, assistant: string) => ({
  user,
  assistant,
  reasoning: null,
  model: "m",
  prompt_tokens: 1,
  completion_tokens: 2,
});

async function tempDb(): Promise<{ dir: string; path: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "lmstudio-mcp-db-" });
  return {
    dir,
    path: `${dir}/nested/sessions.db`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("a new store has the schema, WAL, foreign keys and private permissions", async () => {
  await using tmp = await tempDb();
  const store = openSessionStore(tmp.path);
  // Every commit reaches the disk before it returns (FULL), in WAL, with foreign keys on.
  assert.deepEqual(store.durability(), { journalMode: "wal", synchronous: 2, foreignKeys: 1 });
  store.close();
  const db = new DatabaseSync(tmp.path);
  assert.equal((db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode, "wal");
  const version = db.prepare("SELECT max(version) AS v FROM lmstudio_mcp_schema").get() as { v: number };
  assert.equal(version.v, SCHEMA_VERSION);
  const tables =
    (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[])
      .map((t) => t.name);
  assert.ok(tables.includes("chat_sessions") && tables.includes("chat_turns"));
  db.close();
  if (Deno.build.os !== "windows") {
    assert.equal((await Deno.stat(tmp.path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${tmp.dir}/nested`)).mode! & 0o777, 0o700);
  }
});

Deno.test("turns are appended in order, paged, trimmed by budget and deleted with their session", async () => {
  await using tmp = await tempDb();
  const store = openSessionStore(tmp.path);
  assert.equal(store.get("s"), undefined);
  store.appendTurn("s", 0, "sys", turn("u1", "a1"));
  store.appendTurn("s", 1, "ignored", turn("u2", "a2"));
  const session = store.appendTurn("s", 2, null, turn("u3", "a3"));
  assert.equal(session.turns, 3);
  assert.equal(session.system, "sys", "the system prompt is fixed by the first turn");
  assert.equal(session.chars, 3 + 6 * 2);
  assert.deepEqual(store.turns("s", 1, 10).map((t) => t.user), ["u2", "u3"]);
  assert.deepEqual(store.recentTurns("s", 8).map((t) => t.seq), [2, 3], "newest turns that fit 8 chars");
  assert.deepEqual(store.recentTurns("s", 1000, 1).map((t) => t.seq), [3]);
  assert.throws(() => store.appendTurn("s", 2, null, turn("x", "y")), TurnConflictError);
  assert.equal(store.get("s")?.turns, 3, "a conflict writes nothing");
  store.appendTurn("t", 0, null, turn("u", "a"));
  assert.deepEqual(store.list(10, 0).map((s) => s.id), ["t", "s"]);
  assert.equal(store.count(), 2);
  assert.equal(store.delete("s"), true);
  assert.equal(store.delete("s"), false);
  assert.deepEqual(store.turns("s", 0, 10), [], "turns go with their session");
  store.close();
  const reopened = openSessionStore(tmp.path);
  assert.equal(reopened.get("t")?.turns, 1);
  reopened.close();
});

Deno.test("a database in mcp-llm-studio's layout is imported once and left untouched", async () => {
  await using tmp = await tempDb();
  await writeReferenceDb(tmp.path, [
    ["plan", "system", "You are terse", 1000],
    ["plan", "user", "hi", 1001],
    ["plan", "assistant", "hello", 1002],
    ["other", "user", "q1", 2000],
    ["other", "assistant", "r1", 2001],
    ["plan", "user", "again", 1003],
    ["plan", "assistant", "sure", 1004],
    ["other", "user", "never answered", 2002],
  ]);
  const store = openSessionStore(tmp.path);
  assert.equal(store.get("plan")?.system, "You are terse");
  assert.deepEqual(store.turns("plan", 0, 10).map((t) => [t.user, t.assistant]), [["hi", "hello"], [
    "again",
    "sure",
  ]]);
  assert.equal(store.get("plan")?.updated_at, 1004);
  assert.deepEqual(
    store.turns("other", 0, 10).map((t) => t.user),
    ["q1"],
    "an unanswered message is skipped",
  );
  store.appendTurn("plan", 2, null, turn("third", "ok"));
  store.close();
  const again = openSessionStore(tmp.path);
  assert.equal(again.get("plan")?.turns, 3, "not imported twice");
  again.close();
  const check = new DatabaseSync(tmp.path);
  assert.equal((check.prepare("SELECT count(*) AS n FROM sessions").get() as { n: number }).n, 8);
  check.close();
});

Deno.test("a database from a newer version and an unusable path are clear errors", async () => {
  await using tmp = await tempDb();
  openSessionStore(tmp.path).close();
  const db = new DatabaseSync(tmp.path);
  db.exec(`INSERT INTO lmstudio_mcp_schema (version) VALUES (${SCHEMA_VERSION + 5})`);
  db.close();
  assert.throws(() => openSessionStore(tmp.path), /newer lmstudio-mcp[\s\S]*MCP_SESSIONS_DB/);
  await Deno.writeTextFile(`${tmp.dir}/file`, "x");
  assert.throws(
    () => openSessionStore(`${tmp.dir}/file/sessions.db`),
    (error: unknown) =>
      error instanceof SessionStoreError &&
      /Cannot open the chat history database .*file\/sessions\.db/.test(error.message) &&
      /MCP_SESSIONS_DB/.test(error.message),
  );
});

Deno.test("session locks serialise one session, leave others free, and can be cancelled", async () => {
  await using tmp = await tempDb();
  for (const dir of [undefined, `${tmp.dir}/locks`]) {
    const locks = new SessionLocks(dir);
    const first = await locks.acquire("a", { timeoutMs: 5000 });
    const other = await locks.acquire("b", { timeoutMs: 5000 });
    other();
    let waited = 0;
    let secondHeld = false;
    const second = locks.acquire("a", { timeoutMs: 5000, onWait: () => waited++ }).then((release) => {
      secondHeld = true;
      return release;
    });
    await until(() => waited === 1, "the second acquire to find the lock busy");
    assert.equal(secondHeld, false, "the second send waits");
    assert.equal(waited, 1);
    first();
    (await second)();
    const held = await locks.acquire("a", { timeoutMs: 5000 });
    const controller = new AbortController();
    const cancelled = locks.acquire("a", { timeoutMs: 5000, signal: controller.signal });
    controller.abort();
    await assert.rejects(cancelled, CancelledError);
    await assert.rejects(locks.acquire("a", { timeoutMs: 60 }), /is busy/);
    held();
    (await locks.acquire("a", { timeoutMs: 1000 }))();
  }
});

Deno.test("session lock files are removed on release, and exclusion holds across holders after a removal", async () => {
  await using tmp = await tempDb();
  const dir = `${tmp.dir}/locks`;
  const a = new SessionLocks(dir);
  for (let i = 0; i < 200; i++) (await a.acquire(`session ${i}`, { timeoutMs: 5000 }))();
  assert.deepEqual([...Deno.readDirSync(dir)], [], "no lock file outlives its holder");
  // Three holders, as three processes would be (each opens its own file descriptor).
  const b = new SessionLocks(dir);
  const c = new SessionLocks(dir);
  const order: string[] = [];
  const waiting = (locks: SessionLocks) => {
    let onWait!: () => void;
    const waits = new Promise<void>((resolve) => (onWait = resolve));
    const got = locks.acquire("x", { timeoutMs: 5000, onWait });
    return { waits, got };
  };
  const releaseA = await a.acquire("x", { timeoutMs: 5000 });
  const forB = waiting(b);
  await within(forB.waits, "b to find the session locked"); // b has opened the file.
  releaseA(); // Removes the file b has open; b must notice and lock a fresh one.
  const releaseB = await forB.got.then((release) => (order.push("b"), release));
  let cHolds = false;
  const forC = waiting(c);
  const gotC = forC.got.then((release) => (cHolds = true, order.push("c"), release));
  await within(forC.waits, "c to find the session locked");
  assert.equal(cHolds, false, "c waits while b holds the session");
  releaseB();
  (await gotC)();
  assert.deepEqual(order, ["b", "c"]);
  assert.deepEqual([...Deno.readDirSync(dir)], []);
});

Deno.test("a turn is all or nothing: when its insert fails, the new session and its counters are rolled back", async () => {
  await using db = await tempDb();
  const store = openSessionStore(db.path);
  try {
    store.appendTurn("kept", 0, null, turn("a", "b"));
    // Another connection makes every later insert of a turn fail, as a full disk or a constraint would.
    const raw = new DatabaseSync(db.path);
    raw.exec(
      "CREATE TRIGGER fail_turns BEFORE INSERT ON chat_turns BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
    );
    raw.close();
    assert.throws(() => store.appendTurn("new", 0, "sys", turn("c", "d")), /injected failure/);
    assert.throws(() => store.appendTurn("kept", 1, null, turn("e", "f")), /injected failure/);
    assert.equal(store.get("new"), undefined, "the session of a failed first turn was left behind");
    assert.equal(store.get("kept")?.turns, 1, "a failed turn was counted");
    assert.equal(store.count(), 1);
  } finally {
    store.close();
  }
});
