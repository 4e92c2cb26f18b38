/**
 * Contract tests for how LM Studio allocates a loaded model and reports a context overflow, from the
 * bodies quoted and captured in its bug tracker (tests/fixtures/lmstudio/README.md): the replays go
 * through our tools, and the simulator's own behaviour is pinned to them so it cannot go lenient.
 */
import assert from "node:assert/strict";
import { eventStream } from "../lib/lmstudio/sse.ts";
import capture from "./fixtures/lmstudio/v1-chat-completions.input-does-not-fit.json" with { type: "json" };
import quoted from "./fixtures/lmstudio/quoted-messages.json" with { type: "json" };
import loaded from "./fixtures/lmstudio/api-v1-models.loaded.json" with { type: "json" };
import { LmStudioSim, type SimModel } from "./support/lmstudio_sim.ts";
import { CONTEXT_EXCEEDED } from "./support/sim/engine.ts";
import { startInProcess } from "./support/in_process.ts";
import { textOf } from "./support/mcp.ts";

const QWEN = "qwen/qwen3-8b";
const GEMMA_1B = "google/gemma-3-1b";
const GEMMA_4B = "google/gemma-3-4b";

async function post(
  sim: LmStudioSim,
  path: string,
  body: unknown,
): Promise<{ status: number; type: string; text: string }> {
  const response = await fetch(sim.url + path, { method: "POST", body: JSON.stringify(body) });
  return {
    status: response.status,
    type: response.headers.get("content-type") ?? "",
    text: await response.text(),
  };
}

Deno.test("contract: the captured 200 event: error overflow (#2322) is recognised by ask and chat", async () => {
  await using sim = LmStudioSim.start();
  const replay = { raw: capture.body, contentType: capture.headers["content-type"], times: 1 };
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" } });
  sim.fault("POST /v1/chat/completions", replay);
  const ask = await server.call("ask", { model: QWEN, prompt: "hi", ttl: 60 });
  assert.equal(ask.isError, true);
  assert.equal(
    textOf(ask),
    "The prompt does not fit qwen/qwen3-8b's loaded context of 8192 tokens (LM Studio: " +
      quoted.input_does_not_fit.text +
      "). To fix: shorten the input, or reload it with model_unload then model_load with a larger context_length " +
      "(up to 32768 for this model)",
  );
  // chat: the same reply to a send with history trims the history and sends again.
  await server.call("chat", { session_id: "s", model: QWEN, message: "first" });
  sim.fault("POST /v1/chat/completions", replay);
  const sent = await server.call("chat", { session_id: "s", message: "second" });
  assert.equal(sent.isError, undefined, textOf(sent));
  assert.match(
    JSON.stringify(sent.content),
    /The 1 oldest turn was not sent because LM Studio said they do not fit/,
  );
});

Deno.test("contract: the simulator's overflow on /v1/chat/completions has the captured shape", async () => {
  await using sim = LmStudioSim.start();
  const reply = await post(sim, "/v1/chat/completions", {
    model: QWEN,
    messages: [{ role: "user", content: "word ".repeat(8000) }],
    stream: true,
  });
  assert.equal(reply.status, capture.status);
  assert.equal(reply.type, capture.headers["content-type"]);
  const shape = (text: string) => text.replace(/\d+/g, "N");
  assert.equal(shape(reply.text), shape(capture.body));
  const [event] = await Array.fromAsync(eventStream(new Response(capture.body).body!));
  assert.equal(event?.event, "error");
  assert.equal(JSON.parse(event!.data).error.message, quoted.input_does_not_fit.text);
});

Deno.test("contract: requests in flight that outgrow the shared KV cache all fail with the quoted text (#1757)", async () => {
  assert.equal(CONTEXT_EXCEEDED, quoted.context_exceeded.text);
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, tokenDelayMs: 2, answer: "w ".repeat(300) };
  // 2 × ~4,000 prompt tokens fit qwen's 8,192 together, but not with their answers.
  const body = (tag: string) => ({ model: QWEN, input: `${tag} ${"word ".repeat(3200)}`, stream: true });
  const [a, b] = await Promise.all([
    post(sim, "/api/v1/chat", body("a")),
    post(sim, "/api/v1/chat", body("b")),
  ]);
  for (const reply of [a!, b!]) {
    assert.equal(reply.status, 200);
    assert.match(
      reply.text,
      /event: error\ndata: \{"type":"error","error":\{"type":"internal_error","message":"Context size has been exceeded\."\}\}/,
    );
  }
  assert.equal(sim.contextExceeded, 1);
  // Alone, the same request fits.
  const alone = await post(sim, "/api/v1/chat", body("c"));
  assert.match(alone.text, /event: chat\.end/);
  assert.doesNotMatch(alone.text, /event: error/);
});

Deno.test("contract: the GGUF empty-stream overflow (#2339) has no content delta, counts the prompt, and reads as an overflow", async () => {
  await using sim = LmStudioSim.start({ openAiOverflow: "empty-stream" });
  const reply = await post(sim, "/v1/chat/completions", {
    model: QWEN,
    messages: [{ role: "user", content: "word ".repeat(10_000) }],
    stream: true,
    stream_options: { include_usage: true },
  });
  assert.equal(reply.status, 200);
  const chunks = reply.text.split("\n\n").filter((c) => c.startsWith("data: {")).map((c) =>
    JSON.parse(c.slice(6))
  );
  assert.ok(chunks.every((c) => !c.choices?.[0]?.delta?.content), "not one content delta");
  assert.equal(chunks.at(-1).usage.prompt_tokens, 12_500, "usage counts the prompt");
  assert.match(reply.text, /data: \[DONE\]\n\n$/);
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const ask = await server.call("ask", { model: QWEN, prompt: "word ".repeat(10_000), ttl: 60 });
  assert.match(
    textOf(ask),
    /does not fit qwen\/qwen3-8b's loaded context of 8192 tokens \(LM Studio answered with an empty generation for a prompt of 12500 tokens\)/,
  );
  assert.doesNotMatch(textOf(ask), /returned an empty answer/);
});

Deno.test("contract: a recorded MLX instance lists no parallel and is served 4 at a time (mlx-engine DEFAULT_MAX_SEQ_NUMS)", async () => {
  const instance = loaded.models.find((m) => m.key === GEMMA_1B)!.loaded_instances[0]!;
  assert.deepEqual(Object.keys(instance.config), ["context_length"], "the recording has no parallel");
  await using sim = LmStudioSim.start({ models: structuredClone(loaded.models) as SimModel[] });
  sim.chatScript = { reasoning: null, tokenDelayMs: 5, answer: "a b c d" };
  await Promise.all(
    ["1", "2", "3", "4", "5"].map((n) =>
      post(sim, "/api/v1/chat", { model: GEMMA_1B, input: n, stream: true })
    ),
  );
  assert.equal(sim.peakInFlight.get(GEMMA_1B), 4);
  // A 0.4 server's GGUF instance may list no parallel either; LM Studio still serves 4 at once.
  await using unlisted = LmStudioSim.start({ listParallel: false });
  await post(unlisted, "/api/v1/models/load", { model: "google/gemma-3-12b" });
  const listed = await (await fetch(`${unlisted.url}/api/v1/models`)).json() as { models: SimModel[] };
  assert.equal(
    listed.models.find((m) => m.key === "google/gemma-3-12b")!.loaded_instances[0]!.config.parallel,
    undefined,
  );
  const rest = await post(unlisted, "/api/v1/models/load", { model: QWEN, parallel: 2 });
  assert.equal(rest.status, 400, "the REST load takes no parallel (lmstudio-bug-tracker#2024)");
});

Deno.test("contract: concurrent first requests to an unloaded model start one instance each (#1751)", async () => {
  assert.match(quoted.jit_instances.text, /multiple instances/);
  await using sim = LmStudioSim.start({ loadDelayMs: 150 });
  sim.chatScript = { reasoning: null, answer: "ok" };
  const replies = await Promise.all(
    ["a", "b", "c"].map((input) => post(sim, "/api/v1/chat", { model: GEMMA_4B, input })),
  );
  assert.deepEqual(replies.map((r) => r.status), [200, 200, 200]);
  assert.deepEqual(
    sim.model(GEMMA_4B)!.loaded_instances.map((i) => i.id).sort(),
    [GEMMA_4B, `${GEMMA_4B}:2`, `${GEMMA_4B}:3`],
  );
  // Once one is loaded, a request goes to it.
  await post(sim, "/api/v1/chat", { model: GEMMA_4B, input: "d" });
  assert.equal(sim.model(GEMMA_4B)!.loaded_instances.length, 3);
});
