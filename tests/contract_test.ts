/**
 * Contract tests: replies recorded from real LM Studio servers (tests/fixtures/lmstudio/) go through our
 * parsers and tools, and the assertions are what a user sees. Every test here runs our code; the
 * simulator's own fidelity to the recordings is pinned in `simulator_test.ts`.
 */
import assert from "node:assert/strict";
import { parse } from "../lib/lmstudio/client.ts";
import { summarizeModel } from "../lib/lmstudio/models.ts";
import {
  DownloadJobSchema,
  LoadReplySchema,
  ModelListSchema,
  UnloadReplySchema,
} from "../lib/lmstudio/schemas.ts";
import loaded from "./fixtures/lmstudio/api-v1-models.loaded.json" with { type: "json" };
import noneLoaded from "./fixtures/lmstudio/api-v1-models.none-loaded.json" with { type: "json" };
import loadReply from "./fixtures/lmstudio/api-v1-models-load.reply.json" with { type: "json" };
import unloadReply from "./fixtures/lmstudio/api-v1-models-unload.reply.json" with { type: "json" };
import alreadyDownloaded from "./fixtures/lmstudio/api-v1-models-download.already.json" with { type: "json" };
import { REJECTED } from "./support/lmstudio_errors.ts";
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

Deno.test("contract: LM Studio's 400 bodies reach the user word for word, from every endpoint", async () => {
  await using sim = recordedSim();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const calls: Record<string, [string, Record<string, unknown>]> = {
    "/api/v1/models/load": ["model_load", { model: "google/gemma-3-4b" }],
    "/api/v1/models/unload": ["model_unload", { model: GEMMA_1B }],
    "/api/v1/models/download": ["model_download", { model: "ibm/granite-4-micro" }],
    "/api/v1/chat": ["ask", { model: GEMMA_1B, prompt: "hi" }],
  };
  for (const { path, error } of REJECTED) {
    const [tool, args] = calls[path]!;
    sim.clearFaults();
    sim.fault(`POST ${path}`, { status: 400, body: { error } });
    const result = await server.call(tool, args);
    assert.equal(result.isError, true, `${tool}: ${textOf(result)}`);
    assert.equal(textOf(result), `LM Studio answered HTTP 400: ${error.message}`, tool);
  }
});
