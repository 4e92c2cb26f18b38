/**
 * The simulator's request validation, as strict as LM Studio's own (it validates native bodies with
 * zod): an undocumented key, a wrong type or a wrong `input` item is an HTTP 400 with LM Studio's error
 * body, never ignored. The bodies are the ones recorded from real servers (see
 * `tests/fixtures/lmstudio/README.md`); the documented fields are those of LM Studio's REST docs
 * (https://lmstudio.ai/docs/developer/rest).
 *
 * @module
 */

type Kind = "string" | "number" | "integer" | "boolean" | "array" | "string|array";

/** The fields each native endpoint documents, with their JSON types. */
export const NATIVE_FIELDS: Readonly<Record<string, Readonly<Record<string, Kind>>>> = {
  "POST /api/v1/models/load": {
    model: "string",
    context_length: "integer",
    eval_batch_size: "integer",
    flash_attention: "boolean",
    num_experts: "integer",
    offload_kv_cache_to_gpu: "boolean",
    echo_load_config: "boolean",
  },
  "POST /api/v1/models/unload": { instance_id: "string" },
  "POST /api/v1/models/download": { model: "string", quantization: "string" },
  "POST /api/v1/chat": {
    model: "string",
    input: "string|array",
    system_prompt: "string",
    stream: "boolean",
    temperature: "number",
    top_p: "number",
    min_p: "number",
    top_k: "integer",
    repeat_penalty: "number",
    max_output_tokens: "integer",
    reasoning: "string",
    context_length: "integer",
    store: "boolean",
    previous_response_id: "string",
    integrations: "array",
  },
};

/** The reasoning levels LM Studio knows (`capabilities.reasoning.allowed_options` draws from these). */
export const REASONING_LEVELS: readonly string[] = ["off", "on", "low", "medium", "high", "xhigh"];

/** LM Studio's native error envelope, as a plain object. */
export interface NativeErrorBody {
  error: { message: string; type: string; code: string; param?: string };
}

function invalid(message: string, code: string, param?: string): NativeErrorBody {
  return { error: { message, type: "invalid_request", code, ...(param === undefined ? {} : { param }) } };
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function fits(kind: Kind, value: unknown): boolean {
  switch (kind) {
    case "integer":
      return Number.isInteger(value);
    case "string|array":
      return typeof value === "string" || Array.isArray(value);
    case "array":
      return Array.isArray(value);
    default:
      return typeOf(value) === kind;
  }
}

function quoted(keys: readonly string[]): string {
  return keys.map((k) => `'${k}'`).join(", ");
}

/**
 * Checks a native request body the way LM Studio does.
 *
 * @param route "METHOD /path"
 * @param body The parsed JSON body
 * @returns LM Studio's 400 body, or undefined when the body is acceptable
 */
export function validateNative(route: string, body: unknown): NativeErrorBody | undefined {
  const fields = NATIVE_FIELDS[route];
  if (!fields) return undefined;
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return invalid(`Expected object, received ${typeOf(body)}`, "invalid_type");
  }
  const record = body as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !(key in fields));
  if (unknown.length) {
    return invalid(`Unrecognized key(s) in object: ${quoted(unknown)}`, "unrecognized_keys");
  }
  for (const [key, kind] of Object.entries(fields)) {
    const value = record[key];
    if (value === undefined) continue;
    if (!fits(kind, value)) {
      const expected = kind === "string|array" ? "string | array" : kind;
      return invalid(`Expected ${expected}, received ${typeOf(value)}`, "invalid_type", key);
    }
  }
  if (route === "POST /api/v1/chat") {
    if (Array.isArray(record.input)) return validateInputItems(record.input);
    if (record.reasoning !== undefined && !REASONING_LEVELS.includes(record.reasoning as string)) {
      return invalid(
        `Invalid enum value. Expected ${REASONING_LEVELS.map((l) => `'${l}'`).join(" | ")}, received '${
          String(record.reasoning)
        }'`,
        "invalid_enum_value",
        "reasoning",
      );
    }
  }
  return undefined;
}

const ITEM_FIELDS: Readonly<Record<string, readonly string[]>> = {
  text: ["type", "content"],
  image: ["type", "data_url"],
};
const REQUIRED: Readonly<Record<string, string>> = { text: "content", image: "data_url" };

function validateInputItems(items: readonly unknown[]): NativeErrorBody | undefined {
  for (const [index, item] of items.entries()) {
    const record = typeof item === "object" && item !== null && !Array.isArray(item)
      ? item as Record<string, unknown>
      : undefined;
    const type = record?.type;
    if (!record || typeof type !== "string" || !(type in ITEM_FIELDS)) {
      return invalid("Invalid discriminator value. Expected 'text' | 'image'", "invalid_union", "input");
    }
    const problems: string[] = [];
    const required = REQUIRED[type] as string;
    if (typeof record[required] !== "string") problems.push(`'input.${index}.${required}' is required`);
    const extra = Object.keys(record).filter((key) => !ITEM_FIELDS[type]?.includes(key));
    if (extra.length) problems.push(`Unrecognized key(s) in object: ${quoted(extra)}`);
    if (problems.length) return invalid(problems.join(", "), "invalid_union", "input");
  }
  return undefined;
}

/**
 * The 400 LM Studio gives when a model does not allow the requested reasoning setting.
 *
 * @param setting The requested level
 * @param model The model key
 * @param allowed The model's `capabilities.reasoning.allowed_options`, if any
 * @returns The error body, or undefined when the setting is allowed
 */
export function validateReasoning(
  setting: unknown,
  model: string,
  allowed: readonly string[] | undefined,
): NativeErrorBody | undefined {
  if (setting === undefined || allowed?.includes(setting as string)) return undefined;
  return invalid(
    `Reasoning setting '${String(setting)}' is not supported by model '${model}'. ` +
      `Supported settings: ${allowed?.length ? allowed.join(", ") : "none"}`,
    "invalid_value",
    "reasoning",
  );
}

/** The image types LM Studio documents for vision input. */
const DOCUMENTED_IMAGE = /^data:image\/(png|jpeg|jpg|webp);base64,/i;

/**
 * Checks an image data URL the way LM Studio's endpoints do: the native chat takes JPEG, PNG and
 * WebP; the OpenAI-compatible endpoint has been seen rejecting WebP (lmstudio-bug-tracker#1027, #1752).
 *
 * @param url The data URL
 * @param endpoint Which endpoint received it
 * @returns The error message, or undefined when accepted
 */
export function imageProblem(url: unknown, endpoint: "native" | "openai"): string | undefined {
  if (typeof url !== "string" || !DOCUMENTED_IMAGE.test(url)) {
    return "'url' field must be a base64 encoded image";
  }
  if (endpoint === "openai" && /^data:image\/webp/i.test(url)) {
    return "'url' field must be a base64 encoded image";
  }
  return undefined;
}
