/**
 * LM Studio's OpenAI-compatible chat (`POST /v1/chat/completions`, https://lmstudio.ai/docs/developer/openai-compat/chat-completions),
 * streamed or not, into one {@linkcode InferenceResult}. Used by `chat` (multi-turn history) and by
 * `ask` when it needs `response_format` (structured output).
 *
 * Reasoning arrives as `reasoning_content`, `reasoning` (gpt-oss) or inline `<think>`; all three end up
 * in `reasoning`, never in the answer.
 *
 * @module
 */
import { z } from "zod";
import { ProtocolError } from "../errors.ts";
import { errorBodyOf } from "./http_errors.ts";
import {
  emptyGeneration,
  endedEarly,
  GenerationCollector,
  inferenceFailure,
  type InferenceHooks,
  type InferenceResult,
  type InferenceStats,
  postInference,
  reportedError,
  splitThink,
} from "./inference.ts";
import { type LmStudioClient, parse } from "./client.ts";

/** A text or image part of a message. */
export type ContentPart =
  | { readonly type: "text"; readonly text: string }
  | { readonly type: "image_url"; readonly image_url: { readonly url: string } };

/** One chat message. */
export interface ChatMessage {
  /** Who speaks. */
  readonly role: "system" | "user" | "assistant";
  /** Text, or text and image parts. */
  readonly content: string | readonly ContentPart[];
}

/** The request: OpenAI fields plus LM Studio's `ttl` and `draft_model`. */
export interface CompletionRequest {
  /** The model key. */
  readonly model: string;
  /** The conversation, oldest first. */
  readonly messages: readonly ChatMessage[];
  /** Sampling temperature. */
  readonly temperature?: number | undefined;
  /** Output limit in tokens. */
  readonly max_tokens?: number | undefined;
  /** Draft model for speculative decoding. */
  readonly draft_model?: string | undefined;
  /** Seconds of idleness before LM Studio unloads a JIT-loaded model. */
  readonly ttl?: number | undefined;
  /** OpenAI `response_format` (structured output). */
  readonly response_format?: Record<string, unknown> | undefined;
}

/** The reply schemas, built on first use (constructing zod schemas costs start-up time). */
function buildSchemas() {
  const nullableNumber = z.number().nullish();
  const UsageSchema = z.object({
    prompt_tokens: nullableNumber,
    completion_tokens: nullableNumber,
    completion_tokens_details: z.object({ reasoning_tokens: nullableNumber }).partial().nullish(),
  }).partial().nullish();
  const StatsSchema = z.object({
    tokens_per_second: nullableNumber,
    time_to_first_token: nullableNumber,
  }).partial().passthrough().nullish();
  const MessageSchema = z.object({
    content: z.string().nullish(),
    reasoning_content: z.string().nullish(),
    reasoning: z.string().nullish(),
    tool_calls: z.array(z.object({ function: z.object({ name: z.string().nullish() }).nullish() })).nullish(),
  }).partial();

  /** The non-streamed reply. */
  const CompletionSchema = z.object({
    model: z.string().nullish(),
    choices: z.array(z.object({ message: MessageSchema.nullish(), finish_reason: z.string().nullish() })),
    usage: UsageSchema,
    stats: StatsSchema,
  });

  /** One streamed chunk. */
  const ChunkSchema = z.object({
    model: z.string().nullish(),
    choices: z.array(z.object({ delta: MessageSchema.nullish(), finish_reason: z.string().nullish() }))
      .nullish(),
    usage: UsageSchema,
    stats: StatsSchema,
  });
  return { UsageSchema, StatsSchema, MessageSchema, CompletionSchema, ChunkSchema };
}
let built: ReturnType<typeof buildSchemas> | undefined;
const schemas = () => built ??= buildSchemas();
type Schemas = ReturnType<typeof buildSchemas>;

/** Accumulates a completion from chunks or a whole reply. */
class CompletionCollector extends GenerationCollector {
  model: string | undefined;
  finish: string | undefined;
  usage: z.infer<Schemas["UsageSchema"]>;
  stats: z.infer<Schemas["StatsSchema"]>;

  /**
   * Takes one streamed delta, or (with `whole`) the message of a non-streamed reply, which is not a
   * token on the clock.
   */
  take(
    message: z.infer<Schemas["MessageSchema"]> | null | undefined,
    finish: string | null | undefined,
    whole = false,
  ): void {
    const reasoning = (message?.reasoning_content ?? "") + (message?.reasoning ?? "");
    const content = message?.content ?? "";
    if (whole) {
      this.reasoningText += reasoning;
      this.answerText += content;
    } else {
      this.delta("reasoning", reasoning);
      this.delta("answer", content, this.insideThink() ? "reasoning" : "answer");
    }
    for (const call of message?.tool_calls ?? []) {
      if (call.function?.name) this.tools.push(call.function.name);
    }
    if (finish) this.finish = finish;
  }

  /** Whether the answer text so far ends inside an open `<think>` block. */
  insideThink(): boolean {
    const open = this.answerText.lastIndexOf("<think>");
    return open >= 0 && this.answerText.indexOf("</think>", open) < 0;
  }

  result(requested: string): InferenceResult {
    const split = splitThink(this.answerText);
    const reasoning = [this.reasoningText.trim(), split.reasoning].filter(Boolean).join("\n\n");
    const output = this.usage?.completion_tokens ?? null;
    const { total, firstToken, generating } = this.timing(this.stats?.time_to_first_token);
    const measuredSpeed = output !== null && output > 1 && generating >= 0.01
      ? Math.round(((output - 1) / generating) * 100) / 100
      : null;
    const stats: InferenceStats = {
      input_tokens: this.usage?.prompt_tokens ?? null,
      output_tokens: output,
      reasoning_tokens: this.usage?.completion_tokens_details?.reasoning_tokens ?? null,
      tokens_per_second: this.stats?.tokens_per_second ?? measuredSpeed,
      time_to_first_token_seconds: firstToken,
      model_load_time_seconds: null,
      total_seconds: total,
    };
    return {
      answer: split.answer,
      reasoning: reasoning || null,
      model: this.model ?? requested,
      stop_reason: this.finish ?? "stop",
      stats,
      tool_calls: [...this.tools],
    };
  }
}

/**
 * Runs one OpenAI-compatible chat completion.
 *
 * @param client LM Studio
 * @param request Model, messages and options
 * @param stream Whether to stream (progress per token, cancellable mid-answer)
 * @param hooks Cancellation, progress, warnings
 * @returns The answer, reasoning, usage
 * @throws {ContextOverflowError} When the history does not fit the loaded context, in any of LM Studio's
 *   forms: an error reply, an error event in a 200 stream, or a reply with no delta at all
 * @throws {StreamError} When the stream fails or ends before `[DONE]`
 * @throws {LmStudioError} Any mapped HTTP failure, or an in-band error chunk
 */
export async function chatCompletion(
  client: LmStudioClient,
  request: CompletionRequest,
  stream: boolean,
  hooks: InferenceHooks = {},
): Promise<InferenceResult> {
  const collector = new CompletionCollector(hooks);
  const body: Record<string, unknown> = { ...request, stream };
  for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
  const what = `Chatting with ${request.model}`;
  let stoppedEarly = false;
  try {
    if (stream) {
      body.stream_options = { include_usage: true };
      let done = false;
      const events = client.streamEvents("/v1/chat/completions", body, {
        what,
        model: request.model,
        signal: hooks.signal,
        queueMs: hooks.queueMs,
      });
      for await (const event of events) {
        if (event.data.trim() === "[DONE]") {
          done = true;
          break;
        }
        let json: unknown;
        try {
          json = JSON.parse(event.data);
        } catch {
          hooks.onWarning?.(`Ignored a stream chunk that is not JSON: ${event.data.slice(0, 80)}`);
          continue;
        }
        const error = errorBodyOf(json);
        if (error) throw reportedError(error, client, request.model, collector.partial());
        const parsed = schemas().ChunkSchema.safeParse(json);
        if (!parsed.success) {
          hooks.onWarning?.(`Ignored a stream chunk of an unexpected shape: ${event.data.slice(0, 80)}`);
          continue;
        }
        const chunk = parsed.data;
        collector.model ??= chunk.model ?? undefined;
        if (chunk.usage) collector.usage = chunk.usage;
        if (chunk.stats) collector.stats = chunk.stats;
        for (const choice of chunk.choices ?? []) collector.take(choice.delta, choice.finish_reason);
      }
      stoppedEarly = !done;
    } else {
      const json = await postInference(client, "/v1/chat/completions", body, {
        what,
        model: request.model,
        hooks,
      });
      const reply = parse(schemas().CompletionSchema, json, "POST /v1/chat/completions");
      const choice = reply.choices[0];
      if (!choice) throw new ProtocolError(`${what}: LM Studio's reply has no choices`);
      collector.model = reply.model ?? undefined;
      collector.usage = reply.usage;
      collector.stats = reply.stats;
      collector.take(choice.message, choice.finish_reason, true);
    }
  } catch (error) {
    throw await inferenceFailure(error, client, request.model, collector.partial(), {
      perRequestContext: false,
      maxTokens: request.max_tokens,
    });
  }
  if (stoppedEarly) {
    const partial = collector.partial();
    throw await endedEarly(
      client,
      request.model,
      "[DONE]",
      partial,
      Boolean(partial || collector.finish),
      false,
    );
  }
  const result = collector.result(request.model);
  // A well-formed reply with no delta at all: how a GGUF model answers a prompt it cannot hold (#2339).
  if (!result.answer && !result.reasoning && !result.tool_calls.length && !result.stats.output_tokens) {
    const overflow = await emptyGeneration(client, request.model, {
      perRequestContext: false,
      maxTokens: request.max_tokens,
      promptTokens: result.stats.input_tokens,
    });
    if (overflow) throw overflow;
  }
  return result;
}
