/**
 * The fan-out as LM Studio really allocates a loaded model (the simulator models it: parallel slots and
 * one KV cache the requests in flight share): items sized and admitted so that those running together fit
 * the loaded context, the width and where it came from, deadlines that start when LM Studio starts an
 * item, skipped files that name the context_length that reads them, `each` with a context_length the
 * loaded instance does not have, and `combine` in rounds that keeps every answer when it fails.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { defaultModels, LmStudioSim, type SimModel } from "../support/lmstudio_sim.ts";
import { startInProcess } from "../support/in_process.ts";
import { textOf } from "../support/mcp.ts";
import type { CallToolResult } from "../../server/sdk.ts";
import { tempDir } from "../support/temp.ts";
import loaded from "../fixtures/lmstudio/api-v1-models.loaded.json" with { type: "json" };

const QWEN = "qwen/qwen3-8b";
const GEMMA_1B = "google/gemma-3-1b";
const fileUrl = (path: string) => pathToFileURL(path).href;

type Item = { item: string; answer: string | null; error: string | null };
type Fanout = {
  width: number;
  width_source: string;
  at_once: number;
  context_length: number;
  combine_rounds?: number;
  combine_error?: string;
  notes?: string[];
};
type Files = {
  read: { path: string }[];
  skipped: { path: string; reason: string; context_length?: number }[];
  include?: { files: number; context_length: number | null; beyond_max: number; how: string };
};
type Data = { answer: string; items: Item[]; fanout: Fanout; files?: Files };

/** A simulator whose qwen (GGUF, 4 slots) is loaded at `context` tokens. */
function simAt(context: number, options: Parameters<typeof LmStudioSim.start>[0] = {}): LmStudioSim {
  const sim = LmStudioSim.start(options);
  sim.model(QWEN)!.loaded_instances[0]!.config.context_length = context;
  return sim;
}

/** Every text block of a result. */
const allText = (result: CallToolResult) =>
  result.content.map((block) => block.type === "text" ? block.text : "").join("\n");

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(join(dir, name), text);
}

/** Prose of about `chars` characters. */
const prose = (chars: number, tag: string) =>
  `${tag} ${"lorem ipsum dolor ".repeat(Math.ceil(chars / 18))}`.slice(0, chars);

Deno.test("each: large files on a 4,096-token model with 4 slots run so that those in flight fit the context", async () => {
  await using tmp = await tempDir("fit");
  const names = Array.from({ length: 8 }, (_, i) => `part${i}.md`);
  await writeFiles(tmp.path, Object.fromEntries(names.map((n) => [n, prose(4400, n)])));
  await using sim = simAt(4096);
  sim.chatScript = {
    reasoning: null,
    tokenDelayMs: 2,
    answer: (body) => `summary of ${/part\d/.exec(String(body.input))?.[0]}`,
  };
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url },
    roots: () => [{ uri: fileUrl(tmp.path) }],
  });
  const result = await server.call("ask", { model: QWEN, prompt: "Summarise", files: ["."], each: true });
  assert.equal(result.isError, undefined, textOf(result));
  const data = result.structuredContent as Data;
  assert.deepEqual(data.items.map((i) => i.error), names.map(() => null), JSON.stringify(data.items));
  assert.deepEqual(data.items.map((i) => i.answer), names.map((n) => `summary of ${n.slice(0, 5)}`));
  assert.equal(sim.contextExceeded, 0, "the requests in flight never outgrew the shared context");
  assert.equal(
    data.fanout.at_once,
    1,
    "a ~1,500-token file and max_tokens 2048 leave room for one at a time",
  );
  assert.equal(data.fanout.width, 4);
  assert.match(
    allText(result),
    /1 at a time \(width 4: the loaded instance's parallel slots; fewer than 4 because/,
  );

  // A lower max_tokens leaves room for more at once, still within the context.
  const lower = await server.call("ask", {
    model: QWEN,
    prompt: "Summarise",
    files: ["."],
    each: true,
    max_tokens: 300,
  });
  const more = lower.structuredContent as Data;
  assert.ok(more.items.every((i) => i.error === null), textOf(lower));
  assert.equal(more.fanout.at_once, 2);
  assert.equal(sim.contextExceeded, 0);
  assert.ok((sim.peakInFlight.get(QWEN) ?? 0) <= 2);
});

Deno.test("width: the call's parallel, then LMSTUDIO_MCP_PARALLEL, then LM Studio's parallel, then 4; the result says which", async () => {
  const prompts = Array.from({ length: 8 }, (_, i) => `item ${i}`);
  const run = async (env: Record<string, string>, args: Record<string, unknown>, options = {}) => {
    await using sim = LmStudioSim.start(options);
    sim.chatScript = { reasoning: null, tokenDelayMs: 5, answer: "one two three four" };
    await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, ...env } });
    const result = await server.call("ask", { model: QWEN, prompt: "Tag", prompts, max_tokens: 50, ...args });
    assert.equal(result.isError, undefined, textOf(result));
    const data = result.structuredContent as Data;
    return { fanout: data.fanout, peak: sim.peakInFlight.get(QWEN), text: allText(result) };
  };
  const listed = await run({}, {});
  assert.deepEqual([listed.fanout.width, listed.fanout.width_source, listed.peak], [4, "LM Studio", 4]);
  const call = await run({}, { parallel: 2 });
  assert.deepEqual([call.fanout.width, call.fanout.width_source, call.fanout.at_once, call.peak], [
    2,
    "parallel",
    2,
    2,
  ]);
  assert.match(call.text, /2 at a time \(width 2: the call's parallel\)/);
  const env = await run({ LMSTUDIO_MCP_PARALLEL: "3" }, {});
  assert.deepEqual([env.fanout.width, env.fanout.width_source, env.peak], [3, "LMSTUDIO_MCP_PARALLEL", 3]);
  const both = await run({ LMSTUDIO_MCP_PARALLEL: "3" }, { parallel: 1 });
  assert.deepEqual([both.fanout.width, both.fanout.width_source, both.peak], [1, "parallel", 1]);
  // A 0.4 server lists no parallel: LM Studio's default of 4, said as such.
  const unlisted = await run({}, {}, { listParallel: false, models: unloadedQwen() });
  assert.deepEqual([unlisted.fanout.width, unlisted.fanout.width_source, unlisted.peak], [4, "default", 4]);
  assert.match(unlisted.text, /width 4: LM Studio's default; the loaded instance lists no parallel/);
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const alone = await server.call("ask", { model: QWEN, prompt: "x", parallel: 2 });
  assert.equal(alone.isError, true);
  assert.match(textOf(alone), /parallel sets how many requests of each or prompts run at once/);
});

/** The default catalogue with qwen not loaded (each then loads it, as a 0.4 server lists it). */
function unloadedQwen(): SimModel[] {
  const models = defaultModels();
  models[0]!.loaded_instances = [];
  return models;
}

Deno.test("each: an item's deadline starts when LM Studio starts it, not while MLX serves the others", async () => {
  // The recorded MLX instance lists no parallel; here it serves one request at a time, four are sent at once.
  await using sim = LmStudioSim.start({
    models: structuredClone(loaded.models) as SimModel[],
    mlxParallel: 1,
  });
  sim.chatScript = { reasoning: null, tokenDelayMs: 50, answer: "a b c d e f" }; // ~300 ms each
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url, LM_STUDIO_TIMEOUT_INFERENCE_MS: "1000" },
  });
  const result = await server.call("ask", {
    model: GEMMA_1B,
    prompt: "x",
    prompts: ["1", "2", "3", "4", "5"],
    max_tokens: 50,
  });
  const data = result.structuredContent as Data;
  assert.deepEqual(data.items.map((i) => i.error), [null, null, null, null, null], allText(result));
  assert.equal(data.fanout.width, 4, "sent four at once");
  assert.equal(sim.peakInFlight.get(GEMMA_1B), 1, "served one at a time");
});

Deno.test("each: a file larger than one request is read in parts at line boundaries, its answers merged into one", async () => {
  await using tmp = await tempDir("advice");
  const lines = (n: number, tag: string) =>
    Array.from({ length: n }, (_, i) => `${tag} line ${i + 1} lorem ipsum dolor`).join("\n");
  await writeFiles(tmp.path, { "a.md": lines(20, "a"), "c.md": lines(400, "c") }); // c: ~12,000 characters
  await using sim = simAt(4096);
  sim.chatScript = {
    reasoning: null,
    answer: (body) => String(body.input).startsWith("Each answer below") ? "c as a whole" : "part",
  };
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url },
    roots: () => [{ uri: fileUrl(tmp.path) }],
  });
  const each = await server.call("ask", { model: QWEN, prompt: "Review", files: ["."], each: true });
  assert.equal(each.isError, undefined, allText(each));
  const data = each.structuredContent as Data;
  assert.deepEqual(data.files!.read.map((f) => f.path), ["a.md", "c.md"]);
  assert.deepEqual(data.items.map((i) => [i.item, i.answer]), [["a.md", "part"], ["c.md", "c as a whole"]]);
  // The parts went to LM Studio framed with their line ranges, covering every line once, in order.
  const inputs = sim.requestsTo("POST /api/v1/chat").map((r) => String((r.body as { input: string }).input));
  const ranges = inputs.flatMap((i) => [...i.matchAll(/<file path="c\.md" lines="(\d+)-(\d+)" of="400">/g)]);
  assert.ok(ranges.length >= 2, inputs.map((i) => i.slice(0, 80)).join("\n"));
  let next = 1;
  for (const range of ranges) {
    assert.equal(Number(range[1]), next);
    next = Number(range[2]) + 1;
  }
  assert.equal(next, 401);
  assert.match(inputs.at(-1)!, /^Each answer below answers the same prompt over a different part of c\.md/);
  assert.match(allText(each), /1 file was larger than one request and was read in parts at line boundaries/);
  assert.equal(sim.contextExceeded, 0);
});

Deno.test("each with context_length on a model loaded smaller: sized to what is loaded, and says so", async () => {
  await using tmp = await tempDir("smaller");
  await writeFiles(tmp.path, { "small.md": prose(800, "small"), "big.md": prose(20_000, "big") });
  await using sim = simAt(4096);
  sim.chatScript = { reasoning: null, answer: "ok" };
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url },
    roots: () => [{ uri: fileUrl(tmp.path) }],
  });
  const result = await server.call("ask", {
    model: QWEN,
    prompt: "Review",
    files: ["."],
    each: true,
    context_length: 16384,
  });
  assert.equal(result.isError, undefined, allText(result));
  const data = result.structuredContent as Data;
  assert.ok(data.items.every((i) => i.error === null), "no item overflowed the 4,096 loaded");
  assert.deepEqual(
    data.items.map((i) => i.item),
    ["big.md", "small.md"],
    "big.md: one long line, cut within itself",
  );
  assert.equal(data.fanout.context_length, 4096);
  assert.match(
    data.fanout.notes?.[0] ?? "",
    /context_length 16384 was not applied: qwen\/qwen3-8b is already loaded at 4096 tokens/,
  );
  assert.match(allText(result), /To use 16384: model_unload, then model_load with context_length 16384/);
  assert.deepEqual(data.files!.skipped, []);
  assert.equal(sim.requestsTo("POST /api/v1/models/load").length, 0, "the loaded instance is left alone");
});

Deno.test("combine: answers too large for one prompt are merged in rounds, each within the context", async () => {
  await using sim = simAt(4096);
  sim.chatScript = {
    reasoning: null,
    answer: (body) => {
      const input = String(body.input);
      if (input.startsWith("Merge")) {
        return /part \d+ of \d+: merge/.test(input) ? "PART MERGED" : "ALL MERGED";
      }
      return `${"finding ".repeat(300)}end`;
    },
  };
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const prompts = Array.from({ length: 12 }, (_, i) => `item ${i}`);
  const result = await server.call("ask", {
    model: QWEN,
    prompt: "Review",
    prompts,
    combine: "Merge them",
    max_tokens: 400,
  });
  assert.equal(result.isError, undefined, allText(result));
  const data = result.structuredContent as Data;
  assert.equal(data.answer, "ALL MERGED");
  assert.equal(data.fanout.combine_rounds, 2);
  assert.match(allText(result), /combine merged in 2 rounds to fit the context/);
  const merges = sim.requestsTo("POST /api/v1/chat").filter((r) =>
    String((r.body as { input: string }).input).startsWith("Merge")
  );
  assert.ok(merges.length >= 3, `${merges.length} merges: the parts, then the parts merged`);
  assert.equal(sim.contextExceeded, 0);
  assert.ok(data.items.every((i) => i.answer?.endsWith("end")), "every item's answer is still returned");
});

Deno.test("combine: when it fails, every item's answer comes back with the combine error beside them", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, answer: (body) => `answer to ${String(body.input).slice(-2)}` };
  sim.fault("POST /api/v1/chat", {
    status: 500,
    body: { error: "Compute error." },
    bodyIncludes: "Merge them",
  });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("ask", {
    model: QWEN,
    prompt: "Q",
    prompts: ["p1", "p2", "p3"],
    combine: "Merge them",
    max_tokens: 50,
  });
  assert.equal(result.isError, undefined, "the items answered, so the call did not fail");
  const data = result.structuredContent as Data;
  assert.deepEqual(data.items.map((i) => i.answer), ["answer to p1", "answer to p2", "answer to p3"]);
  assert.match(data.fanout.combine_error ?? "", /Compute error/);
  assert.match(
    textOf(result),
    /^combine failed: .*Compute error.*Every answer follows\.\n\n\[1\/3\] #1\nanswer to p1/s,
  );
});
