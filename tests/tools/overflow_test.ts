/**
 * Every form a context overflow takes on LM Studio, on both endpoints: an error reply, an error event in
 * a 200 stream ("Input does not fit in context length…", lmstudio-bug-tracker#2322), a 200 stream with no
 * delta at all (#2339), and "Context size has been exceeded." when requests in flight outgrow the shared
 * KV cache (#1757). `ask` gives the advice that names the loaded context; `chat` trims and retries. Calls
 * of one process share one ledger per loaded instance, so they do not overflow it together; an overflow
 * caused by another application is retried alone.
 */
import assert from "node:assert/strict";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { startInProcess } from "../support/in_process.ts";
import { textOf } from "../support/mcp.ts";
import { until } from "../support/wait.ts";

const QWEN = "qwen/qwen3-8b"; // GGUF, loaded at 8,192 tokens, at most 32,768
const FORMS = ["event-error", "error-chunk", "empty-stream"] as const;

Deno.test("ask through the OpenAI-compatible endpoint recognises every overflow form and names the fix", async () => {
  for (const openAiOverflow of FORMS) {
    await using sim = LmStudioSim.start({ openAiOverflow });
    await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
    for (const stream of [true, false]) {
      // ttl takes the OpenAI-compatible endpoint, which has no per-request context_length.
      const result = await server.call("ask", { model: QWEN, prompt: "word ".repeat(8000), ttl: 60, stream });
      const where = `${openAiOverflow} stream=${stream}`;
      assert.equal(result.isError, true, where);
      assert.match(
        textOf(result),
        /^The prompt does not fit qwen\/qwen3-8b's loaded context of 8192 tokens \(.*\)\. To fix: shorten the input, or reload it with model_unload then model_load with a larger context_length \(up to 32768 for this model/,
        `${where}: ${textOf(result)}`,
      );
    }
  }
});

Deno.test("ask names the context_length that holds the prompt when LM Studio says its size", async () => {
  const said =
    "Input does not fit in context length. The input has 10000 tokens, but the context length only " +
    "supports 8192 tokens.";
  await using sim = LmStudioSim.start({ overflowMessage: said });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  for (const stream of [true, false]) {
    const result = await server.call("ask", { model: QWEN, prompt: "word ".repeat(8000), stream });
    assert.equal(result.isError, true);
    assert.match(
      textOf(result),
      /LM Studio: Input does not fit in context length\. The input has 10000 tokens[\s\S]*pass a larger context_length \(up to 32768 for this model; 16384 holds this prompt\)/,
    );
  }
});

Deno.test("chat trims its history and retries on every overflow form", async () => {
  for (const openAiOverflow of FORMS) {
    await using sim = LmStudioSim.start({ openAiOverflow });
    // No context in the model info: only LM Studio's reply tells that the history does not fit.
    sim.model(QWEN)!.loaded_instances[0]!.config = {};
    await using server = await startInProcess({
      env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" },
    });
    const big = (tag: string) => `${tag} ${"word ".repeat(1200)}`; // ~1,500 tokens of the 4,096 loaded.
    for (const tag of ["t1", "t2"]) {
      const sent = await server.call("chat", { session_id: "s", model: QWEN, message: big(tag) });
      assert.equal(sent.isError, undefined, `${openAiOverflow}: ${textOf(sent)}`);
    }
    const last = await server.call("chat", { session_id: "s", message: big("t3") });
    assert.equal(last.isError, undefined, `${openAiOverflow}: ${textOf(last)}`);
    assert.match(JSON.stringify(last.content), /LM Studio said they do not fit/, openAiOverflow);
    assert.ok((last.structuredContent as { omitted_turns: number }).omitted_turns >= 1);
  }
});

Deno.test("two calls at once on one model are admitted by one ledger: nothing overflows the shared cache", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, tokenDelayMs: 2, answer: "w ".repeat(400) };
  // Two servers stand for two sessions (stdio and HTTP, or two HTTP clients) of one process.
  await using one = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  await using two = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  // Each prompt fits the 8,192 loaded alone (~3,900 tokens), not with the other and their answers.
  const prompt = (tag: string) => `${tag} ${"word ".repeat(3100)}`;
  const results = await Promise.all([
    one.call("ask", { model: QWEN, prompt: prompt("a") }),
    two.call("ask", { model: QWEN, prompt: prompt("b") }),
    one.call("chat", { session_id: "c", model: QWEN, message: prompt("c") }),
  ]);
  for (const result of results) assert.equal(result.isError, undefined, textOf(result));
  assert.equal(sim.contextExceeded, 0, "no overflow of the shared cache");
  assert.equal(sim.peakInFlight.get(QWEN), 1, "each waited until the other's prompt and max_tokens were out");
});

Deno.test("a shared-cache overflow caused by another application is retried alone after a pause", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, tokenDelayMs: 5, answer: "w ".repeat(300) };
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  // Another application streams a ~3,750-token prompt on the same model.
  const other = fetch(`${sim.url}/api/v1/chat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: QWEN, input: `other ${"word ".repeat(3000)}`, stream: true }),
  }).then((r) => r.text());
  await until(
    () => (sim.requestsTo("POST /api/v1/chat")[0]?.deltas ?? 0) > 0,
    "the other application to generate",
  );
  const result = await server.call("ask", {
    model: QWEN,
    prompt: `mine ${"word ".repeat(3100)}`,
    max_tokens: 400,
  });
  assert.match(await other, /Context size has been exceeded/, "the other application's request failed too");
  assert.equal(result.isError, undefined, textOf(result));
  assert.ok(sim.contextExceeded >= 1, "the shared cache did overflow");
  const mine = sim.requestsTo("POST /api/v1/chat").slice(1);
  assert.equal(mine.length, 2, "one overflowed, one retry");
  assert.ok(
    mine[1]!.startedAt > (mine[0]!.endedAt ?? mine[0]!.startedAt),
    "the retry came after the failure",
  );
});

Deno.test("a request too large on its own is not retried: it fails naming its size and the context that fits", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("ask", { model: QWEN, prompt: "word ".repeat(8000) });
  assert.equal(result.isError, true);
  assert.match(textOf(result), /n_keep: 10000 >= n_ctx: 8192/);
  assert.match(textOf(result), /16384 holds this prompt/);
  assert.equal(sim.requestsTo("POST /api/v1/chat").length, 1, "sent once");
});
