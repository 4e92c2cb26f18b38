/**
 * The tool list's cost to every conversation: what a model reads of `tools/list` (name, description,
 * input schema) stays within the reference's 4,625 bytes, with every tool and parameter; and the compact
 * schemas still carry what a model needs (types, enums, required fields) while the server still enforces
 * the limits it does not show.
 */
import assert from "node:assert/strict";
import { TOOL_LIST_BUDGET, visibleBytes } from "../../server/tool_list.ts";
import { startInProcess } from "../support/in_process.ts";
import { textOf } from "../support/mcp.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { TOOL_NAMES } from "../support/tool_calls.ts";

/**
 * What `mcp-llm-studio` 3.1.5, the reference, costs a model: a literal here, so raising the code's
 * constant (or miscounting in `visibleBytes`) cannot pass this test.
 */
const REFERENCE_BYTES = 4_625;

Deno.test(`tools/list: what a model reads stays within the reference's ${REFERENCE_BYTES} bytes`, async () => {
  await using server = await startInProcess({ env: { LM_STUDIO_URL: "http://127.0.0.1:9" } });
  const { tools } = await server.client.listTools();
  // Measured here, not by the code under test: the UTF-8 bytes of each name, description and input schema.
  const perTool = Object.fromEntries(tools.map((tool) => [
    tool.name,
    new TextEncoder().encode(tool.name + (tool.description ?? "") + JSON.stringify(tool.inputSchema)).length,
  ]));
  const total = Object.values(perTool).reduce((a, b) => a + b, 0);
  assert.ok(total <= REFERENCE_BYTES, `${total} bytes > ${REFERENCE_BYTES}: ${JSON.stringify(perTool)}`);
  assert.ok(TOOL_LIST_BUDGET <= REFERENCE_BYTES, `the code's budget ${TOOL_LIST_BUDGET} > the reference's`);
  assert.deepEqual(visibleBytes(tools), { perTool, total }, "the benchmark counts what a model reads");
  for (const tool of tools) {
    assert.ok(tool.description && tool.description.length >= 60, `${tool.name} says when to use it`);
    const schema = JSON.stringify(tool.inputSchema);
    assert.doesNotMatch(schema, /\$schema|"maxLength"|propertyNames/, `${tool.name}: no boilerplate`);
    assert.ok(tool.outputSchema, `${tool.name} keeps its output schema for clients`);
  }
  const ask = tools.find((t) => t.name === "ask")!.inputSchema as {
    required: string[];
    properties: Record<string, { enum?: string[]; maximum?: number }>;
  };
  assert.deepEqual(ask.required, ["model", "prompt"]);
  assert.deepEqual(ask.properties.reasoning?.enum, ["off", "on", "low", "medium", "high", "xhigh"]);
  assert.equal(ask.properties.temperature?.maximum, 1, "meaningful ranges stay visible");
  const names = tools.map((t) => t.name);
  assert.deepEqual(names, TOOL_NAMES, "every tool of the one list, in its order");
});

Deno.test("tools/list: limits left out of the visible schema are still enforced", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const long = await server.call("ask", { model: "x".repeat(300), prompt: "hi" });
  assert.equal(long.isError, true);
  assert.match(textOf(long), /model/);
  assert.equal(sim.requestsTo("POST").length, 0);
});
