/**
 * The SSE path (`eventStream` + `toNativeEvent` + the collector) on adversarial byte chunkings: the
 * same recorded stream split at every byte must give the same result.
 */
import assert from "node:assert/strict";
import { splitThink } from "../../lib/lmstudio/inference.ts";
import { NativeChatCollector, toNativeEvent } from "../../lib/lmstudio/native_chat_endpoint.ts";
import { eventStream } from "../../lib/lmstudio/sse.ts";

/** A recorded native stream: comments, multi-line data, a multi-byte character, no final blank line. */
const RECORDED = [
  ": keep-alive comment",
  "",
  "event: chat.start",
  'data: {"type":"chat.start","model_instance_id":"qwen/qwen3-8b"}',
  "",
  "event: prompt_processing.progress",
  'data: {"type":"prompt_processing.progress","progress":0.5}',
  "",
  "event: reasoning.delta",
  'data: {"type":"reasoning.delta","content":"Hmm, "}',
  "",
  "event: reasoning.delta",
  'data: {"type":"reasoning.delta","content":"easy."}',
  "",
  "event: message.delta",
  'data: {"type":"message.delta",',
  'data: "content":"Déjà vu 🚀 "}',
  "",
  ": another comment",
  "event: message.delta",
  'data: {"type":"message.delta","content":"is 4."}',
  "",
  "event: some.future.event",
  'data: {"type":"some.future.event"}',
  "",
  "event: chat.end",
  'data: {"type":"chat.end","result":{"model_instance_id":"qwen/qwen3-8b","output":[{"type":"reasoning",' +
  '"content":"Hmm, easy."},{"type":"message","content":"Déjà vu 🚀 is 4."}],"stats":{"input_tokens":5,' +
  '"total_output_tokens":6,"reasoning_output_tokens":2,"tokens_per_second":null,"time_to_first_token_seconds":0.1}}}',
].join("\n");

function streamOf(bytes: Uint8Array, cuts: number[]): ReadableStream<Uint8Array> {
  const points = [0, ...cuts, bytes.length];
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i >= points.length - 1) return controller.close();
      controller.enqueue(bytes.slice(points[i], points[i + 1]));
      i++;
    },
  });
}

async function run(bytes: Uint8Array, cuts: number[]) {
  const collector = new NativeChatCollector();
  const types: string[] = [];
  for await (const message of eventStream(streamOf(bytes, cuts))) {
    const event = toNativeEvent(message);
    types.push(event.type);
    collector.add(event);
  }
  return { types, result: collector.result("qwen/qwen3-8b", undefined), ended: collector.ended };
}

const EXPECTED_TYPES = [
  "chat.start",
  "prompt_processing.progress",
  "reasoning.delta",
  "reasoning.delta",
  "message.delta",
  "message.delta",
  "unknown",
  "chat.end",
];

for (const [name, text] of [["LF", RECORDED], ["CRLF", RECORDED.replaceAll("\n", "\r\n")]] as const) {
  Deno.test(`every split point of a recorded ${name} stream gives the same events and answer`, async () => {
    const bytes = new TextEncoder().encode(text);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const { types, result, ended } = await run(bytes, cut === 0 || cut === bytes.length ? [] : [cut]);
      assert.deepEqual(types, EXPECTED_TYPES, `split at ${cut}`);
      assert.equal(result.answer, "Déjà vu 🚀 is 4.", `split at ${cut}`);
      assert.equal(result.reasoning, "Hmm, easy.");
      assert.equal(ended, true);
    }
  });
}

Deno.test("a stream delivered one byte at a time and in random three-way splits parses the same", async () => {
  const bytes = new TextEncoder().encode(RECORDED);
  const everyByte = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
  assert.deepEqual((await run(bytes, everyByte)).types, EXPECTED_TYPES);
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) % bytes.length;
  for (let n = 0; n < 200; n++) {
    const cuts = [random(), random()].sort((a, b) => a - b).filter((c) => c > 0);
    const { result } = await run(bytes, [...new Set(cuts)]);
    assert.equal(result.answer, "Déjà vu 🚀 is 4.", `cuts ${cuts}`);
  }
});

Deno.test("stats tolerate null numbers and chat.end is authoritative", async () => {
  const { result } = await run(new TextEncoder().encode(RECORDED), []);
  assert.equal(result.stats.tokens_per_second, null);
  assert.equal(result.stats.input_tokens, 5);
  assert.equal(result.stats.reasoning_tokens, 2);
  // Streamed: the first token is timed here, on the same clock as total_seconds.
  const ttft = result.stats.time_to_first_token_seconds;
  assert.ok(ttft !== null && ttft >= 0 && ttft <= result.stats.total_seconds, String(ttft));
  assert.equal(result.model, "qwen/qwen3-8b");
});

Deno.test("without chat.end the deltas stand in, and the collector says it did not end", async () => {
  const cut = RECORDED.slice(0, RECORDED.indexOf("event: chat.end"));
  const { result, ended } = await run(new TextEncoder().encode(cut), []);
  assert.equal(ended, false);
  assert.equal(result.answer, "Déjà vu 🚀 is 4.");
});

Deno.test("toNativeEvent maps every documented event and rejects non-JSON data", () => {
  const ev = (event: string, data: Record<string, unknown>) =>
    toNativeEvent({ event, data: JSON.stringify({ type: event, ...data }), id: undefined });
  assert.deepEqual(ev("model_load.progress", { progress: 0.3 }), {
    type: "model_load.progress",
    progress: 0.3,
  });
  assert.deepEqual(ev("model_load.end", { load_time_seconds: 2 }), {
    type: "model_load.end",
    loadTimeSeconds: 2,
  });
  assert.deepEqual(ev("tool_call.start", { tool: "search" }), { type: "tool_call.start", tool: "search" });
  assert.deepEqual(ev("tool_call.failure", { reason: "bad" }), { type: "tool_call.failure", reason: "bad" });
  assert.deepEqual(ev("error", { error: { type: "internal_error", message: "boom" } }), {
    type: "error",
    error: { message: "boom", type: "internal_error", code: undefined, param: undefined },
  });
  // The event name may be missing: the type in the data decides.
  assert.deepEqual(
    toNativeEvent({ event: undefined, id: undefined, data: '{"type":"message.delta","content":"x"}' }),
    { type: "message.delta", content: "x" },
  );
  assert.throws(() => toNativeEvent({ event: "message.delta", id: undefined, data: "{oops" }), /not JSON/);
});

Deno.test("splitThink separates inline reasoning in every shape", () => {
  assert.deepEqual(splitThink("plain"), { answer: "plain", reasoning: "" });
  assert.deepEqual(splitThink("<think>a</think>\n\nB"), { answer: "B", reasoning: "a" });
  assert.deepEqual(splitThink("x<think>a</think>y<think>b</think>z"), { answer: "xyz", reasoning: "a\n\nb" });
  assert.deepEqual(splitThink("<think>never closed"), { answer: "", reasoning: "never closed" });
  assert.deepEqual(splitThink("opened by the template</think>Answer"), {
    answer: "Answer",
    reasoning: "opened by the template",
  });
  assert.deepEqual(splitThink("<THINK>a</THINK>b"), { answer: "b", reasoning: "a" });
});

Deno.test("a chat.end result of a surprising shape, or without the message, falls back to the deltas", () => {
  for (const result of [{ output: "not a list" }, { output: [{ type: "reasoning", content: "r" }] }]) {
    const collector = new NativeChatCollector();
    collector.add({ type: "message.delta", content: "from deltas" });
    collector.add(toNativeEvent({ event: "chat.end", id: undefined, data: JSON.stringify({ result }) }));
    assert.equal(collector.ended, true);
    assert.equal(collector.result("m", undefined).answer, "from deltas");
  }
});

Deno.test("eventStream follows the WHATWG rules: line ends, comments, fields, BOM, final event, size bound", async () => {
  const parse = async (chunks: (string | Uint8Array)[], options = {}) => {
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) {
          controller.enqueue(typeof chunk === "string" ? encoder.encode(chunk) : chunk);
        }
        controller.close();
      },
    });
    const out: { event: string | undefined; id: string | undefined; data: string }[] = [];
    for await (const event of eventStream(body, options)) out.push({ ...event });
    return out;
  };
  // CRLF split between chunks, CR alone, LF alone; a BOM; a comment; data over two lines; no space.
  assert.deepEqual(
    await parse(["\ufeffevent: a\r", "\ndata: one\r\ndata:two\r\r: note\nid: 7\ndata: x\n\n"]),
    [
      { event: "a", id: undefined, data: "one\ntwo" },
      { event: undefined, id: "7", data: "x" },
    ],
  );
  // A UTF-8 sequence split across chunks, a field without a colon, an event with no data, no final blank line.
  const euro = new TextEncoder().encode("data: 5 €\n\n");
  assert.deepEqual(
    await parse([euro.slice(0, 9), euro.slice(9), "event: empty\n\ndata\n\ndata: last"]),
    [
      { event: undefined, id: undefined, data: "5 €" },
      { event: undefined, id: undefined, data: "" },
      { event: undefined, id: undefined, data: "last" },
    ],
  );
  await assert.rejects(
    parse(["data: " + "x".repeat(100) + "\n\n"], { maxBytes: 50, tooLarge: () => new Error("too large") }),
    /too large/,
  );
});
