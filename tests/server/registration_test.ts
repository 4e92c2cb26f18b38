/**
 * One tool list, enforced: `tools/index.ts` is the only list of tools. The server registers exactly
 * those (in that order), each name once, and every suite that works per tool — the fault matrix, the
 * fuzzer, the byte budget, the README's tables — covers each one. A tool added to the list but left out
 * anywhere fails here. That the reference's seven tools are all there is tests/server/reference_compat_test.ts.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { TOOLS as TOOL_SPECS } from "../../tools/index.ts";
import { TOOLS as FUZZED } from "../support/fuzz.ts";
import { startInProcess } from "../support/in_process.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { TOOL_CALLS, TOOL_NAMES } from "../support/tool_calls.ts";

Deno.test("the one tool list names each tool once", () => {
  assert.equal(new Set(TOOL_NAMES).size, TOOL_SPECS.length, "no name twice");
});

Deno.test("the server registers exactly the listed tools, in the list's order", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const listed = (await server.client.listTools()).tools.map((t) => t.name);
  assert.deepEqual(listed, TOOL_NAMES);
});

Deno.test("every listed tool is covered by the fault matrix, the fuzzer and the README", async () => {
  const readme = await Deno.readTextFile(fileURLToPath(new URL("../../README.md", import.meta.url)));
  for (const name of TOOL_NAMES) {
    assert.ok(TOOL_CALLS[name], `${name} has no call in tests/support/tool_calls.ts (the fault matrix)`);
    assert.ok(FUZZED.includes(name), `${name} is not fuzzed`);
    assert.match(
      readme,
      new RegExp(`^\\| \`${name}\` `, "m"),
      `${name} has no row in the README's tool tables`,
    );
  }
  assert.deepEqual(Object.keys(TOOL_CALLS).sort(), [...TOOL_NAMES].sort(), "no call for a tool that is gone");
});
