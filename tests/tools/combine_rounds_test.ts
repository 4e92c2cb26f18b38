/**
 * `combine` when merging takes rounds and a merge after the first round fails: the failure is reported
 * (in the text and in `fanout.combine_error`), the call still succeeds, and every item's answer comes
 * back in item order — nothing merged so far is passed off as the result.
 */
import assert from "node:assert/strict";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { startInProcess } from "../support/in_process.ts";
import type { CallToolResult } from "../../server/sdk.ts";

const QWEN = "qwen/qwen3-8b";

type Data = {
  answer: string;
  items: { item: string; answer: string | null; error: string | null }[];
  fanout: { combine_rounds?: number; combine_error?: string };
};

/** About 2,400 characters in 30 long words: long answers that cost the simulator few tokens to stream. */
const LONG_WORDS = `${"finding-".repeat(10)} `.repeat(30);

const allText = (result: CallToolResult) =>
  result.content.map((block) => block.type === "text" ? block.text : "").join("\n");

Deno.test("combine: a merge that fails in a later round is reported, and every item's answer is returned", async () => {
  await using sim = LmStudioSim.start();
  sim.model(QWEN)!.loaded_instances[0]!.config.context_length = 4096;
  // Long answers everywhere (items and partial merges), so the merge needs more than one round.
  sim.chatScript = {
    reasoning: null,
    tokenDelayMs: 0,
    answer: (body) => {
      const input = String(body.input);
      if (!input.startsWith("Merge them")) {
        return `answer to ${/item \d+/.exec(input)?.[0]}: ${LONG_WORDS}end`;
      }
      return /\(This is part \d+ of \d+/.test(input) ? `${LONG_WORDS}part` : "ALL MERGED";
    },
  };
  // The first merge of merged parts (a round after the first) fails.
  sim.fault("POST /api/v1/chat", {
    status: 500,
    body: { error: "Compute error in a later round." },
    bodyIncludes: 'item=\\"part 1 of',
    times: 1,
  });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const prompts = Array.from({ length: 20 }, (_, i) => `item ${i}`);
  const result = await server.call("ask", {
    model: QWEN,
    prompt: "Review",
    prompts,
    combine: "Merge them",
    max_tokens: 400,
  });
  const text = allText(result);
  assert.equal(result.isError, undefined, text);
  const merges = sim.requestsTo("POST /api/v1/chat").filter((r) =>
    String((r.body as { input: string }).input).startsWith("Merge them")
  );
  const laterRound = merges.filter((r) => JSON.stringify(r.body).includes('item=\\"part 1 of'));
  assert.ok(laterRound.length >= 1, `a later round ran (${merges.length} merges)`);
  const data = result.structuredContent as Data;
  assert.match(data.fanout.combine_error ?? "", /Compute error in a later round/);
  assert.doesNotMatch(data.answer, /ALL MERGED/, "no merge passed off as the result");
  assert.match(text, /^combine failed: .*Compute error in a later round.*Every answer follows\./s);
  assert.deepEqual(
    data.items.map((i) => i.answer?.slice(0, 14)),
    prompts.map((p) => `answer to ${p}`.slice(0, 14)),
  );
  assert.ok(data.items.every((i) => i.error === null && i.answer?.endsWith("end")));
  for (const [i, prompt] of prompts.entries()) {
    assert.ok(
      text.includes(`[${i + 1}/20] #${i + 1}\nanswer to ${prompt}: finding`),
      `${prompt} is in the text`,
    );
  }
});
