/**
 * The stdio transport against what no SDK client sends: every request with an id gets an answer with
 * the right JSON-RPC code, and the server keeps serving.
 */
import assert from "node:assert/strict";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { spawnRawServer } from "../support/raw_stdio.ts";
import { until } from "../support/wait.ts";
import { TOOL_NAMES } from "../support/tool_calls.ts";

const listTools = (id: number | string) => ({ jsonrpc: "2.0", id, method: "tools/list" });

Deno.test("an oversized request gets a JSON-RPC error with its id and the server keeps serving", async () => {
  await using sim = LmStudioSim.start();
  await using server = await spawnRawServer({ LM_STUDIO_URL: sim.url });
  const big = JSON.stringify({
    jsonrpc: "2.0",
    id: 41,
    method: "tools/call",
    params: { name: "ask", arguments: { model: "qwen/qwen3-8b", prompt: "x".repeat(70 * 1024 * 1024) } },
  });
  await server.write(big + "\n");
  const refused = await server.reply(41, 30_000);
  assert.equal(refused.error?.code, -32600);
  assert.match(refused.error?.message ?? "", /over this server's limit of 64\.0 MiB/);
  await server.send(listTools(42));
  assert.equal(((await server.reply(42)).result?.tools as unknown[]).length, TOOL_NAMES.length);
  const { code, stderr } = await server.close();
  assert.equal(code, 0);
  assert.match(stderr, /Refused a 70\.0 MiB message/);
  assert.deepEqual(server.strayLines, []);
});

Deno.test("a 20 MiB data-URL request, under the limit, is read and answered", async () => {
  await using sim = LmStudioSim.start();
  await using server = await spawnRawServer({ LM_STUDIO_URL: sim.url });
  const png = "iVBORw0KGgo" + "A".repeat(20 * 1024 * 1024);
  await server.send({
    jsonrpc: "2.0",
    id: 7,
    method: "tools/call",
    params: {
      name: "ask",
      arguments: { model: "google/gemma-3-4b", prompt: "x", images: [`data:image/png;base64,${png}`] },
    },
  });
  const reply = await server.reply(7, 30_000);
  assert.equal(reply.error, undefined, JSON.stringify(reply).slice(0, 300));
  assert.equal(
    (reply.result as { isError?: boolean }).isError,
    undefined,
    JSON.stringify(reply).slice(0, 300),
  );
});

Deno.test("malformed JSON-RPC gets the spec's error codes, and nothing hangs", async () => {
  await using sim = LmStudioSim.start();
  await using server = await spawnRawServer({ LM_STUDIO_URL: sim.url });
  await server.write("{not json\n");
  assert.equal((await server.reply(null)).error?.code, -32700);
  await server.write('{"jsonrpc":"2.0","id":3,"method":"tools/list","__proto__":{"polluted":true}}\n');
  assert.equal(((await server.reply(3)).result?.tools as unknown[]).length, TOOL_NAMES.length);
  await server.send({
    jsonrpc: "2.0",
    id: 4,
    method: "tools/call",
    params: { name: "ask", arguments: "text" },
  });
  assert.equal((await server.reply(4)).error?.code, -32602);
  await server.send({ jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "ask", arguments: [1] } });
  assert.equal((await server.reply(5)).error?.code, -32602);
  await server.send({ jsonrpc: "1.0", id: 6, method: "tools/list" });
  assert.equal((await server.reply(6)).error?.code, -32600);
  await server.send({ jsonrpc: "2.0", id: 8, method: "no/such/method" });
  assert.equal((await server.reply(8)).error?.code, -32601);
  await server.write("\n\r\n   \n"); // Blank lines are skipped, not answered.
  await server.send(listTools(9));
  assert.ok((await server.reply(9)).result);
  const { code } = await server.close();
  assert.equal(code, 0);
  assert.deepEqual(server.strayLines, []);
});

Deno.test("a __proto__ key spelled with \\u escapes is dropped too", async () => {
  await using sim = LmStudioSim.start();
  await using server = await spawnRawServer({ LM_STUDIO_URL: sim.url });
  await server.write(
    '{"jsonrpc":"2.0","id":4,"method":"tools/list","\\u005f\\u005fproto\\u005f\\u005f":{"polluted":true}}\n',
  );
  const reply = await server.reply(4);
  assert.ok(reply.result !== undefined, JSON.stringify(reply));
  await server.close();
});

Deno.test("JSON-RPC batches on a 2025-03-26 connection: one array of replies, notifications unanswered", async () => {
  await using sim = LmStudioSim.start();
  await using server = await spawnRawServer({ LM_STUDIO_URL: sim.url }, "2025-03-26");
  await server.write(
    JSON.stringify([
      listTools(1),
      { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: "x", progress: 1 } },
      { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "model_list", arguments: {} } },
      7,
      { jsonrpc: "2.0", id: 3, method: "initialize", params: {} },
    ]) + "\n",
  );
  await until(() => server.batches.length === 1, "the batch's replies");
  const replies = server.batches[0]!;
  assert.equal(replies.length, 4, JSON.stringify(replies));
  assert.equal((replies.find((r) => r.id === 1)?.result?.tools as unknown[]).length, TOOL_NAMES.length);
  assert.match(JSON.stringify(replies.find((r) => r.id === 2)?.result), /qwen\/qwen3-8b/);
  assert.equal(replies.find((r) => r.id === null)?.error?.code, -32600);
  assert.match(
    replies.find((r) => r.id === 3)?.error?.message ?? "",
    /initialize must not be part of a batch/,
  );
  // Only notifications: no reply at all; an empty batch: one error.
  await server.write(JSON.stringify([{ jsonrpc: "2.0", method: "notifications/initialized" }]) + "\n");
  await server.write("[]\n");
  assert.match((await server.reply(null)).error?.message ?? "", /an empty batch/);
  assert.equal(server.batches.length, 1);
  assert.deepEqual(server.strayLines, []);
});

Deno.test("a JSON-RPC batch on a 2026-07-28 stdio connection is refused with -32600", async () => {
  await using sim = LmStudioSim.start();
  await using server = await spawnRawServer({ LM_STUDIO_URL: sim.url }, "2026-07-28");
  await server.write(JSON.stringify([listTools(1), listTools(2)]) + "\n");
  const refused = await server.reply(null);
  assert.equal(refused.error?.code, -32600);
  assert.match(refused.error?.message ?? "", /2026-07-28 protocol has no JSON-RPC batches/);
});
