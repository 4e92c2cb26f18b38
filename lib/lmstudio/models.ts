/**
 * Model catalogue logic: summaries for model_list, name resolution, and "why is this model not
 * usable" explanations. Pure functions over `GET /api/v1/models` data.
 *
 * @module
 */
import type { NativeModel } from "./schemas.ts";

/** What model_list reports for one model. */
export interface ModelSummary {
  /** The key to pass as `model` everywhere. */
  readonly key: string;
  /** Human name. */
  readonly display_name: string;
  /** `llm` or `embedding`. */
  readonly type: string;
  /** Whether at least one instance is loaded. */
  readonly loaded: boolean;
  /** Loaded instances with their context length. */
  readonly loaded_instances: readonly { id: string; context_length: number | null; device?: string }[];
  /** Quantization name, e.g. `Q4_K_M`. */
  readonly quantization: string | null;
  /** Size on disk in bytes. */
  readonly size_bytes: number | null;
  /** Largest context the model supports. */
  readonly max_context_length: number | null;
  /** `gguf` or `mlx`. */
  readonly format: string | null;
  /** Parameter count, e.g. `7B`. */
  readonly params: string | null;
  /** Accepts images. */
  readonly vision: boolean;
  /** Reasoning settings the model allows, e.g. `["off","on"]`. */
  readonly reasoning_options: readonly string[];
}

/** A device's name from LM Studio's `device` field (LM Link), whatever its shape. */
function deviceName(device: NativeModel["device"]): string | undefined {
  if (typeof device === "string") return device || undefined;
  return device?.name ?? device?.identifier ?? undefined;
}

/**
 * Summarises one model of `GET /api/v1/models`.
 *
 * @param model The model as LM Studio lists it
 * @returns The summary
 */
export function summarizeModel(model: NativeModel): ModelSummary {
  const instances = model.loaded_instances ?? [];
  return {
    key: model.key,
    display_name: model.display_name ?? model.key,
    type: model.type,
    loaded: instances.length > 0,
    loaded_instances: instances.map((i) => {
      const device = deviceName(i.device) ?? deviceName(model.device);
      return { id: i.id, context_length: i.config?.context_length ?? null, ...(device ? { device } : {}) };
    }),
    quantization: model.quantization?.name ?? null,
    size_bytes: model.size_bytes ?? null,
    max_context_length: model.max_context_length ?? null,
    format: model.format ?? null,
    params: model.params_string ?? null,
    vision: model.capabilities?.vision === true,
    reasoning_options: model.capabilities?.reasoning?.allowed_options ?? [],
  };
}

/**
 * Formats a byte count for people: `17.99 GB`.
 *
 * @param bytes The count
 * @returns The text
 * @example
 * ```ts
 * import { formatBytes } from "./models.ts";
 * formatBytes(1_500_000); // "1.5 MB"
 * ```
 */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "unknown size";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${Number(value.toFixed(unit === 0 ? 0 : 2))} ${units[unit]}`;
}

/**
 * Finds a model by key, variant (`key@q4_k_m`) or loaded instance id.
 *
 * @param models The catalogue
 * @param name What the caller wrote
 * @returns The model, or undefined
 */
export function findModel(models: readonly NativeModel[], name: string): NativeModel | undefined {
  const lower = name.toLowerCase();
  return models.find((m) => m.key === name) ??
    models.find((m) => (m.loaded_instances ?? []).some((i) => i.id === name)) ??
    models.find((m) => (m.variants ?? []).includes(name) || m.selected_variant === name) ??
    models.find((m) => m.key.toLowerCase() === lower);
}

/**
 * Every loaded instance id, with its model key.
 *
 * @param models The catalogue
 * @returns `[{ id, key }]`
 */
export function loadedInstances(
  models: readonly NativeModel[],
): { id: string; key: string; context_length: number | null }[] {
  return models.flatMap((m) =>
    (m.loaded_instances ?? []).map((i) => ({
      id: i.id,
      key: m.key,
      context_length: i.config?.context_length ?? null,
    }))
  );
}

/**
 * The instance ids that `model_unload(name)` should unload: the exact instance when `name` is an
 * instance id, else every loaded instance of the model `name` names.
 *
 * @param models The catalogue
 * @param name Instance id or model key
 * @returns The instance ids (empty when nothing by that name is loaded)
 */
export function resolveUnloadTargets(models: readonly NativeModel[], name: string): string[] {
  const loaded = loadedInstances(models);
  const exact = loaded.filter((i) => i.id === name);
  if (exact.length > 0) return exact.map((i) => i.id);
  const model = findModel(models, name);
  return model ? loaded.filter((i) => i.key === model.key).map((i) => i.id) : [];
}

/**
 * One sentence on whether a model is loaded, only downloaded, or unknown, and what fixes it.
 *
 * @param models The catalogue
 * @param name What the caller wrote
 * @returns The explanation
 */
export function describeAvailability(models: readonly NativeModel[], name: string): string {
  const model = findModel(models, name);
  if (!model) {
    const keys = models.map((m) => m.key);
    const shown = keys.slice(0, 15).join(", ") + (keys.length > 15 ? ", …" : "");
    return `"${name}" is not a model LM Studio has downloaded. ` +
      (keys.length ? `Downloaded: ${shown}. ` : "No models are downloaded. ") +
      `Use one of those keys, or fetch it with model_download`;
  }
  if ((model.loaded_instances ?? []).length === 0) {
    return `"${model.key}" is downloaded but not loaded. Load it with model_load ` +
      `(model: "${model.key}"), or enable JIT loading in LM Studio`;
  }
  return `"${model.key}" is loaded as ${(model.loaded_instances ?? []).map((i) => i.id).join(", ")}`;
}

/** What a call is about to ask of a model. */
export interface ModelUse {
  /** The tool, for messages ("ask", "embed"). */
  readonly tool: string;
  /** The model type the call needs. */
  readonly type: "llm" | "embedding";
  /** Whether the call sends images. */
  readonly images?: boolean | undefined;
  /** The reasoning setting the call sends, if any. */
  readonly reasoning?: string | undefined;
}

/**
 * Checks, from `GET /api/v1/models` data, that a model can serve a call before anything is sent: the
 * right type, vision for images, and a reasoning setting the model allows (LM Studio answers HTTP 400
 * otherwise). A model the catalogue does not list is left to LM Studio, which names what it knows.
 *
 * @param models The catalogue
 * @param name The model the caller named
 * @param use What the call needs
 * @returns Why the model cannot serve the call, or undefined when it can (or is not listed)
 */
export function unsuitableReason(
  models: readonly NativeModel[],
  name: string,
  use: ModelUse,
): string | undefined {
  const model = findModel(models, name);
  if (!model) return undefined;
  if (model.type !== use.type) {
    const others = models.filter((m) => m.type === use.type).map((m) => m.key).slice(0, 8);
    const fix = use.type === "embedding"
      ? "embed needs an embedding model"
      : `${use.tool} needs a language model (type llm); use embed for embedding models`;
    const what = use.type === "embedding" ? "an embedding model" : "a language model";
    return `${model.key} is not ${what} (type ${model.type}), so it cannot serve ${use.tool}: ${fix}.` +
      (others.length
        ? ` Models of type ${use.type}: ${others.join(", ")}`
        : ` model_list shows none of type ${use.type}`);
  }
  if (use.images && model.capabilities?.vision !== true) {
    return `${model.key} cannot read images (LM Studio lists it without vision). Use a vision model (marked ` +
      `"vision" in model_list), or ask without images`;
  }
  if (use.reasoning !== undefined) {
    const allowed = model.capabilities?.reasoning?.allowed_options ?? [];
    if (!allowed.includes(use.reasoning)) {
      return allowed.length
        ? `${model.key} does not allow reasoning "${use.reasoning}"; it allows: ${allowed.join(", ")}`
        : `${model.key} has no reasoning setting (LM Studio lists no reasoning options for it); omit reasoning`;
    }
  }
  return undefined;
}
