/**
 * `model_load`: load a model into memory and wait until it is ready.
 *
 * @module
 */
import { z } from "zod";
import { LmStudioError } from "../lib/errors.ts";
import { describeAvailability, findModel } from "../lib/models.ts";
import type { NativeModel } from "../lib/schemas.ts";
import { textAndStructured } from "./result.ts";
import { defineTool } from "./tool.ts";
import { ModelKey } from "./fields.ts";

/** The `model_load` tool. */
export const modelLoad = defineTool({
  name: "model_load",
  title: "Load an LM Studio model",
  description:
    "Load a downloaded model into memory so ask/chat/embed answer fast. Waits until the model is " +
    "ready (large models can take minutes; progress is reported). If the model is already loaded " +
    "and no options are given, nothing is reloaded. Use model_list to find keys.",
  inputSchema: {
    model: ModelKey.describe("Model key from model_list, e.g. qwen/qwen3-8b"),
    context_length: z.number().int().min(256).max(16_777_216).optional()
      .describe("Context length in tokens (default: LM Studio's setting for the model)"),
    gpu: z.union([z.number().min(0).max(1), z.enum(["max", "off"])]).optional()
      .describe("GPU offload: a ratio 0..1, 'max' or 'off' (passed to LM Studio as is)"),
    flash_attention: z.boolean().optional().describe("Enable flash attention (llama.cpp only)"),
    ttl: z.number().int().min(1).max(31_536_000).optional()
      .describe("Unload automatically after this many idle seconds"),
  },
  outputSchema: {
    instance_id: z.string(),
    type: z.string().nullable(),
    load_time_seconds: z.number().nullable(),
    config: z.record(z.string(), z.unknown()),
    already_loaded: z.boolean(),
  },
  annotations: {
    readOnlyHint: false,
    destructiveHint: false,
    idempotentHint: false,
    openWorldHint: false,
  },
}, async (args, deps, context) => {
  const { signal, progress } = context;
  const hasOptions = args.context_length !== undefined || args.gpu !== undefined ||
    args.flash_attention !== undefined || args.ttl !== undefined;
  const models = await deps.client.listModels({ signal });
  const model = findModel(models, args.model);
  if (!model) throw new LmStudioError(describeAvailability(models, args.model));
  const instance = model.loaded_instances?.[0];
  if (instance && !hasOptions) {
    const context_length = instance.config?.context_length ?? null;
    return textAndStructured(
      `${model.key} is already loaded as ${instance.id}` +
        (context_length ? ` (context ${context_length})` : "") +
        `. To change its settings, model_unload it and load it again with options.`,
      {
        instance_id: instance.id,
        type: model.type,
        load_time_seconds: null,
        config: { ...(context_length ? { context_length } : {}) },
        already_loaded: true,
      },
    );
  }
  progress.update(`Loading ${model.key}`);
  const result = await deps.client.loadModel({ ...args, model: model.key }, { signal });
  const config = result.config;
  const time = result.loadTimeSeconds === undefined
    ? "(LM Studio did not report the load time)"
    : `in ${result.loadTimeSeconds.toFixed(2)} s`;
  return textAndStructured(
    `Loaded ${result.instanceId} (${result.type ?? model.type}) ${time} — ${describeConfig(config)}` +
      secondInstanceNote(model, result.instanceId),
    {
      instance_id: result.instanceId,
      type: result.type ?? model.type,
      load_time_seconds: result.loadTimeSeconds ?? null,
      config: { ...config },
      already_loaded: false,
    },
  );
});

function describeConfig(config: Readonly<Record<string, unknown>>): string {
  const parts = Object.entries(config).map(([key, value]) => `${key.replaceAll("_", " ")}: ${value}`);
  return parts.length ? parts.join(", ") : "LM Studio did not echo the load config";
}

function secondInstanceNote(model: NativeModel, instanceId: string): string {
  const others = (model.loaded_instances ?? []).filter((i) => i.id !== instanceId);
  return others.length
    ? `\nNote: ${model.key} was already loaded as ${others.map((i) => i.id).join(", ")}; this is ` +
      `another instance using more memory. model_unload the one you no longer need.`
    : "";
}
