/**
 * One call of every tool that reaches LM Studio, keyed by tool name. The fault matrix runs each under
 * every fault; the registration test checks that every tool of `tools/index.ts` has one, so a new tool
 * cannot be left out of the matrix (or the fuzzer, which takes its names from the same list).
 *
 * @module
 */
import { TOOLS } from "../../tools/index.ts";

const QWEN = "qwen/qwen3-8b";

/** The tools' names, from the one list. */
export const TOOL_NAMES: readonly string[] = TOOLS.map((tool) => tool.name);

/** A call of each tool that reaches LM Studio (against the simulator's default catalogue). */
export const TOOL_CALLS: Readonly<Record<string, Record<string, unknown>>> = {
  model_list: {},
  model_load: { model: "google/gemma-3-4b" },
  model_unload: { model: QWEN },
  model_download: { model: "ibm/granite-4-micro" },
  ask: { model: QWEN, prompt: "hi" },
  chat: { session_id: "matrix", model: QWEN, message: "hi" },
  embed: { model: "text-embedding-nomic-embed-text-v1.5", input: "hi" },
};
