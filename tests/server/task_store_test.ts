/**
 * The MCP task store (server/task_store.ts) in the server's database (server/store.ts), and the on-disk
 * format that database keeps: the chat history's migrations 1 and 2, the tasks' 3 and 4, one version table.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Database } from "../../lib/history/database.ts";
import { HISTORY_MIGRATIONS, openSessionStore } from "../../lib/history/sessions.ts";
import { lazyServerStores, openServerStores, SCHEMA_VERSION } from "../../server/store.ts";
import { TASK_MIGRATIONS } from "../../server/task_store.ts";

async function tempDb(): Promise<{ dir: string; path: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "lmstudio-mcp-db-" });
  return {
    dir,
    path: `${dir}/nested/sessions.db`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

const turn = {
  user: "u",
  assistant: "a",
  reasoning: null,
  model: "m",
  prompt_tokens: 1,
  completion_tokens: 2,
};

/** The schema of a database written before the stores were split (the version 4 layout, verbatim). */
const VERSION_4_LAYOUT = `
  CREATE TABLE lmstudio_mcp_schema (version INTEGER NOT NULL);
  INSERT INTO lmstudio_mcp_schema (version) VALUES (1), (2), (3), (4);
  CREATE TABLE chat_sessions (id TEXT PRIMARY KEY, model TEXT, system TEXT, turns INTEGER NOT NULL DEFAULT 0,
    chars INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;
  CREATE INDEX chat_sessions_updated ON chat_sessions (updated_at DESC);
  CREATE TABLE chat_turns (session_id TEXT NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, user TEXT NOT NULL, assistant TEXT NOT NULL, reasoning TEXT, model TEXT,
    prompt_tokens INTEGER, completion_tokens INTEGER, created_at INTEGER NOT NULL, PRIMARY KEY (session_id, seq));
  CREATE TABLE mcp_tasks (id TEXT PRIMARY KEY, tool TEXT NOT NULL, status TEXT NOT NULL, status_message TEXT,
    result TEXT, error TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    lease_until INTEGER NOT NULL, ttl_ms INTEGER NOT NULL, cancel_requested INTEGER NOT NULL DEFAULT 0,
    owner TEXT NOT NULL DEFAULT '');
  CREATE TABLE mcp_task_results (id TEXT PRIMARY KEY REFERENCES mcp_tasks (id) ON DELETE CASCADE,
    bytes INTEGER NOT NULL, result TEXT NOT NULL);
  INSERT INTO chat_sessions VALUES ('old', 'm', NULL, 1, 2, 1000, 1000);
  INSERT INTO chat_turns VALUES ('old', 1, 'q', 'r', NULL, 'm', NULL, NULL, 1000);
  INSERT INTO mcp_tasks (id, tool, status, status_message, created_at, updated_at, lease_until, ttl_ms, owner)
    VALUES ('t1', 'ask', 'completed', 'Finished', ${Date.now()}, ${Date.now()}, 0, 86400000, 'me');
  INSERT INTO mcp_task_results VALUES ('t1', 14, '{"content":[]}');
`;

Deno.test("server database: history 1–2 and tasks 3–4 in one sequence; a version-4 file opens as it is", async () => {
  assert.deepEqual(HISTORY_MIGRATIONS.map((m) => m.version), [1, 2]);
  assert.deepEqual(TASK_MIGRATIONS.map((m) => m.version), [3, 4]);
  assert.equal(SCHEMA_VERSION, 4, "the on-disk version this server writes");
  await using tmp = await tempDb();
  await Deno.mkdir(`${tmp.dir}/nested`);
  const raw = new DatabaseSync(tmp.path);
  raw.exec(VERSION_4_LAYOUT);
  raw.close();
  const { sessions: store, tasks, close } = openServerStores(tmp.path);
  try {
    assert.equal(store.get("old")?.turns, 1, "the history is read");
    assert.equal(tasks.get("t1", "me")?.result, '{"content":[]}', "the task is read");
    store.appendTurn("old", 1, null, turn);
    assert.equal(store.get("old")?.turns, 2);
  } finally {
    close();
  }
  const check = new DatabaseSync(tmp.path);
  const versions = check.prepare("SELECT version FROM lmstudio_mcp_schema ORDER BY version").all();
  assert.deepEqual(versions.map((v) => Number(v.version)), [1, 2, 3, 4], "no migration ran again");
  check.close();
});

Deno.test("server database: a history-only file gains the task tables; versions 1…N each once or nothing opens", async () => {
  await using tmp = await tempDb();
  const history = openSessionStore(tmp.path);
  history.appendTurn("s", 0, null, turn);
  history.close();
  const stores = openServerStores(tmp.path);
  try {
    assert.equal(stores.sessions.get("s")?.turns, 1);
    stores.tasks.create({ id: "t", owner: "me", tool: "ask", leaseMs: 1_000, ttlMs: 60_000, maxTasks: 5 });
    assert.equal(stores.tasks.state("t", "me")?.status, "working");
  } finally {
    stores.close();
  }
  assert.throws(() => openSessionStore(tmp.path), /newer lmstudio-mcp/, "the history alone knows only 1–2");
  assert.throws(
    () => Database.open(":memory:", [HISTORY_MIGRATIONS[0]!, TASK_MIGRATIONS[0]!]),
    /1…2, each once/,
  );
  assert.throws(
    () => Database.open(":memory:", [...HISTORY_MIGRATIONS, HISTORY_MIGRATIONS[1]!]),
    /each once/,
  );
  let opens = 0;
  const lazy = lazyServerStores(":memory:", (location) => {
    opens++;
    if (opens === 1) throw new Error("cannot open");
    return openServerStores(location);
  });
  assert.equal(opens, 0, "nothing is opened until first use");
  assert.throws(() => lazy.get(), /cannot open/);
  lazy.get().sessions.appendTurn("m", 0, null, turn);
  assert.equal(lazy.get().sessions.get("m")?.turns, 1, "a failed open is retried, then kept");
  assert.equal(opens, 2);
  lazy.close();
});

Deno.test("tasks: kept in the same file (migrations 3, 4), bounded by count and by age, a finished one stays put", async () => {
  await using tmp = await tempDb();
  const store = openServerStores(tmp.path);
  const make = (id: string, ttlMs = 60_000) =>
    store.tasks.create({ id, owner: "me", tool: "ask", leaseMs: 1_000, ttlMs, maxTasks: 3 });
  make("expired", -1); // Created already past its age: the next create prunes it.
  for (const id of ["a", "b", "c"]) make(id);
  assert.equal(store.tasks.get("expired", "me"), undefined, "tasks past their TTL are dropped");
  make("d");
  assert.deepEqual(
    ["a", "b", "c", "d"].filter((id) => store.tasks.state(id, "me") !== undefined),
    ["b", "c", "d"],
    "at most maxTasks, oldest out",
  );
  store.tasks.finish("d", "completed", "Finished", '{"content":[]}');
  store.tasks.finish("d", "failed", "late", "{}");
  assert.equal(store.tasks.get("d", "me")?.status, "completed", "an ended task does not change");
  assert.equal(store.tasks.beat("c", "half way", 1_000), false);
  assert.equal(store.tasks.requestCancel("c"), true);
  assert.equal(
    store.tasks.beat("c", "three quarters", 1_000),
    true,
    "the runner sees the cancel at its beat",
  );
  assert.equal(store.tasks.requestCancel("nope"), false);
  store.close();
  // The result survives a reopen.
  const again = openServerStores(tmp.path);
  assert.equal(again.tasks.get("d", "me")?.result, '{"content":[]}');
  again.close();
});

Deno.test("tasks: only their owner sees them; status reads carry no result; results are capped in total", () => {
  const store = openServerStores(":memory:");
  try {
    const make = (id: string, owner: string) =>
      store.tasks.create({ id, owner, tool: "ask", leaseMs: 1_000, ttlMs: 60_000, maxTasks: 100 });
    make("mine", "alice");
    assert.equal(store.tasks.get("mine", "bob"), undefined, "another owner does not see it");
    assert.equal(store.tasks.state("mine", "bob"), undefined);
    assert.equal(store.tasks.state("mine", "alice")?.status, "working");
    const budget = {
      maxTotalBytes: 1_000,
      dropped: (tool: string) => JSON.stringify({ code: -32603, message: `dropped ${tool}` }),
    };
    const payload = (n: number) => JSON.stringify({ content: [{ type: "text", text: "x".repeat(n) }] });
    for (const id of ["r1", "r2", "r3"]) {
      make(id, "alice");
      store.tasks.finish(id, "completed", "Finished", payload(400), budget);
    }
    // Three results of ~440 bytes do not fit 1,000 bytes: the oldest went, saying why.
    assert.ok(store.tasks.resultBytes() <= 1_000, String(store.tasks.resultBytes()));
    const first = store.tasks.get("r1", "alice")!;
    assert.equal(first.status, "failed");
    assert.equal(first.result, null);
    assert.match(first.error ?? "", /dropped ask/);
    assert.equal(store.tasks.get("r3", "alice")?.status, "completed");
    assert.equal(store.tasks.get("r3", "alice")?.result, payload(400));
    const state = store.tasks.state("r3", "alice")!;
    assert.equal("result" in state, false, "a status read does not carry the result");
    // Multi-byte text is counted in UTF-8 bytes.
    make("wide", "alice");
    store.tasks.finish("wide", "completed", "Finished", JSON.stringify("é".repeat(300)), budget);
    assert.equal(store.tasks.resultBytes() >= 602, true);
    assert.ok(store.tasks.resultBytes() <= 1_000);
  } finally {
    store.close();
  }
});
