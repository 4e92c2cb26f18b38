/**
 * How much chat history is sent: what the model's loaded context leaves after the tokens kept for the
 * answer (`max_tokens`). A larger `max_tokens` leaves room for fewer past turns.
 */
import assert from "node:assert/strict";
import { openSessionStore } from "../../lib/history/sessions.ts";
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

Deno.test("chat files: Chinese text is sized at a token per character, so a file the context cannot hold is skipped with advice", async () => {
  await using tmp = await tempDir("chat-cjk");
  const sample = await Deno.readTextFile(new URL("../fixtures/tokens/chinese.md", import.meta.url));
  // ~6,000 characters: under the 3-per-token character cap of 8,192 − 2,048, about 6,000 tokens.
  await Deno.writeTextFile(`${tmp.path}/zh.md`, Array(16).fill(sample).join("\n"));
  await Deno.writeTextFile(`${tmp.path}/small.md`, "short note\n");
  await using sim = LmStudioSim.start();
  sim.model(QWEN)!.loaded_instances[0]!.config.context_length = 4096;
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" },
    roots: () => [{ uri: `file://${tmp.path}` }],
  });
  const sent = await server.call("chat", {
    session_id: "s",
    model: QWEN,
    message: "Summarise",
    files: ["."],
    max_tokens: 256,
  });
  assert.equal(sent.isError, undefined, textOf(sent));
  const files = (sent.structuredContent as {
    files: {
      read: { path: string }[];
      skipped: { path: string; reason: string; context_length?: number }[];
    };
  }).files;
  assert.deepEqual(files.read.map((f) => f.path), ["small.md"]);
  assert.equal(files.skipped[0]?.path, "zh.md");
  assert.match(files.skipped[0]!.reason, /tokens would pass the \d+ this model's context leaves/);
  assert.equal(files.skipped[0]!.context_length, 8192);
  assert.equal(sim.contextExceeded, 0);
});
