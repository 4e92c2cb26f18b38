/**
 * `ask`: one question to a local model through LM Studio's native chat, streamed by default, with
 * reasoning kept apart from the answer, stats, progress and cancellation. With `json_schema` the call
 * goes through the OpenAI-compatible endpoint, which is where LM Studio implements structured output.
 *
 * @module
 */
import { z } from "zod";
import { chatCompletion, type ContentPart } from "../lib/completions.ts";
import { CancelledError, InputError, LmStudioError } from "../lib/errors.ts";
import { mapLimited } from "../lib/fanout.ts";
import { type FileSet, frameFiles } from "../lib/files.ts";
import { loadImage } from "../lib/images.ts";
import { findModel, unsuitableReason } from "../lib/models.ts";
import type { NativeModel } from "../lib/schemas.ts";
import { type InferenceHooks, type InferenceResult, requireAnswer } from "../lib/inference.ts";
import { nativeChat, REASONING_LEVELS, type ReasoningLevel } from "../lib/native_chat.ts";
import {
  contextOf,
  FilesField,
  filesLine,
  filesReport,
  FilesReportSchema,
  readFilesFor,
} from "./file_input.ts";
import { errorText } from "./result.ts";
import type { CallToolResult } from "./sdk.ts";
import { ModelKey, NonBlank } from "./fields.ts";
import { inferenceBlocks, progressHook, StatsSchema } from "./inference_view.ts";
import { defineTool, type Deps, type ToolContext, type ToolSpec } from "./tool.ts";

const MIB = 1024 * 1024;
/** Most items (files or prompts) of one `each` call. */
const MAX_ITEMS = 200;
/** Parallel slots LM Studio gives a loaded model unless its load config says otherwise. */
const DEFAULT_PARALLEL = 4;
/** With `each`, each file is its own request; this bounds what one call reads in all. */
const MAX_EACH_TOTAL_CHARS = 32 * MIB;

const ItemSchema = () =>
  z.object({
    item: z.string(),
    answer: z.string().nullable(),
    error: z.string().nullable(),
    json: z.unknown().optional(),
  });
/** Inline images per call, in characters: with the prompt and system prompt this stays under the stdio
 * transport's 64 MiB message limit. Files given by path have no such bound (20 MiB each). */
const MAX_IMAGES_CHARS = 48 * MIB;
/** The reference's default output limit, kept so that answers stay the same length. */
export const DEFAULT_MAX_TOKENS = 2048;

/** The `ask` tool. */
export const ask: ToolSpec = defineTool("ask", () => ({
  title: "Ask a local model",
  description: "One question to a local model; nothing is stored (use chat for a conversation). Delegate " +
    "work on files without reading them: the server reads files; each/prompts run one request per " +
    "file/item in parallel; combine merges the answers.",
  inputSchema: {
    model: ModelKey(),
    prompt: NonBlank().max(MIB),
    system: z.string().max(MIB).optional(),
    temperature: z.number().min(0).max(1).optional(),
    max_tokens: z.number().int().min(1).max(1_000_000).optional().describe(`Default ${DEFAULT_MAX_TOKENS}`),
    reasoning: z.enum(REASONING_LEVELS).optional(),
    context_length: z.number().int().min(256).max(16_777_216).optional(),
    stream: z.boolean().optional(),
    images: z.array(z.string().min(1).max(MAX_IMAGES_CHARS)).min(1).max(10)
      .refine((list) => list.reduce((n, item) => n + item.length, 0) <= MAX_IMAGES_CHARS, {
        error: "images: data URLs may total 48 MiB per call; pass larger images as file paths",
      })
      .optional()
      .describe("Paths or data URLs"),
    ttl: z.number().int().min(1).max(31_536_000).optional().describe("Idle seconds before unload"),
    json_schema: z.record(z.string(), z.unknown()).optional()
      .describe("Answer as this JSON Schema"),
    files: FilesField().optional()
      .describe("Paths, folders, globs"),
    each: z.boolean().optional().describe("Once per file"),
    prompts: z.array(NonBlank().max(MIB)).min(1).max(MAX_ITEMS).optional()
      .describe("Once per item"),
    combine: NonBlank().max(MIB).optional().describe("Merge instruction"),
  },
  outputSchema: {
    answer: z.string(),
    reasoning: z.string().nullable(),
    model: z.string(),
    stop_reason: z.string(),
    streamed: z.boolean(),
    stats: StatsSchema(),
    tool_calls: z.array(z.string()),
    json: z.unknown().optional(),
    files: FilesReportSchema().optional(),
    items: z.array(ItemSchema()).optional(),
  },
  annotations: {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: false,
    openWorldHint: false,
  },
}), async (args, deps, context) => {
  const stream = args.stream ?? true;
  const maxTokens = args.max_tokens ?? DEFAULT_MAX_TOKENS;
  // The model is checked before any image is read: a wrong model costs no file reads.
  if (args.combine && !args.each && !args.prompts) {
    throw new InputError("combine merges the answers of each or prompts: pass one of them too");
  }
  if (args.each || args.prompts) checkEach(args);
  const catalog = await deps.client.catalog({ signal: context.signal });
  const unsuitable = unsuitableReason(catalog, args.model, {
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
  const request: Request = { args, deps, stream, maxTokens, images, openAi };
  const fanOut = args.each === true || args.prompts !== undefined;
  if (fanOut) return await runEach(request, catalog, context);
  let prompt = args.prompt;
  let files: FileSet | undefined;
  if (args.files) {
    files = await readFilesFor(args.files, deps, context, {
      window: contextOf(catalog, args.model, args.context_length),
      maxTokens,
      fixedChars: prompt.length + (args.system?.length ?? 0),
    });
    prompt = `${prompt}\n\n${frameFiles(files.files)}`;
  }
  context.progress.update(`Sending the prompt to ${args.model}`);
  const { result, json } = await generate(request, prompt, {
    signal: context.signal,
    onProgress: progressHook(context.progress, args.model, maxTokens),
    onWarning: (message) => deps.log.warn(message),
  });
  requireAnswer(result, { reasoningParameter: true });
  return {
    content: inferenceBlocks(result, files ? [filesLine(files)] : []),
    structuredContent: {
      answer: result.answer,
      reasoning: result.reasoning,
      model: result.model,
      stop_reason: result.stop_reason,
      streamed: stream,
      stats: { ...result.stats },
      tool_calls: [...result.tool_calls],
      ...(json === undefined ? {} : { json }),
      ...(files ? { files: filesReport(files) } : {}),
    },
  };
});

/** The combinations `each` and `prompts` refuse, checked before anything is read or sent. */
function checkEach(args: AskArgs): void {
  if (args.images) {
    throw new InputError("images cannot be combined with each or prompts; send them in one ask");
  }
  if (args.prompts && args.files) {
    throw new InputError("Pass either prompts (one request per item) or files with each: true, not both");
  }
  if (!args.prompts && !args.files) {
    throw new InputError("each: true needs files (one request per file), or pass prompts instead");
  }
}

/** What every generation of one call shares. */
interface Request {
  readonly args: AskArgs;
  readonly deps: Deps;
  readonly stream: boolean;
  readonly maxTokens: number;
  readonly images: string[] | undefined;
  readonly openAi: boolean;
}

type AskArgs = {
  model: string;
  prompt: string;
  system?: string | undefined;
  temperature?: number | undefined;
  max_tokens?: number | undefined;
  reasoning?: ReasoningLevel | undefined;
  context_length?: number | undefined;
  ttl?: number | undefined;
  json_schema?: Record<string, unknown> | undefined;
  images?: string[] | undefined;
  files?: string[] | undefined;
  each?: boolean | undefined;
  prompts?: string[] | undefined;
  combine?: string | undefined;
};

/** One generation with the call's options: native chat, or the OpenAI-compatible path for json_schema/ttl. */
async function generate(
  request: Request,
  prompt: string,
  hooks: InferenceHooks,
  perRequestContext = true,
): Promise<{ result: InferenceResult; json: unknown }> {
  const contextLength = perRequestContext ? request.args.context_length : undefined;
  const { args, deps, stream, maxTokens, images } = request;
  if (!request.openAi) {
    const result = await nativeChat(
      deps.client,
      {
        model: args.model,
        prompt,
        system: args.system,
        temperature: args.temperature,
        maxTokens,
        reasoning: args.reasoning,
        contextLength,
        images: images?.map((dataUrl) => ({ dataUrl })),
      },
      stream,
      hooks,
    );
    return { result, json: undefined };
  }
  const parts: ContentPart[] = [
    { type: "text", text: prompt },
    ...(images ?? []).map((url) => ({ type: "image_url" as const, image_url: { url } })),
  ];
  let result = await chatCompletion(
    deps.client,
    {
      model: args.model,
      messages: [
        ...(args.system === undefined ? [] : [{ role: "system" as const, content: args.system }]),
        { role: "user", content: images ? parts : prompt },
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
  let json: unknown;
  if (args.json_schema) {
    json = parseJsonAnswer(result);
    if (!result.answer.trim()) result = { ...result, answer: JSON.stringify(json, null, 2) };
  }
  return { result, json };
}

/**
 * `each` / `prompts`: the prompt once per file or item, as many at once as the loaded instance has
 * parallel slots, then optionally one `combine` call over the answers (map → reduce).
 */
async function runEach(
  request: Request,
  catalog: readonly NativeModel[],
  context: ToolContext,
): Promise<CallToolResult> {
  const { args, deps, maxTokens } = request;
  // Load the model once before fanning out: several requests to an unloaded model make LM Studio's JIT
  // loading start several instances (lmstudio-bug-tracker#1751).
  let models = catalog;
  const known = findModel(models, args.model);
  if (!known?.loaded_instances?.length) {
    context.progress.update(`Loading ${args.model} before sending the requests`);
    await deps.client.loadModel({ model: args.model, context_length: args.context_length }, {
      signal: context.signal,
    });
    models = await deps.client.catalog({ signal: context.signal });
  }
  const instance = findModel(models, args.model)?.loaded_instances?.[0];
  const slots = Math.max(1, instance?.config?.parallel ?? DEFAULT_PARALLEL);
  let items: { label: string; prompt: string }[];
  let files: FileSet | undefined;
  if (args.files) {
    files = await readFilesFor(args.files, deps, context, {
      window: contextOf(models, args.model, args.context_length),
      maxTokens,
      fixedChars: args.prompt.length + (args.system?.length ?? 0),
      total: MAX_EACH_TOTAL_CHARS,
    });
    items = files.files.map((file) => ({
      label: file.path,
      prompt: `${args.prompt}\n\n${frameFiles([file])}`,
    }));
  } else {
    items = args.prompts!.map((item, i) => ({ label: `#${i + 1}`, prompt: `${args.prompt}\n\n${item}` }));
  }
  const total = items.length + (args.combine ? 1 : 0);
  let done = 0;
  const tokens = new Array<number>(items.length).fill(0);
  const report = () =>
    context.progress.update(
      `${done} of ${items.length} done, ${tokens.reduce((a, b) => a + b, 0)} tokens generated` +
        ` (${Math.min(slots, items.length)} at a time)`,
      done,
      total,
    );
  report();
  const started = performance.now();
  const settled = await mapLimited(items, slots, async (item, index) => {
    try {
      const { result, json } = await generate(request, item.prompt, {
        signal: context.signal,
        onProgress: (event) => {
          if (event.phase === "answer" || event.phase === "reasoning") {
            tokens[index] = event.tokens;
            report();
          }
        },
        onWarning: (message) => deps.log.warn(message),
      }, false);
      requireAnswer(result, { reasoningParameter: true });
      return { result, json };
    } finally {
      done++;
      report();
    }
  }, context.signal);
  if (context.signal.aborted) throw new CancelledError();
  context.progress.flush(); // The final count, before the combine step or the result.
  const redact = deps.redact ?? ((text: string) => text);
  const outcomes = settled.map((outcome, i) => {
    const item = items[i]!.label;
    if (outcome.ok) {
      return {
        item,
        answer: outcome.value.result.answer,
        error: null,
        json: outcome.value.json,
        result: outcome.value.result,
      };
    }
    return {
      item,
      answer: null,
      error: redact(errorText(outcome.error, "ask", deps.log)),
      json: undefined,
      result: undefined,
    };
  });
  const failed = outcomes.filter((o) => o.error !== null).length;
  const itemsText = outcomes.map((o, i) =>
    `[${i + 1}/${outcomes.length}] ${o.item}\n${o.error === null ? o.answer : `Error: ${o.error}`}`
  ).join("\n\n");
  let combined: InferenceResult | undefined;
  if (args.combine && failed < outcomes.length) {
    context.progress.update(`Combining ${outcomes.length - failed} answers`, done, total);
    const answers = outcomes.filter((o) => o.error === null)
      .map((o) => `<answer item="${o.item}">\n${o.answer}\n</answer>`).join("\n\n");
    const reduce = {
      ...request,
      openAi: request.args.ttl !== undefined,
      args: { ...args, json_schema: undefined },
    };
    combined = (await generate(reduce, `${args.combine}\n\n${answers}`, {
      signal: context.signal,
      onProgress: progressHook(context.progress, args.model, maxTokens),
      onWarning: (message) => deps.log.warn(message),
    }, false)).result;
    requireAnswer(combined, { reasoningParameter: true });
  }
  const seconds = Math.round(performance.now() - started) / 1000;
  const sum = (pick: (r: InferenceResult) => number | null) =>
    outcomes.reduce((n, o) => n + (o.result ? pick(o.result) ?? 0 : 0), 0) +
    (combined ? pick(combined) ?? 0 : 0);
  const stats = {
    input_tokens: sum((r) => r.stats.input_tokens),
    output_tokens: sum((r) => r.stats.output_tokens),
    reasoning_tokens: sum((r) => r.stats.reasoning_tokens),
    tokens_per_second: null,
    time_to_first_token_seconds: null,
    model_load_time_seconds: null,
    total_seconds: seconds,
  };
  const summary = `${outcomes.length - failed} of ${outcomes.length} answered` +
    (failed ? `, ${failed} failed` : "") +
    ` in ${seconds.toFixed(2)} s, ${Math.min(slots, items.length)} at a time` +
    ` on ${args.model}` + (files ? `. ${filesLine(files)}` : ".");
  const text = combined ? combined.answer : itemsText;
  return {
    content: [
      { type: "text", text },
      ...(combined ? [{ type: "text" as const, text: `Answers per item:\n\n${itemsText}` }] : []),
      { type: "text", text: summary },
    ],
    structuredContent: {
      answer: text,
      reasoning: combined?.reasoning ?? null,
      model: args.model,
      stop_reason: combined?.stop_reason ?? "stop",
      streamed: request.stream,
      stats,
      tool_calls: [],
      items: outcomes.map((o) => ({
        item: o.item,
        answer: o.answer,
        error: o.error,
        ...(o.json === undefined ? {} : { json: o.json }),
      })),
      ...(files ? { files: filesReport(files) } : {}),
    },
    ...(failed === outcomes.length ? { isError: true } : {}),
  };
}

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
