/**
 * Tasks (the io.modelcontextprotocol/tasks extension) as a 2026-07-28 client sees them over HTTP, in
 * process: an API key inside an error is redacted on the tasks path too (in `tasks/get` and in every byte
 * SQLite stored); a task whose lease runs late while this process still runs it is not marked failed and
 * keeps its result; `tasks/cancel` stops the local work at once, not at the next heartbeat; at shutdown
 * the work is cancelled before the calls in flight are answered.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { openServerStores } from "../../server/store.ts";
import { modernRequest, serveConfigured } from "../support/serve_config.ts";
import { tempDir } from "../support/temp.ts";
import { openSession, post, replyOf, toolCall } from "../support/http_served.ts";
import { until } from "../support/wait.ts";

const QWEN = "qwen/qwen3-8b";
const KEY = "sk-lm-TASKSECRET0123456789abcdef";
/** A delay the simulator holds until the test lets it go. */
const HELD_MS = 987_654;
// `ask` asking for this many tokens is worth a task. Long enough to run as a task (max_tokens ≥ 4,096), small enough that another call fits beside it in the
// model's 8,192-token KV cache (the ledger admits a request only when its prompt and max_tokens fit).
const LONG = { model: QWEN, prompt: "essay", max_tokens: 4096 };

type Task = { taskId: string; status: string; statusMessage?: string; result?: Record<string, unknown> };

async function startTask(url: string, args: Record<string, unknown>): Promise<string> {
  const reply = await modernRequest(url, "tools/call", { name: "ask", arguments: args });
  assert.equal(reply.result?.resultType, "task", JSON.stringify(reply));
  return String(reply.result?.taskId);
}

async function getTask(url: string, taskId: string): Promise<Task> {
  const reply = await modernRequest(url, "tasks/get", { taskId });
  assert.equal(reply.error, undefined, JSON.stringify(reply.error));
  return reply.result as unknown as Task;
}

async function settle(url: string, taskId: string): Promise<Task> {
  let task: Task | undefined;
  await until(async () => (task = await getTask(url, taskId)).status !== "working", `task ${taskId} to end`);
  return task!;
}

/** Every byte of a SQLite database (its WAL and journal too), as Latin-1 text. */
async function databaseBytes(db: string): Promise<string> {
  let text = "";
  for (const file of [db, `${db}-wal`, `${db}-journal`]) {
    const bytes = await Deno.readFile(file).catch(() => new Uint8Array());
    text += new TextDecoder("latin1").decode(bytes);
  }
  return text;
}

Deno.test("tasks: an API key inside an error is redacted in tasks/get and in everything SQLite stored", async () => {
  await using tmp = await tempDir("task-secret");
  const db = join(tmp.path, "history.db");
  await using sim = LmStudioSim.start({ apiKey: KEY });
  sim.fault("POST /api/v1/chat", { status: 500, body: { error: `upstream rejected Bearer ${KEY}` } });
  await using served = serveConfigured({
    LM_STUDIO_URL: sim.url,
    LM_STUDIO_API_KEY: KEY,
    MCP_SESSIONS_DB: db,
  });
  const taskId = await startTask(served.handle.url, LONG);
  const task = await settle(served.handle.url, taskId);
  const seen = JSON.stringify(task);
  assert.equal(task.status, "completed", seen);
  assert.equal(task.result?.isError, true, seen);
  assert.match(seen, /upstream rejected Bearer \[redacted\]/, "the error reached the task, key hidden");
  assert.ok(!seen.includes(KEY), `tasks/get shows the key: ${seen}`);
  assert.ok(sim.requestsTo("POST /api/v1/chat").length > 0, "the call reached LM Studio");
  const stored = await databaseBytes(db);
  assert.ok(stored.includes(taskId), "the task is in the database read");
  assert.ok(!stored.includes(KEY), "SQLite holds the API key");
  for (const line of served.log) assert.ok(!line.includes(KEY), line);
});

Deno.test("tasks: a lease that runs late while this process still runs the task does not fail it", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, answer: "kept answer" };
  // The answer is held back (a delay that ends when the test lets it) while the test looks at the task.
  const held = Promise.withResolvers<void>();
  const wait = sim.wait.bind(sim);
  sim.wait = (ms, signal) => ms === HELD_MS ? held.promise : wait(ms, signal);
  sim.fault("POST /api/v1/chat", { delayMs: HELD_MS, times: 1 });
  await using served = serveConfigured({ LM_STUDIO_URL: sim.url, LM_STUDIO_HEARTBEAT_MS: "60000" });
  const url = served.handle.url;
  const taskId = await startTask(url, LONG);
  await until(() => sim.requestsTo("POST /api/v1/chat").length === 1, "the request to reach LM Studio");
  // An hour later (a laptop that slept, a loop held): the lease has long run out, but the work runs here.
  const realNow = Date.now;
  Date.now = () => realNow() + 3_600_000;
  let late: Task;
  try {
    late = await getTask(url, taskId);
  } finally {
    Date.now = realNow;
  }
  assert.equal(late.status, "working", JSON.stringify(late));
  held.resolve();
  const done = await settle(url, taskId);
  assert.equal(done.status, "completed", JSON.stringify(done));
  assert.match(JSON.stringify(done.result), /kept answer/, "the result is kept");
});

Deno.test("tasks: tasks/cancel stops the local work at once, not at the next heartbeat", async () => {
  await using sim = LmStudioSim.start();
  sim.fault("POST /api/v1/chat", { hang: true });
  // A heartbeat of a minute: a task that only noticed the cancel at its next beat would run on that long.
  await using served = serveConfigured({ LM_STUDIO_URL: sim.url, LM_STUDIO_HEARTBEAT_MS: "60000" });
  const url = served.handle.url;
  const taskId = await startTask(url, LONG);
  await until(() => sim.requestsTo("POST /api/v1/chat").length === 1, "the request to reach LM Studio");
  const request = sim.requestsTo("POST /api/v1/chat")[0]!;
  // Its progress settled (the tool's own message recorded, nothing more until LM Studio answers): from
  // here only a heartbeat would make the task look at the store again.
  await until(
    async () => !/^Running ask$/.test((await getTask(url, taskId)).statusMessage ?? "Running ask"),
    "the tool's own progress to be recorded",
  );
  const ack = await modernRequest(url, "tasks/cancel", { taskId });
  assert.equal(ack.error, undefined, JSON.stringify(ack));
  await until(() => request.abortedAt !== undefined, "LM Studio's request to be aborted", 5_000);
  const task = await settle(url, taskId);
  assert.equal(task.status, "cancelled");
  assert.equal(task.result, undefined, "a cancelled task has no result");
});

Deno.test("tasks: at shutdown the work is cancelled first: the task reads as stopped once shutdown ends", async () => {
  await using tmp = await tempDir("task-shutdown");
  const db = join(tmp.path, "history.db");
  await using sim = LmStudioSim.start();
  sim.fault("POST /api/v1/chat", { hang: true });
  const served = serveConfigured({
    LM_STUDIO_URL: sim.url,
    LM_STUDIO_HEARTBEAT_MS: "60000",
    MCP_SESSIONS_DB: db,
  });
  let taskId = "";
  try {
    const url = served.handle.url;
    // A task (2026-07-28), and a plain call in a 2025 session, both waiting on LM Studio.
    taskId = await startTask(url, LONG);
    const session = await openSession(url);
    const response = await post(url, session, toolCall(1, "ask", { model: QWEN, prompt: "hi" }));
    const answered = replyOf(response, 1);
    await until(() => sim.requestsTo("POST /api/v1/chat").length === 2, "both requests to reach LM Studio");
    await served.handle.shutdown();
    assert.match(JSON.stringify(await answered), /Server shutting down/);
  } finally {
    await served[Symbol.asyncDispose]();
  }
  // By the time shutdown has ended, the task's work was stopped and recorded as such.
  const store = openServerStores(db);
  try {
    // No token: the HTTP server owns its tasks as "http-open" (transports/http.ts).
    const row = store.tasks.get(taskId, "http-open");
    assert.equal(row?.status, "failed", JSON.stringify(row));
    assert.match(row?.status_message ?? "", /stopped before the task finished \(it was shut down/);
  } finally {
    store.close();
  }
  await until(
    () => sim.requestsTo("POST /api/v1/chat").every((r) => r.abortedAt !== undefined),
    "LM Studio's requests to be aborted",
  );
});
