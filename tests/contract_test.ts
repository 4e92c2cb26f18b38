/**
 * Contract tests: replies recorded from real LM Studio servers (tests/fixtures/lmstudio/) go through our
 * parsers and tools, and the assertions are what a user sees. The simulator's strictness is pinned here
 * too, so it cannot quietly go lenient again.
 */
import assert from "node:assert/strict";
import { parse } from "../lib/lmstudio.ts";
import { summarizeModel } from "../lib/models.ts";
import { DownloadJobSchema, LoadReplySchema, ModelListSchema, UnloadReplySchema } from "../lib/schemas.ts";
import loaded from "./fixtures/lmstudio/api-v1-models.loaded.json" with { type: "json" };
import noneLoaded from "./fixtures/lmstudio/api-v1-models.none-loaded.json" with { type: "json" };
import loadReply from "./fixtures/lmstudio/api-v1-models-load.reply.json" with { type: "json" };
import unloadReply from "./fixtures/lmstudio/api-v1-models-unload.reply.json" with { type: "json" };
import alreadyDownloaded from "./fixtures/lmstudio/api-v1-models-download.already.json" with { type: "json" };
import { LmStudioSim, type SimModel } from "./support/lmstudio_sim.ts";
import { startInProcess } from "./support/in_process.ts";
import { textOf } from "./support/mcp.ts";

const GEMMA_1B = "google/gemma-3-1b";

function recordedSim(): LmStudioSim {
  return LmStudioSim.start({ models: structuredClone(loaded.models) as SimModel[] });
}

Deno.test("contract: both recorded model lists parse, and summaries read MLX and embedding shapes", () => {
  for (const fixture of [loaded, noneLoaded]) {
    assert.equal(parse(ModelListSchema, fixture, "GET /api/v1/models").models.length, 6);
  }
  const models = parse(ModelListSchema, loaded, "GET /api/v1/models").models.map(summarizeModel);
  const gemma = models.find((m) => m.key === GEMMA_1B);
  assert.deepEqual(gemma, {
    key: GEMMA_1B,
    display_name: "Gemma 3 1B",
    type: "llm",
    loaded: true,
    loaded_instances: [{ id: GEMMA_1B, context_length: 4096 }],
    quantization: "4bit",
    size_bytes: 771933305,
    max_context_length: 32768,
    format: "mlx",
    params: "1B",
    vision: false,
    reasoning_options: [],
  });
  const nomic = models.find((m) => m.type === "embedding");
  assert.equal(nomic?.vision, false, "no capabilities object means no vision");
  assert.equal(nomic?.params, null);
});

Deno.test("contract: model_list shows the recorded catalogue as a user reads it", async () => {
  await using sim = recordedSim();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("model_list");
  assert.equal(result.isError, undefined, textOf(result));
  assert.equal(
    textOf(result),
    [
      "Loaded (1):",
      "  • google/gemma-3-1b — llm, 1B, 4bit, 771.93 MB, max context 32768, instance google/gemma-3-1b at context 4096",
      "Downloaded, not loaded (5):",
      "  • qwen/qwen3-4b-2507 — llm, 4B, 4bit, 2.28 GB, max context 262144",
      "  • google/gemma-3-4b — llm, 4B, 4bit, 3.03 GB, vision, max context 131072",
      "  • google/gemma-3n-e4b — llm, 4B, 4bit, 5.86 GB, vision, max context 32768",
      "  • google/gemma-3-12b — llm, 12B, 4bit, 8.07 GB, vision, max context 131072",
      "  • text-embedding-nomic-embed-text-v1.5 — embedding, Q4_K_M, 84.11 MB, max context 2048",
    ].join("\n"),
  );
  const data = result.structuredContent as { loaded_count: number; total_count: number };
  assert.equal(data.loaded_count, 1);
  assert.equal(data.total_count, 6);
});

Deno.test("contract: the recorded load reply (no load_config) reads as a successful load", async () => {
  const reply = parse(LoadReplySchema, loadReply, "POST /api/v1/models/load");
  assert.equal(reply.load_config, undefined);
  await using sim = LmStudioSim.start({ models: structuredClone(noneLoaded.models) as SimModel[] });
  sim.fault("POST /api/v1/models/load", { raw: JSON.stringify(loadReply) });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("model_load", { model: GEMMA_1B });
  assert.equal(result.isError, undefined, textOf(result));
  assert.equal(
    textOf(result),
    "Loaded google/gemma-3-1b (llm) in 7.92 s — LM Studio did not echo the load config",
  );
  assert.deepEqual(result.structuredContent, {
    instance_id: GEMMA_1B,
    type: "llm",
    load_time_seconds: 7.916,
    config: {},
    requested: {},
    not_as_requested: [],
    already_loaded: false,
  });
  // Asked for a context without an echo: nothing is claimed about what LM Studio applied.
  const asked = await server.call("model_load", { model: GEMMA_1B, context_length: 32768 });
  assert.match(
    textOf(asked),
    /\nLM Studio did not say which settings it applied; model_list shows the context/,
  );
  assert.deepEqual((asked.structuredContent as { not_as_requested: string[] }).not_as_requested, []);
});

Deno.test("contract: the recorded unload reply reads as an unload", async () => {
  assert.equal(parse(UnloadReplySchema, unloadReply, "POST /api/v1/models/unload").instance_id, GEMMA_1B);
  await using sim = recordedSim();
  sim.fault("POST /api/v1/models/unload", { raw: JSON.stringify(unloadReply) });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("model_unload", { model: GEMMA_1B });
  assert.equal(result.isError, undefined, textOf(result));
  assert.equal(textOf(result), "Unloaded google/gemma-3-1b. No models are loaded now.");
});

Deno.test("contract: the recorded already_downloaded reply (no job_id) is a finished download", async () => {
  const job = parse(DownloadJobSchema, alreadyDownloaded, "POST /api/v1/models/download");
  assert.equal(job.job_id, undefined);
  await using sim = recordedSim();
  sim.fault("POST /api/v1/models/download", { raw: JSON.stringify(alreadyDownloaded) });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("model_download", { model: "qwen/qwen3-4b-2507" });
  assert.equal(result.isError, undefined, textOf(result));
  assert.equal(textOf(result), "qwen/qwen3-4b-2507 is already downloaded. Load it with model_load.");
  const data = result.structuredContent as { job_id: string | null; finished: boolean };
  assert.equal(data.job_id, null);
  assert.equal(data.finished, true);
  assert.equal(sim.requestsTo("GET /api/v1/models/download/status").length, 0, "nothing to poll");
});

Deno.test("contract: the simulator's own replies have the recorded shapes", async () => {
  await using sim = LmStudioSim.start({ models: structuredClone(noneLoaded.models) as SimModel[] });
  const post = async (path: string, body: unknown) => {
    const response = await fetch(sim.url + path, { method: "POST", body: JSON.stringify(body) });
    return await response.json() as Record<string, unknown>;
  };
  const load = await post("/api/v1/models/load", { model: GEMMA_1B });
  assert.deepEqual(Object.keys(load).sort(), Object.keys(loadReply).sort());
  const listed = await (await fetch(`${sim.url}/api/v1/models`)).json() as typeof loaded;
  const instance = listed.models.find((m) => m.key === GEMMA_1B)?.loaded_instances[0];
  assert.deepEqual(instance, loaded.models.find((m) => m.key === GEMMA_1B)?.loaded_instances[0]);
  assert.deepEqual(await post("/api/v1/models/download", { model: GEMMA_1B }), alreadyDownloaded);
  assert.deepEqual(await post("/api/v1/models/unload", { instance_id: GEMMA_1B }), unloadReply);
});

/** Malformed requests and the exact bodies real LM Studio servers answer them with. */
const REJECTED: readonly { path: string; body: unknown; error: Record<string, unknown> }[] = [
  {
    path: "/api/v1/models/load",
    body: { model: GEMMA_1B, ttl: 600 },
    error: {
      message: "Unrecognized key(s) in object: 'ttl'",
      type: "invalid_request",
      code: "unrecognized_keys",
    },
  },
  {
    path: "/api/v1/models/load",
    body: { model: GEMMA_1B, gpu: "max", ttl: 60 },
    error: {
      message: "Unrecognized key(s) in object: 'gpu', 'ttl'",
      type: "invalid_request",
      code: "unrecognized_keys",
    },
  },
  {
    path: "/api/v1/models/unload",
    body: { instance_id: GEMMA_1B, force: true },
    error: {
      message: "Unrecognized key(s) in object: 'force'",
      type: "invalid_request",
      code: "unrecognized_keys",
    },
  },
  {
    path: "/api/v1/models/download",
    body: { model: GEMMA_1B, wait: true },
    error: {
      message: "Unrecognized key(s) in object: 'wait'",
      type: "invalid_request",
      code: "unrecognized_keys",
    },
  },
  {
    path: "/api/v1/chat",
    body: { model: GEMMA_1B, input: "hi", stop: ["\n"] },
    error: {
      message: "Unrecognized key(s) in object: 'stop'",
      type: "invalid_request",
      code: "unrecognized_keys",
    },
  },
  {
    path: "/api/v1/chat",
    body: { model: GEMMA_1B, input: [{ type: "message", content: "hi" }] },
    error: {
      message: "Invalid discriminator value. Expected 'text' | 'image'",
      type: "invalid_request",
      code: "invalid_union",
      param: "input",
    },
  },
  {
    path: "/api/v1/chat",
    body: { model: GEMMA_1B, input: [{ type: "text", text: "hi" }] },
    error: {
      message: "'input.0.content' is required, Unrecognized key(s) in object: 'text'",
      type: "invalid_request",
      code: "invalid_union",
      param: "input",
    },
  },
  {
    path: "/api/v1/chat",
    body: { model: GEMMA_1B, input: [{ type: "text", content: "hi" }, { type: "image", url: "x" }] },
    error: {
      message: "'input.1.data_url' is required, Unrecognized key(s) in object: 'url'",
      type: "invalid_request",
      code: "invalid_union",
      param: "input",
    },
  },
  {
    path: "/api/v1/chat",
    body: { model: GEMMA_1B, input: "hi", max_output_tokens: "12" },
    error: {
      message: "Expected integer, received string",
      type: "invalid_request",
      code: "invalid_type",
      param: "max_output_tokens",
    },
  },
  {
    path: "/api/v1/chat",
    body: { model: "qwen/qwen3-4b-2507", input: "hi", reasoning: "off" },
    error: {
      message:
        "Reasoning setting 'off' is not supported by model 'qwen/qwen3-4b-2507'. Supported settings: none",
      type: "invalid_request",
      code: "invalid_value",
      param: "reasoning",
    },
  },
];

Deno.test("the simulator rejects every malformed shape with LM Studio's own error body", async () => {
  await using sim = recordedSim();
  for (const { path, body, error } of REJECTED) {
    const response = await fetch(sim.url + path, { method: "POST", body: JSON.stringify(body) });
    assert.equal(response.status, 400, `${path} ${JSON.stringify(body)}`);
    assert.deepEqual(await response.json(), { error }, `${path} ${JSON.stringify(body)}`);
  }
  const models = sim.model(GEMMA_1B)?.loaded_instances.length;
  assert.equal(models, 1, "no rejected request changed anything");
});

Deno.test("the simulator's OpenAI-compatible endpoint rejects WebP images as real servers did", async () => {
  await using sim = recordedSim();
  const response = await fetch(`${sim.url}/v1/chat/completions`, {
    method: "POST",
    body: JSON.stringify({
      model: "google/gemma-3-4b",
      messages: [{
        role: "user",
        content: [{ type: "image_url", image_url: { url: "data:image/webp;base64,UklGRgAAAABXRUJQ" } }],
      }],
    }),
  });
  assert.equal(response.status, 400);
  assert.match(JSON.stringify(await response.json()), /'url' field must be a base64 encoded image/);
});
