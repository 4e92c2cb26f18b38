/**
 * `ask` and `embed` through an SDK client and the server built as main.ts builds it, in process (the
 * SDK's in-memory transport), against the simulator's inference routes.
 */
import assert from "node:assert/strict";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { startInProcess } from "../support/in_process.ts";
import { textOf } from "../support/mcp.ts";
import type { CallToolResult } from "../../server/sdk.ts";
import { tempDir } from "../support/temp.ts";
import { until } from "../support/wait.ts";

type Progress = { progress: number; total?: number | undefined; message?: string | undefined };
type AskData = {
  answer: string;
  reasoning: string | null;
  model: string;
  stop_reason: string;
  streamed: boolean;
  stats: Record<string, number | null>;
  json?: unknown;
};

const QWEN = "qwen/qwen3-8b";
const GEMMA = "google/gemma-3-4b";
const NOMIC = "text-embedding-nomic-embed-text-v1.5";

function texts(result: CallToolResult): string[] {
  return result.content.map((c) => c.type === "text" ? c.text : "");
}

Deno.test("ask streams an answer with reasoning kept apart, stats in text and structuredContent", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("ask", { model: QWEN, prompt: "What is 2+2?", system: "Be brief" });
  assert.equal(result.isError, undefined, textOf(result));
  const [answer, reasoning, stats] = texts(result);
  assert.equal(answer, "Echo: What is 2+2?");
  assert.match(reasoning ?? "", /^Reasoning:\nThinking about "What is 2\+2\?"/);
  assert.match(
    stats ?? "",
    /^Stats: 42\.5 tok\/s \| TTFT \d\.\d\d s \| \d+ in → 10 out \(6 reasoning\) \| qwen\/qwen3-8b/,
  );
  const data = result.structuredContent as AskData;
  assert.equal(data.answer, "Echo: What is 2+2?");
  assert.equal(data.streamed, true);
  assert.equal(data.stats.output_tokens, 10);
  assert.equal(data.stats.reasoning_tokens, 6);
  assert.equal(data.stop_reason, "stop");
  const body = sim.requestsTo("POST /api/v1/chat")[0]?.body as Record<string, unknown>;
  assert.deepEqual(body, {
    model: QWEN,
    input: "What is 2+2?",
    stream: true,
    store: false,
    system_prompt: "Be brief",
    max_output_tokens: 2048,
  });
});

Deno.test("ask without streaming, reasoning off, and every parameter passed through", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("ask", {
    model: QWEN,
    prompt: "Hi",
    stream: false,
    reasoning: "off",
    temperature: 0.2,
    max_tokens: 64,
    context_length: 8192,
  });
  assert.equal(result.isError, undefined, textOf(result));
  assert.equal(texts(result).length, 2, "no reasoning block when there is no reasoning");
  assert.equal((result.structuredContent as AskData).streamed, false);
  assert.deepEqual(sim.requestsTo("POST /api/v1/chat")[0]?.body, {
    model: QWEN,
    input: "Hi",
    stream: false,
    store: false,
    temperature: 0.2,
    max_output_tokens: 64,
    reasoning: "off",
    context_length: 8192,
  });
});

Deno.test("ask separates inline <think> reasoning, and says so when there is only reasoning", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  sim.chatScript = { inlineThink: true, reasoning: "private thoughts", answer: "Public answer." };
  for (const stream of [true, false]) {
    const result = await server.call("ask", { model: QWEN, prompt: "x", stream });
    assert.equal(textOf(result), "Public answer.");
    assert.equal((result.structuredContent as AskData).reasoning, "private thoughts");
    assert.ok(!texts(result)[0]?.includes("think"));
  }
  sim.chatScript = { reasoning: "one two three four five six", answer: "never reached" };
  const cut = await server.call("ask", { model: QWEN, prompt: "x", max_tokens: 4 });
  assert.equal(cut.isError, true);
  assert.match(
    textOf(cut),
    /produced only reasoning \(4 tokens\) and no answer, because it reached max_tokens/,
  );
  assert.match(texts(cut)[1] ?? "", /^Reasoning:\none two three four/);
});

Deno.test("ask reports JIT model loading and prompt processing as progress, and the load time", async () => {
  await using sim = LmStudioSim.start({ loadDelayMs: 450 });
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url, LM_STUDIO_HEARTBEAT_MS: "100" },
  });
  sim.chatScript = { tokenDelayMs: 30, answer: "one two three four five six seven eight" };
  const progress: Progress[] = [];
  const result = await server.client.callTool(
    { name: "ask", arguments: { model: GEMMA, prompt: "Describe" } },
    { onprogress: (p) => progress.push(p) },
  ) as CallToolResult;
  assert.equal(result.isError, undefined, textOf(result));
  assert.equal((result.structuredContent as AskData).stats.model_load_time_seconds, 0.25);
  assert.match(texts(result).at(-1) ?? "", /loaded in 0\.3 s/);
  const messages = progress.map((p) => p.message ?? "");
  assert.ok(messages.some((m) => /^Loading google\/gemma-3-4b/.test(m)), messages.join(" | "));
  assert.ok(messages.some((m) => /^Generating: \d+ tokens/.test(m)), messages.join(" | "));
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i]!.progress > progress[i - 1]!.progress);
  for (const p of progress) if (p.total !== undefined) assert.ok(p.progress <= p.total);
});

Deno.test("ask sends heartbeats while the model is silent before its first token", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url, LM_STUDIO_HEARTBEAT_MS: "100" },
  });
  sim.chatScript = { firstEventDelayMs: 700 };
  const progress: Progress[] = [];
  await server.client.callTool({ name: "ask", arguments: { model: QWEN, prompt: "x" } }, {
    onprogress: (p) => progress.push(p),
  });
  assert.ok(progress.some((p) => /still working/.test(p.message ?? "")), JSON.stringify(progress));
});

Deno.test("ask: cancelling the call aborts LM Studio's request, streamed or not", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  sim.chatScript = { tokenDelayMs: 50, answer: "word ".repeat(400) };
  for (const stream of [true, false]) {
    const controller = new AbortController();
    const call = server.client.callTool(
      { name: "ask", arguments: { model: QWEN, prompt: "long", stream } },
      { signal: controller.signal, onprogress: () => {} },
    );
    const before = sim.requestsTo("POST /api/v1/chat").length;
    await until(() => sim.requestsTo("POST /api/v1/chat").length > before, "the request to reach LM Studio");
    const request = sim.requestsTo("POST /api/v1/chat").at(-1)!;
    if (stream) await until(() => (request.deltas ?? 0) >= 2, "the answer to start streaming");
    controller.abort("user pressed stop");
    await assert.rejects(call);
    // Bounded, not timed: how fast the abort lands is measured by `deno task bench`.
    await until(() => request.abortedAt !== undefined, `stream=${stream}: LM Studio's request to be aborted`);
  }
  // The server is still fine.
  sim.chatScript = {};
  assert.equal(
    textOf(await server.call("ask", { model: QWEN, prompt: "still there?" })),
    "Echo: still there?",
  );
});

Deno.test("ask: each stream fault is a clear error, partial text is kept, and the server stays up", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url, LM_STUDIO_SSE_IDLE_TIMEOUT_MS: "300" },
  });
  const answer = "alpha beta gamma delta epsilon";
  const cases: [NonNullable<typeof sim.chatScript.fault>, RegExp][] = [
    ["drop", /connection to LM Studio dropped[\s\S]*Text received before the failure:\n\s*alpha beta/],
    [
      "error-event",
      /LM Studio reported an error while generating: LM Studio answered HTTP 200: Compute error[\s\S]*alpha beta/,
    ],
    ["silent", /timed out after 300 ms — raise LM_STUDIO_SSE_IDLE_TIMEOUT_MS[\s\S]*alpha beta/],
    ["no-end", /cut off: LM Studio's stream ended before chat\.end[\s\S]*alpha beta/],
    [
      "empty",
      /does not fit qwen\/qwen3-8b's loaded context of 8192 tokens \(LM Studio answered with an empty generation/,
    ],
  ];
  for (const [fault, expected] of cases) {
    sim.chatScript = { fault, answer, reasoning: null };
    const result = await server.call("ask", { model: QWEN, prompt: "x" });
    assert.equal(result.isError, true, fault);
    assert.match(textOf(result), expected, `${fault}: ${textOf(result)}`);
  }
  sim.chatScript = { fault: "malformed", answer, reasoning: null };
  const malformed = await server.call("ask", { model: QWEN, prompt: "x" });
  assert.equal(malformed.isError, undefined, "a malformed event is skipped; chat.end is authoritative");
  assert.equal(textOf(malformed), answer);
  assert.match(server.stderr(), /not JSON/);
  sim.chatScript = {};
  assert.equal((await server.call("model_list")).isError, undefined);
});

Deno.test("ask: a stream sent one byte per chunk over HTTP gives the same answer", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  sim.chatScript = { byteChunks: true, answer: "Ünïcödé ✓ works", reasoning: "🤔 hm" };
  const result = await server.call("ask", { model: QWEN, prompt: "x" });
  assert.equal(textOf(result), "Ünïcödé ✓ works");
  assert.equal((result.structuredContent as AskData).reasoning, "🤔 hm");
});

Deno.test("ask: the inference timeout names its variable", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url, LM_STUDIO_TIMEOUT_INFERENCE_MS: "300" },
  });
  sim.chatScript = { tokenDelayMs: 100, answer: "a b c d e f g h" };
  const result = await server.call("ask", { model: QWEN, prompt: "x" });
  assert.equal(result.isError, true);
  assert.match(textOf(result), /timed out after 300 ms — raise LM_STUDIO_TIMEOUT_INFERENCE_MS/);
});

Deno.test("ask: context overflow, as an error or as an empty stream, names the loaded context", async () => {
  for (const overflow of ["error", "empty-stream"] as const) {
    await using sim = LmStudioSim.start({ overflow });
    await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
    for (const stream of [true, false]) {
      const result = await server.call("ask", { model: QWEN, prompt: "word ".repeat(8000), stream });
      assert.equal(result.isError, true);
      assert.match(
        textOf(result),
        /does not fit qwen\/qwen3-8b's loaded context of 8192 tokens[\s\S]*pass a larger context_length \(up to 32768/,
        `${overflow} stream=${stream}`,
      );
    }
  }
});

Deno.test("ask: unknown or unloaded models and bad parameters give clear errors", async () => {
  await using sim = LmStudioSim.start({ jit: false });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const unknown = await server.call("ask", { model: "nobody/nothing", prompt: "x" });
  assert.equal(unknown.isError, true);
  assert.match(textOf(unknown), /"nobody\/nothing"[\s\S]*model_list/);
  const unloaded = await server.call("ask", { model: GEMMA, prompt: "x" });
  assert.match(
    textOf(unloaded),
    /"google\/gemma-3-4b" is not loaded in LM Studio[\s\S]*No models loaded[\s\S]*Load it with model_load/,
  );
  for (
    const [args, pattern] of [
      [{ temperature: 1.5 }, /temperature/],
      [{ max_tokens: 0 }, /max_tokens/],
      [{ max_tokens: 1.5 }, /max_tokens/],
      [{ context_length: 10 }, /context_length/],
      [{ reasoning: "extreme" }, /reasoning/],
      [{ prompt: "" }, /prompt/],
    ] as const
  ) {
    const result = await server.call("ask", { model: QWEN, prompt: "x", ...args });
    assert.equal(result.isError, true, JSON.stringify(args));
    assert.match(textOf(result), pattern);
  }
  assert.equal(sim.requestsTo("POST /api/v1/chat").length, 2, "invalid input never reaches LM Studio");
});

Deno.test("ask with images sends data URLs and rejects missing, non-image and remote inputs", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  await using dirDir = await tempDir("dir");
  const dir = dirDir.path;
  const png = `${dir}/red.png`;
  await Deno.writeFile(png, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]));
  await Deno.writeTextFile(`${dir}/notes.txt`, "not an image");
  const ok = await server.call("ask", {
    model: GEMMA,
    prompt: "What is this?",
    images: [png, "data:image/jpeg;base64,/9j/4AAA"],
  });
  assert.equal(ok.isError, undefined, textOf(ok));
  const body = sim.requestsTo("POST /api/v1/chat").at(-1)?.body as { input: unknown };
  assert.deepEqual(body.input, [
    { type: "text", content: "What is this?" },
    { type: "image", data_url: "data:image/png;base64,iVBORw0KGgoAAAAA" },
    { type: "image", data_url: "data:image/jpeg;base64,/9j/4AAA" },
  ]);
  await Deno.writeTextFile(`${dir}/bm.txt`, "BM is how this text file starts");
  await Deno.writeFile(`${dir}/anim.gif`, new TextEncoder().encode("GIF89a\x01\x00\x01\x00"));
  const requestsBefore = sim.requests.length;
  for (
    const [image, pattern] of [
      [`${dir}/missing.png`, /Cannot read an image file at/],
      [dir, /Cannot read an image file at/],
      [`${dir}/notes.txt`, /not a JPEG, PNG or WebP image/],
      [`${dir}/bm.txt`, /not a JPEG, PNG or WebP image/],
      [`${dir}/anim.gif`, /is a GIF image; LM Studio takes JPEG, PNG and WebP only. Convert it/],
      ["file:///%zz", /not a valid file:\/\/ URL/],
      ["https://example.com/cat.png", /web URL/],
      ["data:text/plain;base64,AAAA", /must look like data:image/],
      ["data:image/png;base64,QU0gbm90IGEgcG5n", /data URL is not a JPEG, PNG or WebP image/],
    ] as const
  ) {
    const result = await server.call("ask", { model: GEMMA, prompt: "x", images: [image] });
    assert.equal(result.isError, true, image);
    assert.match(textOf(result), pattern);
  }
  // Only the model checks reached LM Studio: no bad image was sent.
  assert.equal(sim.requestsTo("POST /api/v1/chat").length, 1);
  assert.ok(sim.requests.slice(requestsBefore).every((r) => r.path === "/api/v1/models"));
  const blind = await server.call("ask", { model: QWEN, prompt: "x", images: [`${dir}/missing.png`] });
  assert.equal(blind.isError, true);
  assert.match(textOf(blind), /qwen\/qwen3-8b cannot read images[\s\S]*vision/);
  const webp = "data:image/webp;base64,UklGRgAAAABXRUJQVlA4IA==";
  const structured = await server.call("ask", {
    model: GEMMA,
    prompt: "x",
    images: [webp],
    json_schema: { type: "object" },
  });
  assert.equal(structured.isError, true);
  assert.match(textOf(structured), /WebP[\s\S]*Convert it to PNG or JPEG/);
  const native = await server.call("ask", { model: GEMMA, prompt: "x", images: [webp] });
  assert.equal(native.isError, undefined, textOf(native));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("ask with json_schema uses response_format and returns the parsed JSON", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const schema = {
    type: "object",
    properties: { city: { type: "string" }, population: { type: "integer" } },
  };
  sim.chatScript = { json: { city: "Paris", population: 2100000 }, reasoning: null };
  const result = await server.call("ask", {
    model: QWEN,
    prompt: "Biggest French city?",
    json_schema: schema,
  });
  assert.equal(result.isError, undefined, textOf(result));
  assert.deepEqual((result.structuredContent as AskData).json, { city: "Paris", population: 2100000 });
  const body = sim.requestsTo("POST /v1/chat/completions")[0]?.body as Record<string, unknown>;
  assert.deepEqual(body.response_format, {
    type: "json_schema",
    json_schema: { name: "answer", strict: true, schema },
  });
  sim.chatScript = { answer: "Sorry, I cannot", reasoning: null };
  const bad = await server.call("ask", { model: QWEN, prompt: "x", json_schema: schema, stream: false });
  assert.equal(bad.isError, true);
  assert.match(textOf(bad), /did not return valid JSON[\s\S]*Sorry, I cannot/);
  const notSchema = await server.call("ask", { model: QWEN, prompt: "x", json_schema: { hello: 1 } });
  assert.match(textOf(notSchema), /must be a JSON Schema object/);
});

Deno.test("embed returns vectors in input order with a short summary", async () => {
  await using sim = LmStudioSim.start({ embeddingDimension: 16 });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const one = await server.call("embed", { model: NOMIC, input: "hello" });
  assert.equal(one.isError, undefined, textOf(one));
  assert.match(textOf(one), /^1 embedding of dimension 16 from text-embedding-nomic-embed-text-v1\.5/);
  const inputs = ["a", "b", "c", "d", "e"];
  const many = await server.call("embed", { model: NOMIC, input: inputs });
  const data = many.structuredContent as { embeddings: number[][]; dimension: number; count: number };
  assert.equal(data.count, 5);
  assert.equal(data.dimension, 16);
  assert.deepEqual(
    data.embeddings[3],
    (one.structuredContent as typeof data).embeddings[0]!.length === 16 ? data.embeddings[3] : undefined,
  );
  const again = await server.call("embed", { model: NOMIC, input: "d" });
  assert.deepEqual(
    (again.structuredContent as typeof data).embeddings[0],
    data.embeddings[3],
    "input order kept",
  );
  assert.match(textOf(many), /… and 2 more \(pass full: true/);
  assert.ok(textOf(many).length < 600, "the text does not dump the vectors");
  const full = await server.call("embed", { model: NOMIC, input: inputs, full: true });
  assert.equal(textOf(full).split("\n").filter((l) => l.startsWith("#")).length, 5);
});

Deno.test("embed validates its input and maps LM Studio's errors", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  for (
    const [input, pattern] of [
      ["", /input/],
      ["   ", /white space/],
      [[], /at least one/],
      [["ok", ""], /input/],
      [Array.from({ length: 1025 }, () => "x"), /input/],
      [42, /input must be a non-empty string or a list of 1 to 1024 non-empty strings/],
    ] as const
  ) {
    const result = await server.call("embed", { model: NOMIC, input });
    assert.equal(result.isError, true, JSON.stringify(input).slice(0, 40));
    assert.match(textOf(result), pattern);
  }
  assert.equal(sim.requestsTo("POST /v1/embeddings").length, 0);
  const llm = await server.call("embed", { model: QWEN, input: "x" });
  assert.equal(llm.isError, true);
  assert.match(
    textOf(llm),
    /qwen\/qwen3-8b is not an embedding model \(type llm\)[\s\S]*text-embedding-nomic/,
  );
  assert.equal(
    sim.requestsTo("POST /v1/embeddings").length,
    0,
    "the wrong model was refused before any call",
  );
  const unknown = await server.call("embed", { model: "nobody/embeds", input: "x" });
  assert.match(textOf(unknown), /"nobody\/embeds"[\s\S]*model_list/);
});

Deno.test("warnings reach the client as MCP log messages at the level it asked for", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const logs: { level: string; data: unknown }[] = [];
  server.client.setNotificationHandler("notifications/message", (notification) => {
    logs.push({ level: notification.params.level, data: notification.params.data });
  });
  await server.client.setLoggingLevel("warning");
  sim.chatScript = { fault: "malformed", answer: "a b c d", reasoning: null };
  assert.equal(textOf(await server.call("ask", { model: QWEN, prompt: "x" })), "a b c d");
  assert.ok(logs.some((l) => l.level === "warning" && /not JSON/.test(String(l.data))), JSON.stringify(logs));
  await server.client.setLoggingLevel("error");
  logs.length = 0;
  await server.call("ask", { model: QWEN, prompt: "x" });
  // Notifications of a call arrive before its result (one ordered transport), so nothing is pending.
  assert.deepEqual(logs, [], "below the requested level nothing is sent");
});
