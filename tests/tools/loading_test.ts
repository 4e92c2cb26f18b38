/**
 * Loading as LM Studio does it: concurrent first requests to an unloaded model each start an instance
 * (`key:2`, `key:3`; lmstudio-bug-tracker#1751), so every tool goes through one load per model; and `each`
 * with `ttl` lets its first request load the model (a JIT load, the only kind that honours a TTL).
 */
import assert from "node:assert/strict";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { startInProcess } from "../support/in_process.ts";
import { textOf } from "../support/mcp.ts";

const GEMMA = "google/gemma-3-4b"; // MLX, downloaded, not loaded
const EMBED = "text-embedding-nomic-embed-text-v1.5";

Deno.test("tools called at once on an unloaded model start one load, and the others wait on it", async () => {
  await using sim = LmStudioSim.start({ loadDelayMs: 300 });
  sim.chatScript = { reasoning: null, answer: "hello there" };
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" } });
  const results = await Promise.all([
    server.call("ask", { model: GEMMA, prompt: "one" }),
    server.call("ask", { model: GEMMA, prompt: "two", stream: false }),
    server.call("ask", { model: GEMMA, prompt: "three", ttl: 600 }),
    server.call("chat", { session_id: "s", model: GEMMA, message: "four" }),
    server.call("ask", { model: GEMMA, prompt: "five", prompts: ["a", "b"] }),
    server.call("embed", { model: EMBED, input: "x" }),
    server.call("embed", { model: EMBED, input: ["y", "z"] }),
  ]);
  for (const result of results) assert.equal(result.isError, undefined, textOf(result));
  assert.deepEqual(
    sim.model(GEMMA)!.loaded_instances.map((i) => i.id),
    [GEMMA],
    "one instance, not one per call",
  );
  assert.deepEqual(sim.model(EMBED)!.loaded_instances.map((i) => i.id), [EMBED]);
  const loads = sim.jitLoads.length + sim.requestsTo("POST /api/v1/models/load").length;
  assert.equal(loads, 2, "one load of each model");
});

Deno.test("a load that ends without loading hands the lead to the next call", async () => {
  await using sim = LmStudioSim.start({ loadDelayMs: 150 });
  sim.fault("POST /api/v1/chat", { status: 500, body: { error: "Model failed to load" }, times: 1 });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const [first, second, third] = await Promise.all([
    server.call("ask", { model: GEMMA, prompt: "one" }),
    server.call("ask", { model: GEMMA, prompt: "two" }),
    server.call("ask", { model: GEMMA, prompt: "three" }),
  ]);
  assert.equal(first!.isError, true);
  assert.equal(second!.isError, undefined, textOf(second!));
  assert.equal(third!.isError, undefined, textOf(third!));
  assert.equal(sim.model(GEMMA)!.loaded_instances.length, 1);
});

Deno.test("each with ttl: the first request loads the model with the ttl, the rest wait for it", async () => {
  await using sim = LmStudioSim.start({ loadDelayMs: 200 });
  sim.chatScript = { reasoning: null, answer: "done" };
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("ask", {
    model: GEMMA,
    prompt: "x",
    prompts: ["a", "b", "c", "d"],
    ttl: 600,
  });
  assert.equal(result.isError, undefined, textOf(result));
  const data = result.structuredContent as { items: { answer: string }[]; fanout: { notes?: string[] } };
  assert.deepEqual(data.items.map((i) => i.answer), ["done", "done", "done", "done"]);
  assert.equal(sim.requestsTo("POST /api/v1/models/load").length, 0, "no REST load: it would ignore the ttl");
  assert.deepEqual(sim.jitLoads, [{ model: GEMMA, id: GEMMA, ttl: 600 }]);
  assert.equal(sim.model(GEMMA)!.loaded_instances.length, 1);
  const chats = sim.requestsTo("POST /v1/chat/completions");
  assert.ok(chats.every((c) => (c.body as { ttl?: number }).ttl === 600), "every request carries the ttl");
  assert.match(data.fanout.notes?.[0] ?? "", /the first request loaded google\/gemma-3-4b .*honours ttl/);
});
