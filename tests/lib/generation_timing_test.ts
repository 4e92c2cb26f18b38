/**
 * The timings a collector reports, on a clock the test controls: time to first token is taken at the
 * first delta (not the last), the total at the end, the speed between the first and last delta.
 */
import assert from "node:assert/strict";
import { NativeChatCollector } from "../../lib/lmstudio/native_chat_endpoint.ts";

Deno.test("time to first token is measured at the first streamed delta, on our clock", () => {
  let clock = 1_000;
  const collector = new NativeChatCollector({}, () => clock);
  clock += 250;
  collector.add({ type: "prompt_processing.progress", progress: 1 });
  clock += 250; // first token at +500 ms
  collector.add({ type: "message.delta", content: "one " });
  for (let i = 0; i < 9; i++) {
    clock += 100;
    collector.add({ type: "message.delta", content: "more " });
  }
  clock += 600; // total 2,000 ms
  const result = collector.result("qwen/qwen3-8b", undefined);
  assert.equal(result.stats.time_to_first_token_seconds, 0.5);
  assert.equal(result.stats.total_seconds, 2);
  assert.equal(result.answer.trim(), `one ${"more ".repeat(9).trim()}`);
});
