/**
 * How much chat history is sent: what the model's loaded context leaves after the tokens kept for the
 * answer (`max_tokens`). A larger `max_tokens` leaves room for fewer past turns.
 */
import assert from "node:assert/strict";
import { openSessionStore } from "../../lib/sessions.ts";
import { startInProcess } from "../support/in_process.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { textOf } from "../support/mcp.ts";
import { tempDir } from "../support/temp.ts";

const QWEN = "qwen/qwen3-8b"; // loaded at 8,192 tokens in the simulator

Deno.test("chat history budget: the tokens kept for the answer are taken from the context first", async () => {
  await using tmp = await tempDir("chat-budget");
  const db = `${tmp.path}/sessions.db`;
  const store = openSessionStore(db);
  for (const id of ["small-answer", "large-answer"]) {
    for (let i = 0; i < 20; i++) {
      store.appendTurn(id, i, null, {
        user: `u${i} ${"x".repeat(500)}`,
        assistant: `a${i} ${"y".repeat(500)}`,
        reasoning: null,
        model: QWEN,
        prompt_tokens: null,
        completion_tokens: null,
      });
    }
  }
  store.close();
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: db } });
  const omitted = async (session: string, maxTokens: number) => {
    const result = await server.call("chat", { session_id: session, message: "next", max_tokens: maxTokens });
    assert.equal(result.isError, undefined, textOf(result));
    return (result.structuredContent as { omitted_turns: number }).omitted_turns;
  };
  // 8,192 − 100 − margin leaves room for all 20 turns (~20,000 characters at 3 per token);
  // 8,192 − 6,000 − margin for about 6,400 characters: most turns must stay behind.
  assert.equal(await omitted("small-answer", 100), 0);
  const large = await omitted("large-answer", 6000);
  assert.ok(large >= 12 && large < 20, `omitted ${large} turns`);
});
