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
import { ContextOverflowError, LmStudioError, ProtocolError, StreamError } from "./errors.ts";
import { errorFromBody, readErrorBody } from "./http_errors.ts";
import {
  contextOverflow,
  firstTokenSeconds,
  inferenceFailure,
  type InferenceHooks,
  type InferenceResult,
  type InferenceStats,
  partialNote,
  postInference,
  splitThink,
} from "./inference.ts";
import { type LmStudioClient, parse } from "./lmstudio.ts";

/** A text or image part of a message. */
export type ContentPart =
  | { readonly type: "text"; readonly text: string }
  | { readonly type: "image_url"; readonly image_url: { readonly url: string } };

/** One chat message. */
export interface ChatMessage {
  readonly role: "system" | "user" | "assistant";
  readonly content: string | readonly ContentPart[];
}

/** The request: OpenAI fields plus LM Studio's `ttl` and `draft_model`. */
export interface CompletionRequest {
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  readonly temperature?: number | undefined;
  readonly max_tokens?: number | undefined;
  readonly draft_model?: string | undefined;
  readonly ttl?: number | undefined;
  readonly response_format?: Record<string, unknown> | undefined;
}

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

/** Accumulates a completion from chunks or a whole reply. */
class CompletionCollector {
  content = "";
  reasoning = "";
  model: string | undefined;
  finish: string | undefined;
  usage: z.infer<typeof UsageSchema>;
  stats: z.infer<typeof StatsSchema>;
  tools: string[] = [];
  firstTokenAt: number | undefined;
  lastTokenAt: number | undefined;
  deltas = 0;
  readonly startedAt = performance.now();

  take(
    message: z.infer<typeof MessageSchema> | null | undefined,
    finish: string | null | undefined,
    hooks: InferenceHooks,
  ): void {
    const reasoning = (message?.reasoning_content ?? "") + (message?.reasoning ?? "");
    const content = message?.content ?? "";
    if (reasoning || content) {
      this.firstTokenAt ??= performance.now();
      this.lastTokenAt = performance.now();
      this.deltas++;
    }
    this.reasoning += reasoning;
    this.content += content;
    for (const call of message?.tool_calls ?? []) {
      if (call.function?.name) this.tools.push(call.function.name);
    }
    if (finish) this.finish = finish;
    if (reasoning || (content && this.insideThink())) {
      hooks.onProgress?.({ phase: "reasoning", tokens: this.deltas });
    } else if (content) hooks.onProgress?.({ phase: "answer", tokens: this.deltas });
  }

  /** The text received so far, for messages about a failed stream. */
  partial(): string {
    return (this.content || this.reasoning).trim();
  }

  insideThink(): boolean {
    const open = this.content.lastIndexOf("<think>");
    return open >= 0 && this.content.indexOf("</think>", open) < 0;
  }

  result(requested: string): InferenceResult {
    const split = splitThink(this.content);
    const reasoning = [this.reasoning.trim(), split.reasoning].filter(Boolean).join("\n\n");
    const output = this.usage?.completion_tokens ?? null;
    const seconds = this.firstTokenAt !== undefined && this.lastTokenAt !== undefined
      ? (this.lastTokenAt - this.firstTokenAt) / 1000
      : 0;
    const measuredSpeed = output !== null && output > 1 && seconds >= 0.01
      ? Math.round(((output - 1) / seconds) * 100) / 100
      : null;
    const total = Math.round(performance.now() - this.startedAt) / 1000;
    const measuredTtft = this.firstTokenAt === undefined
      ? null
      : Math.round(this.firstTokenAt - this.startedAt) / 1000;
    const stats: InferenceStats = {
      input_tokens: this.usage?.prompt_tokens ?? null,
      output_tokens: output,
      reasoning_tokens: this.usage?.completion_tokens_details?.reasoning_tokens ?? null,
      tokens_per_second: this.stats?.tokens_per_second ?? measuredSpeed,
      time_to_first_token_seconds: firstTokenSeconds(measuredTtft, this.stats?.time_to_first_token, total),
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
 * @throws {ContextOverflowError} When the history does not fit the loaded context
 * @throws {StreamError} When the stream fails or ends before `[DONE]`
 * @throws {LmStudioError} Any mapped HTTP failure, or an in-band error chunk
 */
export async function chatCompletion(
  client: LmStudioClient,
  request: CompletionRequest,
  stream: boolean,
  hooks: InferenceHooks = {},
): Promise<InferenceResult> {
  const collector = new CompletionCollector();
  const body: Record<string, unknown> = { ...request, stream };
  for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
  const what = `Chatting with ${request.model}`;
  let endedEarly = false;
  try {
    if (stream) {
      body.stream_options = { include_usage: true };
      let done = false;
      const events = client.streamEvents("/v1/chat/completions", body, {
        what,
        model: request.model,
        signal: hooks.signal,
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
        const error = readErrorBody(JSON.stringify(json));
        if (error) {
          const mapped = errorFromBody(200, error, { hadKey: client.hasApiKey, model: request.model });
          if (mapped instanceof ContextOverflowError) throw mapped;
          throw new LmStudioError(
            `LM Studio reported an error while generating: ${mapped.message}` +
              partialNote(collector.partial()),
            { cause: mapped },
          );
        }
        const parsed = ChunkSchema.safeParse(json);
        if (!parsed.success) {
          hooks.onWarning?.(`Ignored a stream chunk of an unexpected shape: ${event.data.slice(0, 80)}`);
          continue;
        }
        const chunk = parsed.data;
        collector.model ??= chunk.model ?? undefined;
        if (chunk.usage) collector.usage = chunk.usage;
        if (chunk.stats) collector.stats = chunk.stats;
        for (const choice of chunk.choices ?? []) collector.take(choice.delta, choice.finish_reason, hooks);
      }
      endedEarly = !done;
    } else {
      const json = await postInference(client, "/v1/chat/completions", body, {
        what,
        model: request.model,
        hooks,
      });
      const reply = parse(CompletionSchema, json, "POST /v1/chat/completions");
      const choice = reply.choices[0];
      if (!choice) throw new ProtocolError(`${what}: LM Studio's reply has no choices`);
      collector.model = reply.model ?? undefined;
      collector.usage = reply.usage;
      collector.stats = reply.stats;
      collector.take(choice.message, choice.finish_reason, {});
    }
  } catch (error) {
    throw await inferenceFailure(error, client, request.model, collector.partial(), false);
  }
  if (endedEarly) {
    const partial = collector.partial();
    if (!partial && !collector.finish) {
      throw await contextOverflow(
        client,
        request.model,
        "LM Studio's stream ended without producing any text",
        { perRequestContext: false },
      );
    }
    throw new StreamError(
      `The reply from ${request.model} was cut off: LM Studio's stream ended before [DONE] ` +
        `(the model may have crashed or been unloaded)${partialNote(partial)}`,
    );
  }
  return collector.result(request.model);
}
