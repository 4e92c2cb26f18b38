/**
 * `ask`'s list bounds as a table: at the limit a call is accepted, one over it is an input error that
 * names the parameter and the limit, before any request reaches LM Studio.
 */
import assert from "node:assert/strict";
import { startInProcess } from "../support/in_process.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { textOf } from "../support/mcp.ts";

const QWEN = "qwen/qwen3-8b";
const GEMMA = "google/gemma-3-4b";
const PNG =
  "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

Deno.test("ask: prompts up to 200 and images up to 10 are accepted; one more is refused before LM Studio", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const cases: [what: string, args: Record<string, unknown>, refused: RegExp | undefined][] = [
    [
      "200 prompts",
      { model: QWEN, prompt: "Say", prompts: Array.from({ length: 200 }, (_, i) => `p${i}`) },
      undefined,
    ],
    [
      "201 prompts",
      { model: QWEN, prompt: "Say", prompts: Array.from({ length: 201 }, (_, i) => `p${i}`) },
      /prompts/,
    ],
    ["10 images", { model: GEMMA, prompt: "See", images: Array(10).fill(PNG) }, undefined],
    ["11 images", { model: GEMMA, prompt: "See", images: Array(11).fill(PNG) }, /images/],
  ];
  for (const [what, args, refused] of cases) {
    const before = sim.requests.filter((r) => r.method === "POST").length;
    const result = await server.call("ask", args);
    const posted = sim.requests.filter((r) => r.method === "POST").length - before;
    if (refused) {
      assert.equal(result.isError, true, what);
      assert.match(textOf(result), refused, what);
      assert.match(textOf(result), /200|10/, `${what}: the limit is named`);
      assert.equal(posted, 0, `${what}: nothing is sent to LM Studio`);
    } else {
      assert.equal(result.isError, undefined, `${what}: ${textOf(result)}`);
      assert.ok(posted >= 1, what);
    }
  }
});
