/**
 * The model lifecycle tools, driven by the SDK client against the server built as main.ts builds it, in
 * process (the SDK's in-memory transport), against the simulator.
 */
import assert from "node:assert/strict";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { startInProcess } from "../support/in_process.ts";
import { textOf } from "../support/mcp.ts";
import { TOOL_NAMES } from "../support/tool_calls.ts";

const FAST = { LM_STUDIO_HEARTBEAT_MS: "100", LM_STUDIO_DOWNLOAD_POLL_INTERVAL_MS: "150" };

type Progress = { progress: number; total?: number | undefined; message?: string | undefined };

Deno.test("tools/list shows every tool of the list, with schemas and annotations", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const { tools } = await server.client.listTools();
  const names = tools.map((t) => t.name);
  assert.deepEqual(names, TOOL_NAMES);
  for (const tool of tools) {
    assert.ok(tool.description && tool.description.length > 40, `${tool.name} has a description`);
    assert.ok(tool.outputSchema, `${tool.name} has an output schema`);
    const a = tool.annotations ?? {};
    for (const hint of ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"] as const) {
      assert.equal(typeof a[hint], "boolean", `${tool.name}.${hint}`);
    }
  }
  const list = tools.find((t) => t.name === "model_list");
  assert.equal(list?.annotations?.readOnlyHint, true);
  assert.equal(tools.find((t) => t.name === "model_download")?.annotations?.openWorldHint, true);
  assert.equal(sim.requests.length, 0, "nothing reaches LM Studio before the first call");
});

Deno.test("model_list reports loaded and downloaded models as text and structured data", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("model_list");
  assert.equal(result.isError, undefined);
  const text = textOf(result);
  assert.match(text, /Loaded \(1\):\n {2}• qwen\/qwen3-8b — llm, 8B, Q4_K_M/);
  assert.match(text, /Downloaded, not loaded \(6\):/);
  // From the catalogue recorded from a real LM Studio: MLX quantization objects, vision, no capabilities
  // for the embedding model.
  assert.match(text, / {2}• google\/gemma-3-4b — llm, 4B, 4bit, 3\.03 GB, vision, max context 131072\n/);
  assert.match(
    text,
    / {2}• text-embedding-nomic-embed-text-v1\.5 — embedding, Q4_K_M, 84\.11 MB, max context 2048$/,
  );
  const data = result.structuredContent as {
    models: { key: string; loaded: boolean }[];
    loaded_count: number;
  };
  assert.equal(data.loaded_count, 1);
  assert.deepEqual(data.models.map((m) => [m.key, m.loaded]), [
    ["qwen/qwen3-8b", true],
    ["qwen/qwen3-4b-2507", false],
    ["google/gemma-3-1b", false],
    ["google/gemma-3-4b", false],
    ["google/gemma-3n-e4b", false],
    ["google/gemma-3-12b", false],
    ["text-embedding-nomic-embed-text-v1.5", false],
  ]);
  const loadedOnly = await server.call("model_list", { loaded_only: true });
  assert.equal((loadedOnly.structuredContent as { models: unknown[] }).models.length, 1);
  const embeddings = await server.call("model_list", { type: "embedding" });
  assert.match(textOf(embeddings), /text-embedding-nomic/);
  assert.doesNotMatch(textOf(embeddings), /qwen/);
});

Deno.test("model_load loads, reports time and config, and sends progress while waiting", async () => {
  await using sim = LmStudioSim.start({ loadDelayMs: 500 });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, ...FAST } });
  const progress: Progress[] = [];
  const result = await server.client.callTool(
    { name: "model_load", arguments: { model: "google/gemma-3-4b", context_length: 16384 } },
    { onprogress: (p) => progress.push(p) },
  );
  assert.equal(result.isError, undefined, textOf(result as never));
  assert.match(
    textOf(result as never),
    /^Loaded google\/gemma-3-4b \(llm\) in \d+\.\d\d s — context length: 16384/,
  );
  const data = result.structuredContent as {
    instance_id: string;
    config: { context_length: number };
    requested: Record<string, unknown>;
    not_as_requested: string[];
  };
  assert.equal(data.instance_id, "google/gemma-3-4b");
  assert.equal(data.config.context_length, 16384);
  assert.deepEqual(data.requested, { context_length: 16384 });
  assert.deepEqual(data.not_as_requested, [], "LM Studio applied what was asked");
  assert.doesNotMatch(textOf(result as never), /Asked for/);
  assert.ok(progress.length >= 2, `progress notifications: ${progress.length}`);
  assert.match(progress[0]?.message ?? "", /Loading google\/gemma-3-4b/);
  assert.equal(sim.model("google/gemma-3-4b")?.loaded_instances.length, 1);
});

Deno.test("model_load says plainly when LM Studio applies a smaller context than asked", async () => {
  // As users report (lmstudio-bug-tracker#1902, #2270, #2318): the load succeeds with another context.
  await using sim = LmStudioSim.start({ loadContext: (asked) => Math.min(asked ?? 4096, 8192) });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("model_load", { model: "google/gemma-3-4b", context_length: 32768 });
  assert.equal(result.isError, undefined, textOf(result));
  assert.match(
    textOf(result),
    /\nAsked for context 32768, LM Studio applied 8192 — files and chat history are sized to 8192\. .*unload other models/,
  );
  assert.deepEqual(result.structuredContent, {
    instance_id: "google/gemma-3-4b",
    type: "llm",
    load_time_seconds: (result.structuredContent as { load_time_seconds: number }).load_time_seconds,
    config: { context_length: 8192 },
    requested: { context_length: 32768 },
    not_as_requested: ["context_length"],
    already_loaded: false,
  });
  // What later calls size files and history by: the loaded instance's context, as LM Studio lists it.
  const listed = (await server.call("model_list")).structuredContent as {
    models: { key: string; loaded_instances: { context_length: number | null }[] }[];
  };
  const gemma = listed.models.find((m) => m.key === "google/gemma-3-4b");
  assert.deepEqual(gemma?.loaded_instances.map((i) => i.context_length), [8192]);
});

Deno.test("model_load says which llama.cpp-only options an MLX model's load left out", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("model_load", {
    model: "google/gemma-3-4b",
    context_length: 8192,
    flash_attention: true,
  });
  assert.equal(result.isError, undefined, textOf(result));
  assert.match(
    textOf(result),
    /Asked for flash attention true; LM Studio's applied config does not include it \(it applies to llama\.cpp \(GGUF\) models only\)/,
  );
  assert.doesNotMatch(textOf(result), /Asked for context/);
  const data = result.structuredContent as { requested: unknown; not_as_requested: string[] };
  assert.deepEqual(data.requested, { context_length: 8192, flash_attention: true });
  assert.deepEqual(data.not_as_requested, ["flash_attention"]);
});

Deno.test("model_load does not reload an already loaded model", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("model_load", { model: "qwen/qwen3-8b" });
  assert.match(textOf(result), /already loaded as qwen\/qwen3-8b \(context 8192\)/);
  assert.equal(sim.requestsTo("POST /api/v1/models/load").length, 0);
});

Deno.test("model_load reports success when LM Studio omits the load time", async () => {
  await using sim = LmStudioSim.start({ reportLoadTime: false });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("model_load", { model: "google/gemma-3-4b" });
  assert.equal(result.isError, undefined);
  assert.match(textOf(result), /did not report the load time/);
});

Deno.test("model_load explains an unknown model and a bad argument", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const unknown = await server.call("model_load", { model: "nope/nope" });
  assert.equal(unknown.isError, true);
  assert.match(textOf(unknown), /"nope\/nope" is not a model LM Studio has downloaded.*model_download/);
  const bad = await server.call("model_load", { model: "google/gemma-3-4b", context_length: -1 });
  assert.equal(bad.isError, true);
  assert.match(textOf(bad), /context_length/);
});

Deno.test("model_load names LM_STUDIO_TIMEOUT_LOAD_MS when a load hangs", async () => {
  await using sim = LmStudioSim.start();
  sim.fault("POST /api/v1/models/load", { hang: true });
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url, LM_STUDIO_TIMEOUT_LOAD_MS: "300" },
  });
  const result = await server.call("model_load", { model: "google/gemma-3-4b" });
  assert.equal(result.isError, true);
  assert.match(textOf(result), /timed out after 300 ms — raise LM_STUDIO_TIMEOUT_LOAD_MS/);
  assert.equal((await server.call("model_list")).isError, undefined, "the server keeps working");
});

Deno.test("model_unload unloads by key or instance id and lists what is left", async () => {
  await using sim = LmStudioSim.start();
  sim.model("qwen/qwen3-8b")?.loaded_instances.push({ id: "qwen/qwen3-8b:2", config: {} });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const one = await server.call("model_unload", { model: "qwen/qwen3-8b:2" });
  assert.match(textOf(one), /^Unloaded qwen\/qwen3-8b:2\. Still loaded: qwen\/qwen3-8b\./);
  const all = await server.call("model_unload", { model: "qwen/qwen3-8b" });
  assert.match(textOf(all), /^Unloaded qwen\/qwen3-8b\. No models are loaded now\./);
  assert.deepEqual(sim.requestsTo("POST /api/v1/models/unload").map((r) => r.body), [
    { instance_id: "qwen/qwen3-8b:2" },
    { instance_id: "qwen/qwen3-8b" },
  ]);
  const none = await server.call("model_unload", { model: "qwen/qwen3-8b" });
  assert.equal(none.isError, true);
  assert.match(textOf(none), /Nothing named "qwen\/qwen3-8b" is loaded\. No models are loaded at all/);
});

Deno.test("model_unload lists the loaded models when the name matches none", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("model_unload", { model: "google/gemma-3-4b" });
  assert.equal(result.isError, true);
  assert.match(textOf(result), /Loaded now: qwen\/qwen3-8b/);
});

Deno.test("model_download follows the job to completion with byte progress", async () => {
  await using sim = LmStudioSim.start({
    catalog: { "ibm/granite-4-micro": 2_000_000_000 },
    downloadSteps: 4,
  });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, ...FAST } });
  const progress: Progress[] = [];
  const result = await server.client.callTool(
    { name: "model_download", arguments: { model: "ibm/granite-4-micro" } },
    { onprogress: (p) => progress.push(p) },
  );
  assert.equal(result.isError, undefined, textOf(result as never));
  assert.match(
    textOf(result as never),
    /^Downloaded ibm\/granite-4-micro \(2 GB\)\. Load it with model_load\./,
  );
  assert.equal((result.structuredContent as { finished: boolean }).finished, true);
  const withBytes = progress.filter((p) => p.total === 2_000_000_000);
  assert.ok(withBytes.length >= 2, JSON.stringify(progress));
  assert.ok(
    withBytes.some((p) => /downloading — \d+(\.\d)?%, .* of 2 GB, 12\.5 MB\/s/.test(p.message ?? "")),
    JSON.stringify(withBytes),
  );
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i]!.progress > progress[i - 1]!.progress);
});

Deno.test("model_download returns the job id when the poll budget runs out, and resumes with it", async () => {
  await using sim = LmStudioSim.start({ catalog: { "big/model": 1000 }, downloadSteps: 3 });
  await using server = await startInProcess({
    env: {
      LM_STUDIO_URL: sim.url,
      LM_STUDIO_DOWNLOAD_POLL_INTERVAL_MS: "10000",
      LM_STUDIO_DOWNLOAD_POLL_TIMEOUT_MS: "1",
    },
  });
  const first = await server.call("model_download", { model: "big/model" });
  assert.equal(first.isError, undefined);
  const data = first.structuredContent as { job_id: string; finished: boolean; status: string };
  assert.equal(data.finished, false);
  assert.equal(data.status, "downloading");
  assert.match(textOf(first), new RegExp(`job_id "${data.job_id}" to keep waiting`));
  let last = first;
  for (let i = 0; i < 5 && !(last.structuredContent as { finished: boolean }).finished; i++) {
    last = await server.call("model_download", { job_id: data.job_id });
  }
  assert.equal((last.structuredContent as { status: string }).status, "completed");
});

Deno.test("model_download treats an already downloaded model as success", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("model_download", { model: "qwen/qwen3-8b" });
  assert.equal(result.isError, undefined);
  assert.match(textOf(result), /already downloaded/);
  assert.equal((result.structuredContent as { status: string }).status, "already_downloaded");
});

Deno.test("model_download explains unknown models, unknown jobs and missing arguments", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const unknown = await server.call("model_download", { model: "no/such-model" });
  assert.equal(unknown.isError, true);
  assert.match(textOf(unknown), /cannot find "no\/such-model" to download/);
  const job = await server.call("model_download", { job_id: "job_gone" });
  assert.equal(job.isError, true);
  assert.match(textOf(job), /"job_gone" is unknown to LM Studio/);
  const empty = await server.call("model_download", {});
  assert.equal(empty.isError, true);
  assert.match(textOf(empty), /Pass `model`/);
});

Deno.test("every lifecycle tool turns LM Studio faults into clear errors and the server survives", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url, LM_STUDIO_TIMEOUT_DEFAULT_MS: "300" },
  });
  const calls: [string, Record<string, unknown>][] = [
    ["model_list", {}],
    ["model_load", { model: "google/gemma-3-4b" }],
    ["model_unload", { model: "qwen/qwen3-8b" }],
    ["model_download", { model: "x/y" }],
  ];
  const faults = [
    {
      fault: { status: 500, body: { error: { type: "internal_error", message: "Engine crashed" } } },
      expect: /HTTP 500: Engine crashed/,
    },
    { fault: { hang: true }, expect: /timed out after 300 ms — raise LM_STUDIO_TIMEOUT_DEFAULT_MS/ },
    { fault: { drop: true }, expect: /connection to LM Studio dropped/ },
    {
      fault: { raw: '{"error":"Unexpected endpoint or method. (GET /api/v1/models)"}' },
      expect: /0\.4\.0 or newer/,
    },
  ];
  for (const { fault, expect } of faults) {
    sim.clearFaults();
    sim.fault("GET /api/v1/models", fault);
    sim.fault("POST /api/v1/models/download", fault);
    for (const [name, args] of calls) {
      const result = await server.call(name, args);
      assert.equal(result.isError, true, `${name} with ${JSON.stringify(fault)}`);
      assert.match(textOf(result), expect, `${name}: ${textOf(result)}`);
      assert.equal(result.structuredContent, undefined);
    }
  }
  sim.clearFaults();
  assert.equal((await server.call("model_list")).isError, undefined);
});

Deno.test("tools say how to start LM Studio when it is not running", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  listener.close();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: url } });
  for (const name of ["model_list", "model_unload"]) {
    const result = await server.call(name, name === "model_list" ? {} : { model: "x" });
    assert.equal(result.isError, true);
    assert.match(textOf(result), new RegExp(`not reachable at ${url}.*Start Server.*LM_STUDIO_URL`));
  }
});

Deno.test("tools explain a missing or rejected API key", async () => {
  await using sim = LmStudioSim.start({ apiKey: "sk-lm-right" });
  {
    await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
    const result = await server.call("model_list");
    assert.match(textOf(result), /requires an API token.*set LM_STUDIO_API_KEY/);
  }
  {
    await using server = await startInProcess({
      env: { LM_STUDIO_URL: sim.url, LM_STUDIO_API_KEY: "sk-lm-wrong" },
    });
    const result = await server.call("model_list");
    assert.match(textOf(result), /rejected the API token/);
    assert.ok(!server.stderr().includes("sk-lm-wrong"), "the key is never logged");
    assert.ok(!textOf(result).includes("sk-lm-wrong"), "the key is never echoed");
  }
  {
    await using server = await startInProcess({
      env: { LM_STUDIO_URL: sim.url, LM_STUDIO_API_KEY: "sk-lm-right" },
    });
    assert.equal((await server.call("model_list")).isError, undefined);
  }
});

Deno.test("model_list shows the device serving an instance when LM Studio names it (LM Link)", async () => {
  await using sim = LmStudioSim.start();
  const qwen = sim.model("qwen/qwen3-8b")!;
  (qwen.loaded_instances[0] as unknown as Record<string, unknown>).device = { name: "gpu-box" };
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("model_list");
  assert.match(textOf(result), /instance qwen\/qwen3-8b at context 8192 on gpu-box/);
  const models =
    (result.structuredContent as { models: { loaded_instances: { device?: string }[] }[] }).models;
  assert.equal(models[0]!.loaded_instances[0]!.device, "gpu-box");
  // A device field of a shape we do not know is ignored, not an error.
  (qwen.loaded_instances[0] as unknown as Record<string, unknown>).device = 42;
  assert.equal((await server.call("model_list", { loaded_only: true })).isError, undefined);
});
