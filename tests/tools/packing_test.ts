/**
 * Delegation at LM Studio's defaults (a 4,096-token context, 4 parallel slots sharing one KV cache,
 * `max_tokens` not set): `ask` reads a whole folder in packed requests combined in rounds; loads sized to
 * the job (capped by LMSTUDIO_MCP_MAX_CONTEXT, stepping down when LM Studio refuses for lack of memory,
 * never reloading a loaded model); a quarter of the context kept per answer, and cut answers flagged;
 * sizing to the smallest loaded instance; Chinese, Japanese and Korean text read without overflow; advice
 * that names the fix; cancellation through every request.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { defaultModels, LmStudioSim, type SimModel } from "../support/lmstudio_sim.ts";
import { startInProcess } from "../support/in_process.ts";
import type { CallToolResult } from "../../server/sdk.ts";
import { tempDir } from "../support/temp.ts";
import { until } from "../support/wait.ts";

const QWEN = "qwen/qwen3-8b"; // GGUF, max 32,768
const fileUrl = (path: string) => pathToFileURL(path).href;
const allText = (result: CallToolResult) =>
  result.content.map((block) => block.type === "text" ? block.text : "").join("\n");

type Packing = {
  requests: number;
  rounds: number;
  at_once: number;
  failed: number;
  context_length: number;
  max_tokens: number;
  max_tokens_source: string;
  one_pass_context_length: number | null;
  load?: { asked: number; applied: number };
  notes?: string[];
};
type Data = {
  answer: string;
  files: { read: { path: string }[]; skipped: { path: string; reason: string }[] };
  packing?: Packing;
  items?: { item: string; answer: string | null; error: string | null; cut?: boolean }[];
  fanout?: {
    context_length: number;
    max_tokens: number;
    notes?: string[];
    load?: { asked: number; applied: number };
  };
};

/** A folder of `count` files of `lines` lines each (~40 characters a line). */
async function folder(dir: string, count: number, lines: number): Promise<void> {
  for (let f = 0; f < count; f++) {
    const text = Array.from({ length: lines }, (_, i) => `file ${f} line ${i + 1}: lorem ipsum dolor sit`)
      .join("\n");
    await Deno.writeTextFile(join(dir, `f${String(f).padStart(2, "0")}.ts`), text);
  }
}

function simAt(
  context: number | undefined,
  options: Parameters<typeof LmStudioSim.start>[0] = {},
): LmStudioSim {
  const models = defaultModels();
  if (context === undefined) models[0]!.loaded_instances = [];
  else (models[0]!.loaded_instances[0]!.config as Record<string, unknown>).context_length = context;
  return LmStudioSim.start({ ...options, models });
}

const inputs = (sim: LmStudioSim) =>
  sim.requestsTo("POST /api/v1/chat").map((r) => String((r.body as { input: unknown }).input));

Deno.test("ask files at 4,096: the whole folder is read in packed requests and the answers combined", async () => {
  await using tmp = await tempDir("pack");
  await folder(tmp.path, 12, 60); // ~30,000 characters, ~10,000 tokens: three times the context
  await using sim = simAt(4096);
  sim.chatScript = {
    reasoning: null,
    answer: (body) => String(body.input).startsWith("Each answer below") ? "THE WHOLE ANSWER" : "part answer",
  };
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url },
    roots: () => [{ uri: fileUrl(tmp.path) }],
  });
  const result = await server.call("ask", { model: QWEN, prompt: "What do these files say?", files: ["."] });
  assert.equal(result.isError, undefined, allText(result));
  const data = result.structuredContent as Data;
  assert.equal(data.files.read.length, 12, "every file read");
  assert.deepEqual(data.files.skipped, []);
  assert.equal(data.answer, "THE WHOLE ANSWER");
  const packing = data.packing!;
  assert.ok(packing.requests >= 3, `three times the context takes at least 3 requests: ${packing.requests}`);
  assert.ok(packing.rounds >= 1);
  assert.equal(packing.context_length, 4096);
  // Every line of every file went to LM Studio exactly once, framed with its path.
  const sent = inputs(sim).filter((i) => !i.startsWith("Each answer below")).join("\n");
  for (let f = 0; f < 12; f++) {
    for (const line of [1, 60]) {
      const text = `file ${f} line ${line}: lorem`;
      assert.equal(sent.split(text).length - 1, 1, `${text} sent once`);
    }
  }
  assert.match(sent, /<file path="f00\.ts">/);
  assert.match(sent, /this is part 1 of \d+/);
  assert.match(
    allText(result),
    /Read in \d+ requests \(\d+ at a time\), combined in \d+ rounds?.*max_tokens 1024 kept per answer \(a quarter of the 4096-token context/,
  );
  // Already loaded: never reloaded, and the advice names the context that reads it in one pass.
  assert.equal(sim.requestsTo("POST /api/v1/models/load").length, 0);
  assert.equal(packing.one_pass_context_length, 16384);
  assert.match(
    allText(result),
    /To read everything in one request: model_unload qwen\/qwen3-8b, then model_load it with context_length 16384; or pass each: true/,
  );
  assert.equal(sim.contextExceeded, 0);
});

Deno.test("ask files: the call that loads the model sizes the load to the job, within the cap", async () => {
  await using tmp = await tempDir("load");
  await folder(tmp.path, 12, 60); // ~10,000 tokens
  for (const [cap, asked] of [[undefined, 16384], ["8192", 8192]] as const) {
    await using sim = simAt(undefined);
    sim.chatScript = { reasoning: null, answer: "ok" };
    await using server = await startInProcess({
      env: { LM_STUDIO_URL: sim.url, ...(cap ? { LMSTUDIO_MCP_MAX_CONTEXT: cap } : {}) },
      roots: () => [{ uri: fileUrl(tmp.path) }],
    });
    const result = await server.call("ask", { model: QWEN, prompt: "Summarise", files: ["."] });
    assert.equal(result.isError, undefined, allText(result));
    const loads = sim.requestsTo("POST /api/v1/models/load");
    assert.deepEqual(loads.map((r) => (r.body as { context_length: number }).context_length), [asked]);
    const packing = (result.structuredContent as Data).packing!;
    assert.deepEqual(packing.load, { asked, applied: asked });
    assert.equal(packing.requests, cap ? packing.requests : 1, "16,384 reads it in one request");
    assert.match(allText(result), new RegExp(`asked context_length ${asked}, applied ${asked}`));
    if (cap) {
      assert.match(
        allText(result),
        /LMSTUDIO_MCP_MAX_CONTEXT \(8192\) is below the context_length 16384 that would read everything/,
      );
    }
  }
});

Deno.test("ask files: past the model's maximum, the advice names the largest useful step", async () => {
  await using tmp = await tempDir("step");
  await folder(tmp.path, 40, 250); // ~400,000 characters: more than 32,768 tokens
  await using sim = simAt(4096);
  sim.chatScript = { reasoning: null, answer: "ok" };
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url },
    roots: () => [{ uri: fileUrl(tmp.path) }],
  });
  const result = await server.call("ask", { model: QWEN, prompt: "x", files: ["."] });
  assert.equal(result.isError, undefined, allText(result));
  assert.equal((result.structuredContent as Data).packing!.one_pass_context_length, null);
  assert.match(
    allText(result),
    /Even qwen\/qwen3-8b's largest context does not hold everything in one request\. The largest useful step: model_unload qwen\/qwen3-8b, then model_load it with context_length 32768/,
  );
});

Deno.test("ask files: a load refused for lack of memory steps down and says so", async () => {
  await using tmp = await tempDir("memory");
  await folder(tmp.path, 12, 60);
  await using sim = simAt(undefined, { memoryLimitContext: 8192 });
  sim.chatScript = { reasoning: null, answer: "ok" };
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url },
    roots: () => [{ uri: fileUrl(tmp.path) }],
  });
  const result = await server.call("ask", { model: QWEN, prompt: "Summarise", files: ["."] });
  assert.equal(result.isError, undefined, allText(result));
  const asked = sim.requestsTo("POST /api/v1/models/load").map((r) =>
    (r.body as { context_length: number }).context_length
  );
  assert.deepEqual(asked, [16384, 8192]);
  const data = result.structuredContent as Data;
  assert.deepEqual(data.packing!.load, { asked: 8192, applied: 8192 });
  assert.match(allText(result), /LM Studio refused 16384 for lack of memory/);
  assert.equal(data.files.read.length, 12, "and the folder is still read whole");
});

Deno.test("each: max_tokens not set keeps a quarter of the context per answer; a cut answer is flagged", async () => {
  await using sim = simAt(4096);
  sim.chatScript = {
    reasoning: null,
    tokenDelayMs: 1,
    answer: (body) => String(body.input).includes("long") ? "w ".repeat(1500) : "w ".repeat(100),
  };
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("ask", {
    model: QWEN,
    prompt: "Answer",
    prompts: ["short one", "long one", "short two"],
  });
  assert.equal(result.isError, undefined, allText(result));
  const sentMax = sim.requestsTo("POST /api/v1/chat").map((r) =>
    (r.body as { max_output_tokens: number }).max_output_tokens
  );
  assert.deepEqual(sentMax, [1024, 1024, 1024]);
  const data = result.structuredContent as Data;
  assert.equal(data.fanout!.max_tokens, 1024);
  assert.deepEqual(data.items!.map((i) => i.cut ?? false), [false, true, false]);
  assert.match(allText(result), /1 answer was cut at max_tokens 1024: pass a larger max_tokens/);
  assert.match(allText(result), /max_tokens 1024 kept per answer \(a quarter of the 4096-token context/);
  assert.ok((sim.peakInFlight.get(QWEN) ?? 0) >= 3, "small items run several at once at 4,096");
});

Deno.test("sizing follows the smallest loaded instance of a model and names the others", async () => {
  const models: SimModel[] = defaultModels();
  const qwen = models[0]!;
  qwen.loaded_instances.push({ id: `${QWEN}:2`, config: { context_length: 4096, parallel: 4 } });
  await using sim = LmStudioSim.start({ models });
  sim.chatScript = { reasoning: null, answer: "ok" };
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("ask", { model: QWEN, prompt: "x", prompts: ["a", "b"] });
  const data = result.structuredContent as Data;
  assert.equal(data.fanout!.context_length, 4096, "not the 8,192 of the first instance");
  assert.match(
    data.fanout!.notes?.join(" ") ?? "",
    /2 loaded instances \(qwen\/qwen3-8b:2 at 4096, qwen\/qwen3-8b at 8192\)/,
  );
});

Deno.test("Chinese, Japanese and Korean files at 4,096: read whole, nothing overflows", async () => {
  await using tmp = await tempDir("cjk");
  for (const name of ["chinese", "japanese", "korean"]) {
    const sample = await Deno.readTextFile(new URL(`../fixtures/tokens/${name}.md`, import.meta.url));
    // ~3,300 characters of one script: more than a 4,096-token context holds with its answer.
    await Deno.writeTextFile(join(tmp.path, `${name}.md`), Array(9).fill(sample).join("\n"));
  }
  await using sim = simAt(4096);
  sim.chatScript = { reasoning: null, answer: "ok" };
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url },
    roots: () => [{ uri: fileUrl(tmp.path) }],
  });
  for (const each of [false, true]) {
    const result = await server.call("ask", { model: QWEN, prompt: "要約してください", files: ["."], each });
    assert.equal(result.isError, undefined, allText(result));
    const data = result.structuredContent as Data;
    assert.equal(data.files.read.length, 3);
    assert.ok((data.items ?? []).every((i) => i.error === null), allText(result));
  }
  assert.equal(sim.contextExceeded, 0);
  const refused = sim.requests.filter((r) =>
    r.path === "/api/v1/chat" && r.endedAt === undefined && r.abortedAt === undefined
  );
  assert.equal(refused.length, 0, "no prompt was refused as larger than the context");
});

Deno.test("ask files: cancelling stops every request in flight and starts no more", async () => {
  await using tmp = await tempDir("cancel");
  await folder(tmp.path, 12, 60);
  await using sim = simAt(4096);
  sim.chatScript = { reasoning: null, tokenDelayMs: 50, answer: "word ".repeat(200) };
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url },
    roots: () => [{ uri: fileUrl(tmp.path) }],
  });
  const controller = new AbortController();
  const call = server.client.callTool(
    { name: "ask", arguments: { model: QWEN, prompt: "x", files: ["."] } },
    { signal: controller.signal, onprogress: () => {} },
  );
  await until(() => sim.requestsTo("POST /api/v1/chat").some((r) => (r.deltas ?? 0) > 0), "a part to stream");
  controller.abort("stop");
  await assert.rejects(call);
  const sent = sim.requestsTo("POST /api/v1/chat");
  await until(
    () => sent.every((r) => r.abortedAt !== undefined || r.endedAt !== undefined),
    "every request to end",
  );
  const count = sent.length;
  assert.ok(sent.some((r) => r.abortedAt !== undefined), "the one in flight was aborted");
  await until(async () => {
    await new Promise((resolve) => setTimeout(resolve, 0));
    return true;
  }, "a turn of the event loop");
  assert.equal(sim.requestsTo("POST /api/v1/chat").length, count, "no request started after the cancel");
});

Deno.test("ask files: when the merge fails, every part's answer comes back with the reason", async () => {
  await using tmp = await tempDir("merge-fails");
  await folder(tmp.path, 12, 60);
  await using sim = simAt(4096);
  sim.chatScript = { reasoning: null, answer: "part answer" };
  sim.fault("POST /api/v1/chat", {
    status: 500,
    body: { error: { type: "internal_error", message: "Compute error." } },
    bodyIncludes: "Each answer below",
  });
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url },
    roots: () => [{ uri: fileUrl(tmp.path) }],
  });
  const result = await server.call("ask", { model: QWEN, prompt: "x", files: ["."] });
  assert.equal(result.isError, undefined, allText(result));
  const data = result.structuredContent as Data;
  assert.match(data.answer, /^Combining the answers of the \d+ parts failed: .*Compute error/);
  assert.ok(data.items!.length >= 3 && data.items!.every((i) => i.answer === "part answer"));
  assert.match(data.items![0]!.item, /^part 1 of \d+: f00\.ts/);
});
