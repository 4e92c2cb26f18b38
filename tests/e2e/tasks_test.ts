/**
 * Long calls as MCP tasks (the io.modelcontextprotocol/tasks extension) against the real process and the
 * simulator: a download, a 16-item fan-out and a long ask answer at once with a task whose `tasks/get`
 * shows progress and then the result the plain call gives; `tasks/cancel` stops a task and its LM Studio
 * request; after `kill -9` the finished tasks' results are read from the store by a new process, and a
 * task that was running reads as failed; a client without the extension gets the plain call.
 */
import assert from "node:assert/strict";
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

/** Polls tasks/get until the task is no longer working; returns every state seen. */
async function settle(server: RawServer, taskId: string): Promise<Task[]> {
  const seen: Task[] = [];
  await until(
    async () => {
      const reply = await server.request("tasks/get", { taskId });
      assert.equal(reply.error, undefined, JSON.stringify(reply.error));
      seen.push(reply.result as unknown as Task);
      return seen.at(-1)!.status !== "working";
    },
    `task ${taskId} to finish`,
    30_000,
  );
  return seen;
}

for (const version of ["2026-07-28", "2025-11-25"] as const) {
  Deno.test(`tasks (${version}): a download, a 16-item fan-out and a long ask run as tasks`, {
    ignore,
  }, async () => {
    await using sim = LmStudioSim.start({
      catalog: { "ibm/granite-4-micro": 2_000_000_000 },
      downloadSteps: 6,
    });
    sim.chatScript = { reasoning: null, tokenDelayMs: 5, answer: "one two three" };
    await using server = await spawnRawServer(
      { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:", ...FAST },
      version,
      TASKS,
    );
    const download = await call(server, "model_download", { model: "ibm/granite-4-micro" });
    assert.equal(download.result?.resultType, "task", JSON.stringify(download));
    const downloadStates = await settle(server, String(download.result?.taskId));
    assert.ok(
      downloadStates.some((t) => t.status === "working" && /downloading/.test(t.statusMessage ?? "")),
      "tasks/get reports progress: " + JSON.stringify(downloadStates.map((t) => t.statusMessage)),
    );
    assert.equal(downloadStates.at(-1)!.status, "completed");
    assert.match(text(downloadStates.at(-1)!.result), /^Downloaded ibm\/granite-4-micro/);

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

    if (version === "2025-11-25") {
      // For 2025 clients: tasks/result gives the same, and tasks/list shows all three, newest first.
      const result = await server.request("tasks/result", { taskId: long.result?.taskId });
      assert.equal(text(result.result), "one two three");
      const list = await server.request("tasks/list");
      assert.deepEqual(
        (list.result?.tasks as Task[]).map((t) => t.taskId),
        [long, fanOut, download].map((r) => r.result?.taskId),
      );
    } else {
      // The 2026-07-28 extension has neither (tasks/get carries the result; no listing without sessions).
      for (const method of ["tasks/result", "tasks/list"]) {
        assert.equal(
          (await server.request(method, { taskId: long.result?.taskId })).error?.code,
          -32601,
          method,
        );
      }
    }
    // Loading a large model (5 GB) is worth one too.
    const load = await call(server, "model_load", { model: QWEN });
    assert.equal(load.result?.resultType, "task");
    assert.equal((await settle(server, String(load.result?.taskId))).at(-1)!.status, "completed");
    // A short call is not worth a task, even for a client that takes them.
    const short = await call(server, "ask", { model: QWEN, prompt: "hi" });
    assert.equal(short.result?.resultType === "task", false);
    assert.equal(text(short.result), "one two three");
  });
}

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
    const unknown = await server.request("tasks/get", { taskId: "nope" });
    assert.equal(unknown.error?.code, -32602);
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

  await using second = await spawnRawServer(env, "2025-11-25", TASKS);
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
