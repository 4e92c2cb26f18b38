/**
 * Drop-in compatibility with mcp-llm-studio 3.1.5: its seven tools are all served, under the same names.
 * New tools may be added beside them (tests/server/registration_test.ts checks that each is covered).
 */
import assert from "node:assert/strict";
import { TOOL_NAMES } from "../support/tool_calls.ts";

/** The reference server's tools, as its README lists them: the names a drop-in replacement must keep. */
const REFERENCE_TOOLS = [
  "model_list",
  "model_load",
  "model_unload",
  "model_download",
  "ask",
  "chat",
  "embed",
];

Deno.test("every tool of the reference (mcp-llm-studio 3.1.5) is served under its name", () => {
  const missing = REFERENCE_TOOLS.filter((name) => !TOOL_NAMES.includes(name));
  assert.deepEqual(missing, [], "a reference tool is missing: clients configured for it would break");
});
