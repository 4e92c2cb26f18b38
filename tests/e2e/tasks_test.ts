/**
 * Long calls as MCP tasks (the io.modelcontextprotocol/tasks extension, 2026-07-28) against the real
 * process and the simulator: a download, a 16-item fan-out and a long ask answer at once with a task whose
 * `tasks/get` shows progress and then the result the plain call gives (every reply checked against
 * ext-tasks' wire schemas); `tasks/cancel` stops a task and its LM Studio request; after `kill -9` the
 * finished tasks' results are read from the store by a new process, and a task that was running reads as
 * failed; a client without the extension gets the plain call and -32021 for tasks/*; a 2025 client gets
 * the plain call even when it declares the extension (as MCP Inspector 2.12 does); a task is visible to
 * its creator only.
 */
import assert from "node:assert/strict";
import {
  CallToolResultV2Schema,
  CancelTaskResultV2Schema,
  CreateTaskResultV2Schema,
  GetTaskResultV2Schema,
} from "@modelcontextprotocol/ext-tasks/core/v2";
import { join } from "node:path";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { spawnHttp } from "../support/eras.ts";
import { envelope, type RawServer, type Reply, spawnRawServer } from "../support/raw_stdio.ts";
import { tempDir } from "../support/temp.ts";
import { until } from "../support/wait.ts";

const QWEN = "qwen/qwen3-8b";
const TASKS = { extensions: { "io.modelcontextprotocol/tasks": {} } };
const FAST = { LM_STUDIO_HEARTBEAT_MS: "100", LM_STUDIO_DOWNLOAD_POLL_INTERVAL_MS: "100" };
const ignore = Deno.build.os === "windows";

type Task = { taskId: string; status: string; statusMessage?: string; result?: Record<string, unknown> };

const text = (result: Record<string, unknown> | undefined) =>
  ((result?.content as { text?: string }[] | undefined)?.[0]?.text) ?? "";

async function call(server: RawServer, name: string, args: Record<string, unknown>): Promise<Reply> {
  return await server.request("tools/call", { name, arguments: args });
}

/** Asserts a reply's result fits one of ext-tasks' wire schemas (the 2026-07-28 tasks extension). */
function wire(schema: { safeParse(value: unknown): { success: boolean; error?: unknown } }, result: unknown) {
  const parsed = schema.safeParse(result);
  assert.ok(parsed.success, `${JSON.stringify(result).slice(0, 500)}: ${String(parsed.error)}`);
}

/** Polls tasks/get until the task is no longer working; returns every state seen. */
async function settle(server: RawServer, taskId: string): Promise<Task[]> {
  const seen: Task[] = [];
  await until(
    async () => {
      const reply = await server.request("tasks/get", { taskId });
      assert.equal(reply.error, undefined, JSON.stringify(reply.error));
      wire(GetTaskResultV2Schema, reply.result);
      const task = reply.result as unknown as Task;
      if (task.status === "completed") wire(CallToolResultV2Schema, task.result);
      seen.push(task);
      return seen.at(-1)!.status !== "working";
    },
    `task ${taskId} to finish`,
    30_000,
  );
  return seen;
}

Deno.test("tasks (2026-07-28): a download, a 16-item fan-out and a long ask run as tasks", {
  ignore,
}, async () => {
  await using sim = LmStudioSim.start({
    catalog: { "ibm/granite-4-micro": 2_000_000_000 },
    downloadSteps: 6,
  });
  sim.chatScript = { reasoning: null, tokenDelayMs: 5, answer: "one two three" };
  await using server = await spawnRawServer(
    { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:", ...FAST },
    "2026-07-28",
    TASKS,
  );
  const download = await call(server, "model_download", { model: "ibm/granite-4-micro" });
  assert.equal(download.result?.resultType, "task", JSON.stringify(download));
  wire(CreateTaskResultV2Schema, download.result);
  const downloadStates = await settle(server, String(download.result?.taskId));
  assert.ok(
    downloadStates.some((t) => t.status === "working" && /downloading/.test(t.statusMessage ?? "")),
    "tasks/get reports progress: " + JSON.stringify(downloadStates.map((t) => t.statusMessage)),
  );
  assert.equal(downloadStates.at(-1)!.status, "completed");
  assert.match(text(downloadStates.at(-1)!.result), /^Downloaded ibm\/granite-4-micro/);
  assert.equal(downloadStates.at(-1)!.result?.resultType, "complete", "the result inside says complete");

  const prompts = Array.from({ length: 16 }, (_, i) => `item ${i}`);
  const fanOut = await call(server, "ask", { model: QWEN, prompt: "Answer:", prompts });
  assert.equal(fanOut.result?.resultType, "task");
  const done = (await settle(server, String(fanOut.result?.taskId))).at(-1)!;
  assert.equal(done.status, "completed");
  const items = (done.result?.structuredContent as { items: unknown[] }).items;
  assert.equal(items.length, 16);

  const long = await call(server, "ask", { model: QWEN, prompt: "essay", max_tokens: 8192 });
  assert.equal(long.result?.resultType, "task");
  const answer = (await settle(server, String(long.result?.taskId))).at(-1)!;
  assert.equal(text(answer.result), "one two three", "the result the plain call gives");

  // The 2026-07-28 extension has neither tasks/result nor tasks/list (tasks/get carries the result, and
  // nothing lists tasks).
  for (const method of ["tasks/result", "tasks/list"]) {
    assert.equal(
      (await server.request(method, { taskId: long.result?.taskId })).error?.code,
      -32601,
      method,
    );
  }
  // Loading a large model (5 GB) is worth one too.
  const load = await call(server, "model_load", { model: QWEN });
  assert.equal(load.result?.resultType, "task");
  assert.equal((await settle(server, String(load.result?.taskId))).at(-1)!.status, "completed");
  // Tools say nothing of task support on 2026-07-28 (the revision deleted `execution`; the extension decides).
  const tools = (await server.request("tools/list")).result?.tools as Record<string, unknown>[];
  assert.ok(tools.every((t) => !("execution" in t)), JSON.stringify(tools[0]));
  // A short call is not worth a task, even for a client that takes them.
  const short = await call(server, "ask", { model: QWEN, prompt: "hi" });
  assert.equal(short.result?.resultType === "task", false);
  assert.equal(text(short.result), "one two three");
});

Deno.test(
  "tasks (2025-11-25): a client declaring the extension in initialize (as MCP Inspector 2.12 does) gets " +
    "plain calls and no tasks/* method",
  { ignore },
  async () => {
    await using sim = LmStudioSim.start({
      catalog: { "ibm/granite-4-micro": 2_000_000_000 },
      downloadSteps: 3,
    });
    sim.chatScript = { reasoning: null, tokenDelayMs: 1, answer: "one two three" };
    await using server = await spawnRawServer(
      { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:", ...FAST },
      "2025-11-25",
      TASKS,
    );
    const download = await call(server, "model_download", { model: "ibm/granite-4-micro" });
    assert.equal(download.result?.resultType, undefined, JSON.stringify(download));
    assert.equal(download.result?.taskId, undefined);
    assert.match(text(download.result), /^Downloaded ibm\/granite-4-micro/);
    assert.ok(download.result?.structuredContent, "the output schema's structured content is there");
    const long = await call(server, "ask", { model: QWEN, prompt: "essay", max_tokens: 8192 });
    assert.equal(text(long.result), "one two three");
    for (const method of ["tasks/get", "tasks/update", "tasks/cancel", "tasks/result", "tasks/list"]) {
      assert.equal((await server.request(method, { taskId: "x" })).error?.code, -32601, method);
    }
    // The tools say so: no task execution on this revision.
    const tools = (await server.request("tools/list")).result?.tools as { execution?: unknown }[];
    assert.ok(tools.every((t) => JSON.stringify(t.execution) === '{"taskSupport":"forbidden"}'));
  },
);

Deno.test(
  "tasks: a client without the extension gets the plain call, with progress",
  { ignore },
  async () => {
    await using sim = LmStudioSim.start({
      catalog: { "ibm/granite-4-micro": 2_000_000_000 },
      downloadSteps: 3,
    });
    await using server = await spawnRawServer({
      LM_STUDIO_URL: sim.url,
      MCP_SESSIONS_DB: ":memory:",
      ...FAST,
    }, "2026-07-28");
    const plain = await server.request("tools/call", {
      name: "model_download",
      arguments: { model: "ibm/granite-4-micro" },
      _meta: { progressToken: "p" },
    });
    assert.notEqual(plain.result?.resultType, "task");
    assert.match(text(plain.result), /^Downloaded ibm\/granite-4-micro/);
    // tasks/get, tasks/update and tasks/cancel from a client that did not declare the extension: -32021.
    for (const method of ["tasks/get", "tasks/update", "tasks/cancel"]) {
      const refused = await server.request(method, { taskId: "nope" });
      assert.equal(refused.error?.code, -32021, `${method}: ${JSON.stringify(refused)}`);
      assert.match(refused.error?.message ?? "", /io\.modelcontextprotocol\/tasks/);
    }
  },
);

Deno.test("tasks: tasks/cancel stops a task and aborts its LM Studio request", { ignore }, async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, tokenDelayMs: 50, answer: "word ".repeat(400) };
  await using server = await spawnRawServer(
    { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:", ...FAST },
    "2026-07-28",
    TASKS,
  );
  const long = await call(server, "ask", { model: QWEN, prompt: "essay", max_tokens: 8192 });
  const taskId = String(long.result?.taskId);
  await until(() => sim.requestsTo("POST /api/v1/chat").length > 0, "the request to reach LM Studio");
  const request = sim.requestsTo("POST /api/v1/chat").at(-1)!;
  await until(() => (request.deltas ?? 0) >= 2, "the answer to start streaming");
  const ack = await server.request("tasks/cancel", { taskId });
  assert.equal(ack.error, undefined);
  assert.equal(ack.result?.resultType, "complete", "an empty acknowledgement");
  wire(CancelTaskResultV2Schema, ack.result);
  await until(() => request.abortedAt !== undefined, "LM Studio's request to be aborted");
  const states = await settle(server, taskId);
  assert.equal(states.at(-1)!.status, "cancelled");
  assert.equal(states.at(-1)!.result, undefined, "a cancelled task has no result");
});

Deno.test("tasks: after kill -9, a new server reads the finished tasks' results; the running one failed", {
  ignore,
}, async () => {
  await using tmp = await tempDir("tasks-kill");
  const db = join(tmp.path, "sessions.db");
  await using sim = LmStudioSim.start({
    catalog: { "big/model": 9_000_000_000, "ibm/granite-4-micro": 2_000_000_000 },
    downloadSteps: 2,
  });
  sim.chatScript = { reasoning: null, answer: "kept across restarts" };
  const env = { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: db, ...FAST };
  const first = await spawnRawServer(env, "2026-07-28", TASKS);
  const finished = [
    await call(first, "ask", { model: QWEN, prompt: "Answer:", prompts: ["a", "b"] }),
    await call(first, "model_download", { model: "ibm/granite-4-micro" }),
  ].map((r) => String(r.result?.taskId));
  for (const taskId of finished) assert.equal((await settle(first, taskId)).at(-1)!.status, "completed");
  // A download that will not finish before the kill.
  const slow = await spawnRawServer(
    { ...env, LM_STUDIO_DOWNLOAD_POLL_INTERVAL_MS: "10000" },
    "2026-07-28",
    TASKS,
  );
  const running = String((await call(slow, "model_download", { model: "big/model" })).result?.taskId);
  assert.equal((await slow.request("tasks/get", { taskId: running })).result?.status, "working");
  for (const server of [first, slow]) server.child.kill("SIGKILL");
  for (const server of [first, slow]) await server.close();

  await using second = await spawnRawServer(env, "2026-07-28", TASKS);
  for (const taskId of finished) {
    const task = (await second.request("tasks/get", { taskId })).result as unknown as Task;
    assert.equal(task.status, "completed", JSON.stringify(task));
  }
  const answers =
    ((await second.request("tasks/get", { taskId: finished[0] })).result as unknown as Task).result;
  assert.match(JSON.stringify(answers), /kept across restarts/);
  await until(async () => {
    const task = (await second.request("tasks/get", { taskId: running })).result as unknown as Task;
    return task.status === "failed" && /stopped before the task finished/.test(task.statusMessage ?? "");
  }, "the killed server's task to read as failed");
});

/** A raw 2026-07-28 client over HTTP that declares the tasks extension. */
function httpClient(url: string) {
  let id = 0;
  return async (method: string, params: Record<string, unknown>, name?: string): Promise<Reply> => {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": method,
        ...(name ? { "mcp-name": name } : {}),
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: ++id,
        method,
        params: { ...params, _meta: envelope("2026-07-28", TASKS) },
      }),
    });
    return (await response.json()) as Reply;
  };
}

Deno.test(
  "tasks over HTTP (2026-07-28): the call answers with a task, tasks/get on later requests follows it",
  {
    ignore,
  },
  async () => {
    await using sim = LmStudioSim.start({
      catalog: { "ibm/granite-4-micro": 2_000_000_000 },
      downloadSteps: 4,
    });
    await using server = await spawnHttp({ LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:", ...FAST });
    const post = httpClient(server.url!);
    const model = "ibm/granite-4-micro";
    const created = await post(
      "tools/call",
      { name: "model_download", arguments: { model } },
      "model_download",
    );
    assert.equal(created.result?.resultType, "task", JSON.stringify(created));
    const taskId = String(created.result?.taskId);
    let last: Task | undefined;
    await until(
      async () => {
        last = (await post("tasks/get", { taskId }, taskId)).result as unknown as Task;
        return last.status !== "working";
      },
      "the task to finish over HTTP",
      30_000,
    );
    assert.equal(last!.status, "completed");
    assert.match(text(last!.result), /^Downloaded ibm\/granite-4-micro/);
  },
);

Deno.test("tasks over HTTP: a task running when the server shuts down reads as failed after the restart", {
  ignore,
}, async () => {
  await using tmp = await tempDir("tasks-shutdown");
  await using sim = LmStudioSim.start({ catalog: { "big/model": 9_000_000_000 }, downloadSteps: 50 });
  const env = { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: join(tmp.path, "sessions.db"), ...FAST };
  let taskId = "";
  {
    await using server = await spawnHttp(env);
    const post = httpClient(server.url!);
    const created = await post(
      "tools/call",
      { name: "model_download", arguments: { model: "big/model" } },
      "model_download",
    );
    taskId = String(created.result?.taskId);
    assert.equal(created.result?.resultType, "task");
  } // SIGTERM: the server shuts down with the task still running.
  await using again = await spawnHttp(env);
  const task = (await httpClient(again.url!)("tasks/get", { taskId }, taskId)).result as unknown as Task;
  assert.equal(task.status, "failed", JSON.stringify(task));
  assert.match(task.statusMessage ?? "", /stopped before the task finished \(it was shut down/);
});

Deno.test("tasks: visible to their creator only (the stdio user, an HTTP token holder, a 2025 session)", {
  ignore,
}, async () => {
  await using tmp = await tempDir("tasks-owner");
  await using sim = LmStudioSim.start({
    catalog: { "ibm/granite-4-micro": 2_000_000_000 },
    downloadSteps: 2,
  });
  const env = { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: join(tmp.path, "sessions.db"), ...FAST };
  await using local = await spawnRawServer(env, "2026-07-28", TASKS);
  const mine = String((await call(local, "model_download", { model: "ibm/granite-4-micro" })).result?.taskId);
  assert.equal((await settle(local, mine)).at(-1)!.status, "completed");
  // Another client of the same store, over HTTP, does not see the stdio user's task…
  await using http = await spawnHttp(env);
  const post = httpClient(http.url!);
  const foreign = await post("tasks/get", { taskId: mine }, mine);
  assert.equal(foreign.error?.code, -32602, JSON.stringify(foreign));
  assert.match(foreign.error?.message ?? "", /Unknown task .*this client never started it/);
  assert.doesNotMatch(foreign.error?.message ?? "", /tasks\/list/, "no pointer at a method 2026 lacks");
  assert.equal((await post("tasks/cancel", { taskId: mine }, mine)).error?.code, -32602);
  // …nor the stdio user an HTTP client's.
  const theirs = await post(
    "tools/call",
    { name: "model_download", arguments: { model: "x/y" } },
    "model_download",
  );
  const theirId = String(theirs.result?.taskId);
  assert.equal(theirs.result?.resultType, "task");
  assert.equal((await local.request("tasks/get", { taskId: theirId })).error?.code, -32602);
  assert.equal((await post("tasks/get", { taskId: theirId }, theirId)).error, undefined, "its creator does");
  // A 2025 connection has no tasks/* at all.
  await using legacy = await spawnRawServer(env, "2025-11-25", TASKS);
  assert.equal((await legacy.request("tasks/get", { taskId: mine })).error?.code, -32601);
});
