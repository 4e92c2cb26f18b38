/**
 * `ask`: one question to a local model through LM Studio's native chat, streamed by default, with
 * reasoning kept apart from the answer, stats, progress and cancellation. With `json_schema` the call
 * goes through the OpenAI-compatible endpoint, which is where LM Studio implements structured output.
 *
 * @module
 */
import { z } from "zod";
import { InputError } from "../../lib/errors.ts";
import { loadImage } from "../../lib/files/images.ts";
import { findModel, unsuitableReason } from "../../lib/lmstudio/models.ts";
import { requireAnswer } from "../../lib/lmstudio/inference.ts";
import { type AskRequest, generate } from "./generate.ts";
import { type AskArgs, askInput, DEFAULT_MAX_TOKENS } from "./input.ts";
import { runPacked } from "./files.ts";
import { runEach } from "./fan_out.ts";
import { FilesReportSchema } from "../common/file_input.ts";
import { inferenceBlocks, progressHook, StatsSchema } from "../common/inference_view.ts";
import { hostReport, routeCall, withFailover } from "../common/route.ts";
import { defineTool, type ToolSpec } from "../tool.ts";

const ItemSchema = () =>
  z.object({
    item: z.string(),
    answer: z.string().nullable(),
    error: z.string().nullable(),
    json: z.unknown().optional(),
    cut: z.boolean().optional(),
  });

const HostsSchema = () =>
  z.array(z.object({
    host: z.string(),
    requests: z.number(),
    answers: z.number(),
    at_once: z.number(),
    failed: z.string().optional(),
    moved: z.number().optional(),
  }));

const PackingSchema = () =>
  z.object({
    requests: z.number(),
    rounds: z.number(),
    at_once: z.number(),
    failed: z.number(),
    retried: z.number(),
    context_length: z.number(),
    max_tokens: z.number(),
    max_tokens_source: z.enum(["max_tokens", "a quarter of the context"]),
    one_pass_context_length: z.number().nullable(),
    load: z.object({ asked: z.number(), applied: z.number() }).optional(),
    notes: z.array(z.string()).optional(),
    hosts: HostsSchema().optional(),
  });

/** Asking for this many tokens or more may run past a minute. */
const LONG_ANSWER_TOKENS = 4_096;

/** The `ask` tool. */
export const ask: ToolSpec = defineTool("ask", () => ({
  title: "Ask a local model",
  description: "One question to a local model; nothing stored (chat for conversations). Delegate files " +
    "unread: the server reads them; each/prompts run one request per file/item in parallel; " +
    "combine merges the answers.",
  inputSchema: askInput(),
  outputSchema: {
    answer: z.string(),
    reasoning: z.string().nullable(),
    model: z.string(),
    stop_reason: z.string(),
    streamed: z.boolean(),
    stats: StatsSchema(),
    tool_calls: z.array(z.string()),
    json: z.unknown().optional(),
    host: z.string().optional(),
    files: FilesReportSchema().optional(),
    items: z.array(ItemSchema()).optional(),
    packing: PackingSchema().optional(),
    fanout: z.object({
      width: z.number(),
      width_source: z.enum(["parallel", "LMSTUDIO_MCP_PARALLEL", "LM Studio", "default"]),
      at_once: z.number(),
      context_length: z.number(),
      combine_rounds: z.number().optional(),
      combine_error: z.string().optional(),
      max_tokens: z.number().optional(),
      max_tokens_source: z.enum(["max_tokens", "a quarter of the context"]).optional(),
      retried: z.number().optional(),
      load: z.object({ asked: z.number(), applied: z.number() }).optional(),
      notes: z.array(z.string()).optional(),
      hosts: HostsSchema().optional(),
    }).optional(),
  },
  annotations: {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: false,
    openWorldHint: false,
  },
  // Fanning out, reading files or a long answer may run past a minute.
  long: (args) =>
    args.each === true || args.prompts !== undefined || args.combine !== undefined ||
    args.files !== undefined || (args.max_tokens ?? 0) >= LONG_ANSWER_TOKENS,
}), async (args, given, context) => {
  const stream = args.stream ?? true;
  const maxTokens = args.max_tokens ?? DEFAULT_MAX_TOKENS;
  // The model is checked before any image is read: a wrong model costs no file reads.
  if (args.combine && !args.each && !args.prompts) {
    throw new InputError("combine merges the answers of each or prompts: pass one of them too");
  }
  if (args.parallel !== undefined && !args.each && !args.prompts) {
    throw new InputError(
      "parallel sets how many requests of each or prompts run at once: pass one of them too",
    );
  }
  if (args.each || args.prompts) checkEach(args);
  // With several LM Studio servers: the one where the model is loaded and has room (see lib/lmstudio/pool.ts).
  const routed = await routeCall(given, args.model, { signal: context.signal });
  const { deps } = routed;
  using _counted = routed.route; // Counted on its server until the call ends.
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
  const known = findModel(catalog, args.model);
  const request: AskRequest = {
    args,
    deps,
    stream,
    maxTokens,
    images,
    openAi,
    modelKey: known?.key ?? args.model,
    loaded: Boolean(known?.loaded_instances?.length),
  };
  const fanOut = args.each === true || args.prompts !== undefined;
  if (fanOut || args.files) {
    routed.route.release(); // A fan-out or packed folder counts its own requests.
    return fanOut ? await runEach(request, catalog, context) : await runPacked(request, catalog, context);
  }
  const prompt = args.prompt;
  context.progress.update(`Sending the prompt to ${args.model}`);
  const { value: { result, json }, route } = await withFailover(
    routed,
    args.model,
    (on) =>
      generate({ ...request, deps: on }, prompt, {
        signal: context.signal,
        onProgress: progressHook(context.progress, args.model, maxTokens),
        onWarning: (message) => deps.log.warn(message),
      }),
    context.signal,
  );
  requireAnswer(result, { reasoningParameter: true });
  const where = hostReport(deps, route);
  return {
    content: inferenceBlocks(result, [
      ...(result.stop_reason === "length"
        ? [`The answer was cut at max_tokens ${maxTokens}: pass a larger max_tokens for all of it.`]
        : []),
      ...(where.line ? [where.line] : []),
    ]),
    structuredContent: {
      answer: result.answer,
      reasoning: result.reasoning,
      model: result.model,
      stop_reason: result.stop_reason,
      streamed: stream,
      stats: { ...result.stats },
      tool_calls: [...result.tool_calls],
      ...(json === undefined ? {} : { json }),
      ...where.field,
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
