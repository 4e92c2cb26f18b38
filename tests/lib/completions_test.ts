/**
 * OpenAI-compatible chat completions (`lib/lmstudio/completions.ts`) against the simulator over real HTTP.
 */
import assert from "node:assert/strict";
import { chatCompletion } from "../../lib/lmstudio/completions.ts";
import { ContextOverflowError, LmStudioError, StreamError } from "../../lib/errors.ts";
import { LmStudioClient } from "../../lib/lmstudio/client.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";

const QWEN = "qwen/qwen3-8b";

function client(sim: LmStudioSim, sseIdleMs = 5_000): LmStudioClient {
  return new LmStudioClient({
    baseUrl: sim.url,
    timeouts: { defaultMs: 5_000, inferenceMs: 5_000, loadMs: 5_000, sseIdleMs },
  });
}

const ask = (c: LmStudioClient, stream: boolean, extra = {}) =>
  chatCompletion(c, { model: QWEN, messages: [{ role: "user", content: "hello" }], ...extra }, stream);

Deno.test("streamed and plain completions give the same answer, reasoning and usage", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { answer: "Hi there.", reasoning: "Greeting back." };
  for (const stream of [true, false]) {
    const result = await ask(client(sim), stream);
    assert.equal(result.answer, "Hi there.");
    assert.equal(result.reasoning, "Greeting back.");
    assert.equal(result.stats.output_tokens, 4);
    assert.equal(result.stop_reason, "stop");
    assert.equal(result.model, QWEN);
  }
  const body = sim.requestsTo("POST /v1/chat/completions")[0]?.body as Record<string, unknown>;
  assert.deepEqual(body.stream_options, { include_usage: true });
});

Deno.test("inline <think> is split out, and finish_reason length is reported", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { inlineThink: true, reasoning: "hmm", answer: "one two three four five" };
  for (const stream of [true, false]) {
    const result = await ask(client(sim), stream, { max_tokens: 3 });
    assert.equal(result.stop_reason, "length");
    assert.equal(result.reasoning, "hmm");
    assert.equal(result.answer, "one two three");
  }
  const full = await ask(client(sim), true);
  assert.equal(full.answer, "one two three four five");
  assert.equal(full.reasoning, "hmm");
});

Deno.test("in-band errors, a missing [DONE], malformed chunks and overflow are handled", async () => {
  await using sim = LmStudioSim.start();
  const c = client(sim, 300);
  sim.chatScript = { fault: "error-event", answer: "a b c d", reasoning: null };
  await assert.rejects(
    ask(c, true),
    (e: unknown) => e instanceof LmStudioError && /Compute error[\s\S]*a b/.test(e.message),
  );
  sim.chatScript = { fault: "no-end", answer: "a b c d", reasoning: null };
  await assert.rejects(
    ask(c, true),
    (e: unknown) => e instanceof StreamError && /before \[DONE\][\s\S]*a b/.test(e.message),
  );
  sim.chatScript = { fault: "silent", answer: "a b c d", reasoning: null };
  await assert.rejects(
    ask(c, true),
    (e: unknown) => e instanceof StreamError && /LM_STUDIO_SSE_IDLE_TIMEOUT_MS[\s\S]*a b/.test(e.message),
  );
  sim.chatScript = { fault: "malformed", answer: "a b c d", reasoning: null };
  assert.equal((await ask(c, true)).answer, "a b c d");
  sim.chatScript = {};
  const long = [{ role: "user" as const, content: "x".repeat(40_000) }];
  for (const stream of [true, false]) {
    await assert.rejects(
      chatCompletion(c, { model: QWEN, messages: long }, stream),
      (e: unknown) => e instanceof ContextOverflowError && /loaded context of 8192 tokens/.test(e.message),
    );
  }
});
