/**
 * `model_load`: load a model into memory and wait until it is ready.
 *
 * @module
 */
import { z } from "zod";
import { LmStudioError } from "../lib/errors.ts";
import { LOAD_OPTIONS } from "../lib/lmstudio/client.ts";
import { describeAvailability, findModel } from "../lib/lmstudio/models.ts";
import type { NativeModel } from "../lib/lmstudio/schemas.ts";
import { textAndStructured } from "./common/result.ts";
import { defineTool, type ToolSpec } from "./tool.ts";
import { HostField, ModelKey } from "./common/fields.ts";
import { hostWithModel } from "./common/route.ts";

/** Models at least this large load slowly enough to be worth a task. */
const LARGE_MODEL_BYTES = 1_000_000_000;

/** The `model_load` tool. */
export const modelLoad: ToolSpec = defineTool("model_load", () => ({
  title: "Load an LM Studio model",
  description: "Load a downloaded model and wait until ready. Optional (ask/chat/embed load on demand): " +
    "to set context_length or preload.",
  inputSchema: {
    model: ModelKey(),
    context_length: z.number().int().min(256).max(16_777_216).optional(),
    eval_batch_size: z.number().int().min(1).max(1_048_576).optional(),
    flash_attention: z.boolean().optional(),
    num_experts: z.number().int().min(1).max(1024).optional(),
    offload_kv_cache_to_gpu: z.boolean().optional(),
    gpu: z.union([z.number().min(0).max(1), z.enum(["max", "off"])], {
      error: 'gpu must be a number from 0 to 1, "max" or "off"',
    }).optional().describe("Not applied"),
    ttl: z.number().int().min(1).max(31_536_000).optional()
      .describe("Not applied; pass ttl to ask"),
    host: HostField(),
  },
  outputSchema: {
    instance_id: z.string(),
    type: z.string().nullable(),
    load_time_seconds: z.number().nullable(),
    config: z.record(z.string(), z.unknown()),
    requested: z.record(z.string(), z.unknown()),
    not_as_requested: z.array(z.string()),
    already_loaded: z.boolean(),
    host: z.string().optional(),
  },
  annotations: {
    readOnlyHint: false,
    destructiveHint: false,
    idempotentHint: false,
    openWorldHint: false,
  },
  // A large model loads for minutes; LM Studio unreachable throws, so the plain call says so.
  long: async (args, deps) =>
    ((await deps.client.catalog()).find((m) => m.key === args.model)?.size_bytes ?? 0) >= LARGE_MODEL_BYTES,
}), async (args, deps, context) => {
  const { signal, progress } = context;
  const hasOptions = LOAD_OPTIONS.some((key) => args[key] !== undefined);
  const notes = unappliedNotes(args);
  const { host, models } = await hostWithModel(deps, args.model, { host: args.host, signal });
  const on = deps.pool.several
    ? { text: ` on ${host.name}`, field: { host: host.name } }
    : { text: "", field: {} };
  const model = findModel(models, args.model);
  if (!model) throw new LmStudioError(describeAvailability(models, args.model));
  const instance = model.loaded_instances?.[0];
  if (instance && !hasOptions) {
    const context_length = instance.config?.context_length ?? null;
    return textAndStructured(
      `${model.key} is already loaded as ${instance.id}${on.text}` +
        (context_length ? ` (context ${context_length})` : "") +
        `. To change its settings, model_unload it and load it again with options.` + notes,
      {
        instance_id: instance.id,
        type: model.type,
        load_time_seconds: null,
        config: { ...(context_length ? { context_length } : {}) },
        requested: {},
        not_as_requested: [],
        already_loaded: true,
        ...on.field,
      },
    );
  }
  progress.update(`Loading ${model.key}`);
  const { gpu: _gpu, ttl: _ttl, host: _host, ...options } = args; // Never sent: see unappliedNotes.
  const result = await host.client.loadModel({ ...options, model: model.key }, { signal });
  const config = result.config;
  const requested = requestedOptions(options);
  const differences = compareApplied(requested, config);
  const time = result.loadTimeSeconds === undefined
    ? "(LM Studio did not report the load time)"
    : `in ${result.loadTimeSeconds.toFixed(2)} s`;
  return textAndStructured(
    `Loaded ${result.instanceId}${on.text} (${result.type ?? model.type}) ${time} — ${
      describeConfig(config)
    }` +
      differences.map((d) => `\n${d.text}`).join("") + unconfirmedNote(requested, config) +
      secondInstanceNote(model, result.instanceId) + notes,
    {
      instance_id: result.instanceId,
      type: result.type ?? model.type,
      load_time_seconds: result.loadTimeSeconds ?? null,
      config: { ...config },
      requested,
      not_as_requested: differences.map((d) => d.key),
      already_loaded: false,
      ...on.field,
    },
  );
});

/** The load options the caller set, exactly as they were sent. */
function requestedOptions(
  options: Partial<Record<(typeof LOAD_OPTIONS)[number], unknown>>,
): Record<string, unknown> {
  const requested: Record<string, unknown> = {};
  for (const key of LOAD_OPTIONS) {
    if (options[key] !== undefined) requested[key] = options[key];
  }
  return requested;
}

/**
 * What LM Studio applied differently from what was asked, per the configuration it echoes ("the final
 * configuration applied to the loaded model"). LM Studio may lower or ignore a requested context length
 * (to fit memory, or an engine's own choice: lmstudio-bug-tracker#1902, #2270, #2318), and engines other
 * than llama.cpp leave out the llama.cpp-only fields. Without an echo there is nothing to compare.
 */
function compareApplied(
  requested: Readonly<Record<string, unknown>>,
  applied: Readonly<Record<string, unknown>>,
): { key: string; text: string }[] {
  if (Object.keys(applied).length === 0) return []; // See unconfirmedNote.
  const out: { key: string; text: string }[] = [];
  for (const [key, asked] of Object.entries(requested)) {
    const name = key === "context_length" ? "context" : key.replaceAll("_", " ");
    const got = applied[key];
    if (!(key in applied)) {
      out.push({
        key,
        text: `Asked for ${name} ${asked}; LM Studio's applied config does not include it` +
          (key === "context_length" ? "." : " (it applies to llama.cpp (GGUF) models only)."),
      });
    } else if (got !== asked) {
      let text = `Asked for ${name} ${asked}, LM Studio applied ${got}`;
      if (key === "context_length") {
        text += ` — files and chat history are sized to ${got}`;
        if (typeof got === "number" && typeof asked === "number" && got < asked) {
          text += ". LM Studio lowers a requested context to fit memory (and some engines ignore it): " +
            "unload other models and load again, or set the context in LM Studio's load dialog";
        }
      }
      out.push({ key, text: `${text}.` });
    }
  }
  return out;
}

/** Without an echo nothing says what LM Studio applied: say where to look instead of assuming. */
function unconfirmedNote(
  requested: Readonly<Record<string, unknown>>,
  applied: Readonly<Record<string, unknown>>,
): string {
  if (Object.keys(applied).length > 0 || Object.keys(requested).length === 0) return "";
  return "\nLM Studio did not say which settings it applied; model_list shows the context it loaded.";
}

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

/**
 * `gpu` and `ttl` are kept for drop-in compatibility with mcp-llm-studio, whose calls pass them; LM
 * Studio's REST load rejects both (HTTP 400, unrecognized keys), so they are never sent. Say so, and
 * say what does the job instead.
 */
function unappliedNotes(
  args: { gpu?: number | "max" | "off" | undefined; ttl?: number | undefined },
): string {
  const notes: string[] = [];
  if (args.gpu !== undefined) {
    notes.push(
      `gpu=${args.gpu} was not applied: LM Studio's REST API has no GPU offload setting. Set it in LM Studio ` +
        `(My Models → the model's settings → GPU Offload) or load with \`lms load <model> --gpu ${args.gpu}\`.`,
    );
  }
  if (args.ttl !== undefined) {
    notes.push(
      `ttl=${args.ttl} was not applied: LM Studio's REST load has no idle TTL. Pass ttl to ask or chat instead ` +
        `(it applies when that request loads the model), or load with \`lms load <model> --ttl ${args.ttl}\`.`,
    );
  }
  return notes.length ? `\n${notes.join("\n")}` : "";
}
