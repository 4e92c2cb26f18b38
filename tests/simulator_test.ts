/**
 * Simulator self-tests: the simulator's replies keep the shapes recorded from real LM Studio servers, and
 * it rejects what they reject with their exact error bodies, so it cannot quietly go lenient. No code of
 * ours runs here; `contract_test.ts` feeds the same recordings through our parsers and tools.
 */
import assert from "node:assert/strict";
import loaded from "./fixtures/lmstudio/api-v1-models.loaded.json" with { type: "json" };
import noneLoaded from "./fixtures/lmstudio/api-v1-models.none-loaded.json" with { type: "json" };
import loadReply from "./fixtures/lmstudio/api-v1-models-load.reply.json" with { type: "json" };
import unloadReply from "./fixtures/lmstudio/api-v1-models-unload.reply.json" with { type: "json" };
import alreadyDownloaded from "./fixtures/lmstudio/api-v1-models-download.already.json" with { type: "json" };
import { REJECTED } from "./support/lmstudio_errors.ts";
import { LmStudioSim, type SimModel } from "./support/lmstudio_sim.ts";
import { fetchText } from "./support/wait.ts";

const GEMMA_1B = "google/gemma-3-1b";

function recordedSim(): LmStudioSim {
  return LmStudioSim.start({ models: structuredClone(loaded.models) as SimModel[] });
}

Deno.test("the simulator's own replies have the recorded shapes", async () => {
  await using sim = LmStudioSim.start({ models: structuredClone(noneLoaded.models) as SimModel[] });
  const post = async (path: string, body: unknown) => {
    const reply = await fetchText(sim.url + path, { method: "POST", body: JSON.stringify(body) }, path);
    return JSON.parse(reply.text) as Record<string, unknown>;
  };
  const load = await post("/api/v1/models/load", { model: GEMMA_1B });
  assert.deepEqual(Object.keys(load).sort(), Object.keys(loadReply).sort());
  const listed = JSON.parse(
    (await fetchText(`${sim.url}/api/v1/models`, {}, "the model list")).text,
  ) as typeof loaded;
  const instance = listed.models.find((m) => m.key === GEMMA_1B)?.loaded_instances[0];
  assert.deepEqual(instance, loaded.models.find((m) => m.key === GEMMA_1B)?.loaded_instances[0]);
  assert.deepEqual(await post("/api/v1/models/download", { model: GEMMA_1B }), alreadyDownloaded);
  assert.deepEqual(await post("/api/v1/models/unload", { instance_id: GEMMA_1B }), unloadReply);
});

Deno.test("the simulator rejects every malformed shape with LM Studio's own error body", async () => {
  await using sim = recordedSim();
  for (const { path, body, error } of REJECTED) {
    const what = `${path} ${JSON.stringify(body)}`;
    const reply = await fetchText(sim.url + path, { method: "POST", body: JSON.stringify(body) }, what);
    assert.equal(reply.status, 400, what);
    assert.deepEqual(JSON.parse(reply.text), { error }, what);
  }
  const models = sim.model(GEMMA_1B)?.loaded_instances.length;
  assert.equal(models, 1, "no rejected request changed anything");
});

Deno.test("the simulator's OpenAI-compatible endpoint rejects WebP images as real servers did", async () => {
  await using sim = recordedSim();
  const reply = await fetchText(`${sim.url}/v1/chat/completions`, {
    method: "POST",
    body: JSON.stringify({
      model: "google/gemma-3-4b",
      messages: [{
        role: "user",
        content: [{ type: "image_url", image_url: { url: "data:image/webp;base64,UklGRgAAAABXRUJQ" } }],
      }],
    }),
  }, "the reply to a WebP image");
  assert.equal(reply.status, 400);
  assert.match(reply.text, /'url' field must be a base64 encoded image/);
});

Deno.test("the simulator counts Han, kana and Hangul one token per character, other text one per four", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, answer: "ok" };
  const chat = async (input: string) => {
    const reply = await fetchText(`${sim.url}/api/v1/chat`, {
      method: "POST",
      body: JSON.stringify({ model: "qwen/qwen3-8b", input }),
    }, "a chat");
    return (JSON.parse(reply.text) as { stats: { input_tokens: number } }).stats.input_tokens;
  };
  assert.equal(await chat("你好世界こんにちは안녕하세요"), 14);
  assert.equal(await chat("abcdefgh"), 2);
});

Deno.test("the simulator refuses a prompt larger than the context with llama.cpp's n_keep sizes", async () => {
  await using sim = LmStudioSim.start();
  const reply = await fetchText(`${sim.url}/api/v1/chat`, {
    method: "POST",
    body: JSON.stringify({ model: "qwen/qwen3-8b", input: "word ".repeat(8000) }),
  }, "an oversized chat");
  assert.equal(reply.status, 400);
  assert.match(reply.text, /greater than the context length \(n_keep: 10000 >= n_ctx: 8192\)/);
});

Deno.test("the simulator refuses a load for lack of memory above memoryLimitContext", async () => {
  await using sim = LmStudioSim.start({ memoryLimitContext: 8192 });
  const load = (context_length: number) =>
    fetchText(`${sim.url}/api/v1/models/load`, {
      method: "POST",
      body: JSON.stringify({ model: GEMMA_1B, context_length }),
    }, "a load");
  const refused = await load(16384);
  assert.equal(refused.status, 500);
  assert.match(refused.text, /insufficient system resources/);
  assert.equal(sim.model(GEMMA_1B)!.loaded_instances.length, 0, "nothing loaded");
  assert.equal((await load(8192)).status, 200);
});

Deno.test("the simulator's MLX instance serves 4 at once, each request in its own cache", async () => {
  await using sim = recordedSim(); // google/gemma-3-1b: MLX, loaded, no parallel listed
  const context = Number(sim.model(GEMMA_1B)!.loaded_instances[0]!.config.context_length);
  sim.chatScript = { reasoning: null, tokenDelayMs: 5, answer: "w ".repeat(40) };
  // Four prompts of ~60 % of the context each: together far more than one cache, each fits its own.
  const input = "word ".repeat(Math.floor(context * 0.6 * 4 / 5));
  const replies = await Promise.all(Array.from({ length: 4 }, () =>
    fetchText(`${sim.url}/api/v1/chat`, {
      method: "POST",
      body: JSON.stringify({ model: GEMMA_1B, input }),
    }, "an MLX chat")));
  assert.deepEqual(replies.map((r) => r.status), [200, 200, 200, 200]);
  assert.equal(sim.peakInFlight.get(GEMMA_1B), 4);
  assert.equal(sim.contextExceeded, 0);
});

Deno.test("the simulator's GGUF instance fails every request in flight when they outgrow its one cache", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, tokenDelayMs: 5, answer: "w ".repeat(200) };
  const input = "word ".repeat(3200); // 4,000 tokens each: two fit 8,192 only without their answers
  const replies = await Promise.all(Array.from({ length: 2 }, () =>
    fetchText(`${sim.url}/api/v1/chat`, {
      method: "POST",
      body: JSON.stringify({ model: "qwen/qwen3-8b", input }),
    }, "a GGUF chat")));
  assert.deepEqual(replies.map((r) => r.status), [500, 500]);
  for (const reply of replies) assert.match(reply.text, /Context size has been exceeded/);
  assert.equal(sim.contextExceeded, 1);
});
