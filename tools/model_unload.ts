/**
 * `model_unload`: free the memory a loaded model holds.
 *
 * @module
 */
import { z } from "zod";
import { LmStudioError } from "../lib/errors.ts";
import { loadedInstances, resolveUnloadTargets } from "../lib/models.ts";
import { ModelKey } from "./fields.ts";
import { textAndStructured } from "./result.ts";
import { defineTool, type ToolSpec } from "./tool.ts";

/** The `model_unload` tool. */
export const modelUnload: ToolSpec = defineTool("model_unload", () => ({
  title: "Unload an LM Studio model",
  description: "Unload a model key (all its instances) or one instance id (key:2) to free memory.",
  inputSchema: {
    model: ModelKey(),
  },
  outputSchema: {
    unloaded: z.array(z.string()),
    still_loaded: z.array(z.string()),
  },
  annotations: {
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: true,
    openWorldHint: false,
  },
}), async (args, deps, { signal }) => {
  const models = await deps.client.listModels({ signal });
  const targets = resolveUnloadTargets(models, args.model);
  if (targets.length === 0) {
    const loaded = loadedInstances(models).map((i) => i.id);
    throw new LmStudioError(
      `Nothing named "${args.model}" is loaded. ` +
        (loaded.length
          ? `Loaded now: ${loaded.join(", ")}. Pass one of those`
          : "No models are loaded at all, so there is nothing to unload"),
    );
  }
  const unloaded: string[] = [];
  for (const id of targets) unloaded.push(await deps.client.unloadModel(id, { signal }));
  const still = loadedInstances(models).map((i) => i.id).filter((id) => !targets.includes(id));
  return textAndStructured(
    `Unloaded ${unloaded.join(", ")}.` +
      (still.length ? ` Still loaded: ${still.join(", ")}.` : " No models are loaded now."),
    { unloaded, still_loaded: still },
  );
});
