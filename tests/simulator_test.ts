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
