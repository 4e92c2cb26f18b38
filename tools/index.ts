/**
 * The tools, in the order clients list them: the only list. The server registers these, `tools/list`
 * shows these, and the tests (registration, fuzzing, the fault matrix, the byte budget) take their
 * names from here. Adding a tool: write `tools/<name>.ts` (one `defineTool`), add it below, and give it
 * a case in `tests/support/tool_calls.ts`.
 *
 * @module
 */
import { ask } from "./ask/ask.ts";
import { chat } from "./chat.ts";
import { embed } from "./embed.ts";
import { modelDownload } from "./model_download.ts";
import { modelList } from "./model_list.ts";
import { modelLoad } from "./model_load.ts";
import { modelUnload } from "./model_unload.ts";
import type { ToolSpec } from "./tool.ts";

/** Every tool, in the order clients list them. */
export const TOOLS: readonly ToolSpec[] = [
  modelList,
  modelLoad,
  modelUnload,
  modelDownload,
  ask,
  chat,
  embed,
];
