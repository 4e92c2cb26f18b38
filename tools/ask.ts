/**
 * `ask`: one question to a local model through LM Studio's native chat, streamed by default, with
 * reasoning kept apart from the answer, stats, progress and cancellation. With `json_schema` the call
 * goes through the OpenAI-compatible endpoint, which is where LM Studio implements structured output.
 *
 * @module
 */
import { z } from "zod";
import { chatCompletion, type ContentPart } from "../lib/completions.ts";
import { InputError, LmStudioError } from "../lib/errors.ts";
import { loadImage } from "../lib/images.ts";
import { unsuitableReason } from "../lib/models.ts";
import { type InferenceHooks, type InferenceResult, requireAnswer } from "../lib/inference.ts";
import { nativeChat, REASONING_LEVELS } from "../lib/native_chat.ts";
import { ModelKey, NonBlank } from "./fields.ts";
import { inferenceBlocks, progressHook, StatsSchema } from "./inference_view.ts";
import { defineTool, type ToolSpec } from "./tool.ts";

const MIB = 1024 * 1024;
/** Inline images per call, in characters: with the prompt and system prompt this stays under the stdio
 * transport's 64 MiB message limit. Files given by path have no such bound (20 MiB each). */
const MAX_IMAGES_CHARS = 48 * MIB;
/** The reference's default output limit, kept so that answers stay the same length. */
export const DEFAULT_MAX_TOKENS = 2048;

/** The `ask` tool. */
export const ask: ToolSpec = defineTool({
  name: "ask",
  title: "Ask a local model",
  description: "Ask a local LM Studio model one question and get its answer, its reasoning (kept " +
    "separate) and speed stats. Single turn, nothing is stored: use chat for a conversation. " +
    "Use model_list for model keys; a downloaded model that is not loaded is loaded on the fly. " +
    "Optional: images (file paths or data URLs) for vision models, json_schema to force a JSON answer.",
  inputSchema: {
    model: ModelKey.describe("Model key from model_list, e.g. qwen/qwen3-8b"),
    prompt: NonBlank.max(MIB).describe("The question or task"),
    system: z.string().max(MIB).optional().describe("System prompt"),
    temperature: z.number().min(0).max(1).optional()
      .describe("Sampling temperature, 0 to 1 (LM Studio's native range); default: the model's"),
    max_tokens: z.number().int().min(1).max(1_000_000).optional()
      .describe(`Most tokens to generate, reasoning included (default ${DEFAULT_MAX_TOKENS})`),
    reasoning: z.enum(REASONING_LEVELS).optional()
      .describe("Reasoning effort; model_list shows what a model allows"),
    context_length: z.number().int().min(256).max(16_777_216).optional()
      .describe("Context length for this request, in tokens (may make LM Studio reload the model)"),
    stream: z.boolean().optional()
      .describe("Stream the answer (default true): live progress and instant cancellation"),
    images: z.array(z.string().min(1).max(MAX_IMAGES_CHARS)).min(1).max(10)
      .refine((list) => list.reduce((n, item) => n + item.length, 0) <= MAX_IMAGES_CHARS, {
        error: "images: data URLs may total 48 MiB per call; pass larger images as file paths",
      })
      .optional()
      .describe("Vision models: file paths or data:image/...;base64 URLs (JPEG, PNG, WebP)"),
    ttl: z.number().int().min(1).max(31_536_000).optional()
      .describe("Idle seconds before LM Studio unloads a model this call loads"),
    json_schema: z.record(z.string(), z.unknown()).optional()
      .describe(
        "A JSON Schema the answer must follow; the parsed JSON is returned in structuredContent.json",
      ),
  },
  outputSchema: {
    answer: z.string(),
    reasoning: z.string().nullable(),
    model: z.string(),
    stop_reason: z.string(),
    streamed: z.boolean(),
    stats: StatsSchema,
    tool_calls: z.array(z.string()),
    json: z.unknown().optional(),
  },
  annotations: {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: false,
    openWorldHint: false,
  },
}, async (args, deps, context) => {
  const stream = args.stream ?? true;
  const maxTokens = args.max_tokens ?? DEFAULT_MAX_TOKENS;
  // The model is checked before any image is read: a wrong model costs no file reads.
  const unsuitable = unsuitableReason(await deps.client.catalog({ signal: context.signal }), args.model, {
    tool: "ask",
    type: "llm",
    images: args.images !== undefined,
    reasoning: args.reasoning,
  });
  if (unsuitable) throw new InputError(unsuitable);
  // json_schema and ttl go through the OpenAI-compatible endpoint: it implements structured output and
  // honours ttl, which the native chat does not take.
  const openAi = args.json_schema !== undefined || args.ttl !== undefined;
  if (openAi) checkOpenAiPath(args);
  const images = args.images
    ? await Promise.all(args.images.map((source) => loadImage(source, { home: deps.config.home })))
    : undefined;
  if (openAi && images?.some((url) => url.startsWith("data:image/webp"))) {
    throw new InputError(
      "A WebP image cannot go with json_schema or ttl: LM Studio's OpenAI-compatible endpoint rejects WebP " +
        "(\"'url' field must be a base64 encoded image\"). Convert it to PNG or JPEG, or drop json_schema/ttl",
    );
  }
  const hooks: InferenceHooks = {
    signal: context.signal,
    onProgress: progressHook(context.progress, args.model, maxTokens),
    onWarning: (message) => deps.log.warn(message),
  };
  context.progress.update(`Sending the prompt to ${args.model}`);
  let result: InferenceResult;
  let json: unknown;
  if (openAi) {
    const parts: ContentPart[] = [
      { type: "text", text: args.prompt },
      ...(images ?? []).map((url) => ({ type: "image_url" as const, image_url: { url } })),
    ];
    result = await chatCompletion(
      deps.client,
      {
        model: args.model,
        messages: [
          ...(args.system === undefined ? [] : [{ role: "system" as const, content: args.system }]),
          { role: "user", content: images ? parts : args.prompt },
        ],
        temperature: args.temperature,
        max_tokens: maxTokens,
        ttl: args.ttl,
        response_format: args.json_schema && {
          type: "json_schema",
          json_schema: { name: "answer", strict: true, schema: args.json_schema },
        },
      },
      stream,
      hooks,
    );
    if (args.json_schema) {
      json = parseJsonAnswer(result);
      if (!result.answer.trim()) result = { ...result, answer: JSON.stringify(json, null, 2) };
    }
  } else {
    result = await nativeChat(
      deps.client,
      {
        model: args.model,
        prompt: args.prompt,
        system: args.system,
        temperature: args.temperature,
        maxTokens,
        reasoning: args.reasoning,
        contextLength: args.context_length,
        images: images?.map((dataUrl) => ({ dataUrl })),
      },
      stream,
      hooks,
    );
  }
  requireAnswer(result, { reasoningParameter: true });
  return {
    content: inferenceBlocks(result),
    structuredContent: {
      answer: result.answer,
      reasoning: result.reasoning,
      model: result.model,
      stop_reason: result.stop_reason,
      streamed: stream,
      stats: { ...result.stats },
      tool_calls: [...result.tool_calls],
      ...(json === undefined ? {} : { json }),
    },
  };
});

function checkOpenAiPath(args: {
  json_schema?: Record<string, unknown> | undefined;
  reasoning?: string | undefined;
  context_length?: number | undefined;
}): void {
  const why = args.json_schema ? "json_schema" : "ttl";
  for (const [name, value] of [["context_length", args.context_length], ["reasoning", args.reasoning]]) {
    if (value === undefined) continue;
    throw new InputError(
      `${name} cannot be combined with ${why}: ${why} goes through LM Studio's OpenAI-compatible endpoint, ` +
        `which has no per-request ${name}. ` +
        (name === "context_length"
          ? "Load the model with model_load context_length instead"
          : "Drop one of them"),
    );
  }
  if (args.json_schema) checkSchema(args.json_schema);
}

function checkSchema(schema: Record<string, unknown>): void {
  if (!("type" in schema) && !("properties" in schema) && !("$ref" in schema) && !("anyOf" in schema)) {
    throw new InputError(
      'json_schema must be a JSON Schema object, e.g. {"type":"object","properties":{"name":{"type":"string"}},' +
        '"required":["name"]}',
    );
  }
  if (JSON.stringify(schema).length > 256 * 1024) throw new InputError("json_schema is larger than 256 KiB");
}

/**
 * Parses the JSON answer; some reasoning models put it in the reasoning and leave the answer empty
 * (LM Studio issue #1698), and some wrap it in a code fence.
 */
function parseJsonAnswer(result: InferenceResult): unknown {
  const candidates = [result.answer, result.reasoning ?? ""].map((text) =>
    text.trim().replace(/^```(?:json)?\s*/i, "").replace(/\s*```$/, "")
  ).filter(Boolean);
  for (const text of candidates) {
    try {
      return JSON.parse(text);
    } catch {
      // Try the next place.
    }
  }
  const shown = (result.answer || result.reasoning || "").slice(0, 500);
  throw new LmStudioError(
    `${result.model} did not return valid JSON for json_schema` +
      (result.stop_reason === "length" ? " (it was cut off at max_tokens; raise max_tokens)" : "") +
      `. Its answer was: ${shown || "(empty)"}. Small models may not follow schemas; try a larger model`,
  );
}
