/**
 * `model_list`: what LM Studio has, loaded and downloaded.
 *
 * @module
 */
import { z } from "zod";
import { formatBytes, type ModelSummary, summarizeModel } from "../lib/models.ts";
import { textAndStructured } from "./result.ts";
import { defineTool, READ_ONLY, type ToolSpec } from "./tool.ts";

const ModelSummarySchema = () =>
  z.object({
    key: z.string(),
    display_name: z.string(),
    type: z.string(),
    loaded: z.boolean(),
    loaded_instances: z.array(
      z.object({ id: z.string(), context_length: z.number().nullable(), device: z.string().optional() }),
    ),
    quantization: z.string().nullable(),
    size_bytes: z.number().nullable(),
    max_context_length: z.number().nullable(),
    format: z.string().nullable(),
    params: z.string().nullable(),
    vision: z.boolean(),
    reasoning_options: z.array(z.string()),
  });

function describe(model: ModelSummary): string {
  const parts = [
    model.type,
    model.params,
    model.quantization,
    formatBytes(model.size_bytes),
    model.vision ? "vision" : null,
    model.reasoning_options.length ? `reasoning: ${model.reasoning_options.join("/")}` : null,
  ].filter((p) => p);
  const max = model.max_context_length ? `max context ${model.max_context_length}` : null;
  const instances = model.loaded_instances.map((i) =>
    `instance ${i.id}${i.context_length ? ` at context ${i.context_length}` : ""}${
      i.device ? ` on ${i.device}` : ""
    }`
  );
  return `  • ${model.key} — ${[...parts, max, ...instances].filter((p) => p).join(", ")}`;
}

/** The `model_list` tool. */
export const modelList: ToolSpec = defineTool("model_list", () => ({
  title: "List LM Studio models",
  description:
    "List LM Studio's models, loaded first: key, type, size, context, vision, reasoning. Call it " +
    "first: other tools need the exact key.",
  inputSchema: {
    loaded_only: z.boolean().optional(),
    type: z.enum(["llm", "embedding"]).optional(),
  },
  outputSchema: {
    models: z.array(ModelSummarySchema()),
    loaded_count: z.number().int(),
    total_count: z.number().int(),
  },
  annotations: READ_ONLY,
}), async (args, deps, context) => {
  const all = (await deps.client.listModels({ signal: context.signal })).map(summarizeModel);
  const models = all.filter((m) =>
    (!args.loaded_only || m.loaded) && (args.type === undefined || m.type === args.type)
  );
  const loaded = models.filter((m) => m.loaded);
  const idle = models.filter((m) => !m.loaded);
  const lines: string[] = [];
  if (models.length === 0) {
    lines.push(
      all.length === 0
        ? "LM Studio has no models downloaded. Fetch one with model_download."
        : args.loaded_only
        ? "No models are loaded. Load one with model_load (see model_list for the keys)."
        : "No models match that filter.",
    );
  }
  if (loaded.length) lines.push(`Loaded (${loaded.length}):`, ...loaded.map(describe));
  if (idle.length) {
    lines.push(`Downloaded, not loaded (${idle.length}):`, ...idle.map(describe));
  }
  return textAndStructured(lines.join("\n"), {
    models,
    loaded_count: loaded.length,
    total_count: all.length,
  });
});
