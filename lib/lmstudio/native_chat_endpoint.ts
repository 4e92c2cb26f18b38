/**
 * LM Studio's native chat (`POST /api/v1/chat`, https://lmstudio.ai/docs/developer/rest/chat and streaming-events): the request body,
 * the typed union of its stream events, and a collector that turns either a stream or a plain reply
 * into one {@linkcode InferenceResult}.
 *
 * Over 350 lines on purpose: the request body, the event union and the collector that folds the events are
 * one contract with LM Studio; split, a new event would need edits in three files.
 *
 * @module
 */
import { z } from "zod";
import { ProtocolError } from "../errors.ts";
import type { ErrorBody } from "./http_errors.ts";
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
import { lazyParser, type Maybe, type Parser } from "./schemas.ts";
import type { EventSourceMessage } from "./sse.ts";

/** Reasoning effort of the native API. */
export type ReasoningLevel = "off" | "low" | "medium" | "high" | "xhigh" | "on";

/** Every reasoning level LM Studio reports in `capabilities.reasoning.allowed_options`. */
export const REASONING_LEVELS: readonly ReasoningLevel[] = ["off", "on", "low", "medium", "high", "xhigh"];

/** One image input. */
export interface ImageInput {
  /** `data:image/…;base64,…` */
  readonly dataUrl: string;
}

/** What `ask` sends. */
export interface NativeChatRequest {
  /** The model key. */
  readonly model: string;
  /** The user's prompt. */
  readonly prompt: string;
  /** System prompt. */
  readonly system?: string | undefined;
  /** Sampling temperature. */
  readonly temperature?: number | undefined;
  /** Output limit in tokens. */
  readonly maxTokens?: number | undefined;
  /** Reasoning effort. */
  readonly reasoning?: ReasoningLevel | undefined;
  /** Context length to load the model with, when LM Studio loads it for this call. */
  readonly contextLength?: number | undefined;
  /** Images to send with the prompt. */
  readonly images?: readonly ImageInput[] | undefined;
}

/** The parsed non-streamed reply, also carried by `chat.end` as `result`. */
export interface NativeChatResponse {
  /** The instance that answered. */
  readonly model_instance_id?: Maybe<string>;
  /** Reasoning, message and tool-call items, in order. */
  readonly output?: Maybe<
    readonly { readonly type: string; readonly content?: Maybe<string>; readonly tool?: Maybe<string> }[]
  >;
  /** Token counts and timings. */
  readonly stats?: Maybe<{
    readonly input_tokens?: Maybe<number>;
    readonly total_output_tokens?: Maybe<number>;
    readonly reasoning_output_tokens?: Maybe<number>;
    readonly tokens_per_second?: Maybe<number>;
    readonly time_to_first_token_seconds?: Maybe<number>;
    readonly model_load_time_seconds?: Maybe<number>;
  }>;
}

/** Checks a non-streamed reply or `chat.end`'s `result`. */
export const NativeChatResponseSchema: Parser<NativeChatResponse> = lazyParser(() => {
  const nullableNumber = z.number().nullish();

  const OutputItemSchema = z.object({
    type: z.string(),
    content: z.string().nullish(),
    tool: z.string().nullish(),
  }).passthrough();
  return z.object({
    model_instance_id: z.string().nullish(),
    output: z.array(OutputItemSchema).nullish(),
    stats: z.object({
      input_tokens: nullableNumber,
      total_output_tokens: nullableNumber,
      reasoning_output_tokens: nullableNumber,
      tokens_per_second: nullableNumber,
      time_to_first_token_seconds: nullableNumber,
      model_load_time_seconds: nullableNumber,
    }).partial().nullish(),
  });
});

/** The events of a native chat stream, typed. Unknown names map to `unknown` and are ignored. */
export type NativeChatEvent =
  | { readonly type: "chat.start"; readonly instanceId: string | undefined }
  | { readonly type: "model_load.start" }
  | { readonly type: "model_load.progress"; readonly progress: number | undefined }
  | { readonly type: "model_load.end"; readonly loadTimeSeconds: number | undefined }
  | { readonly type: "prompt_processing.start" | "prompt_processing.end" }
  | { readonly type: "prompt_processing.progress"; readonly progress: number | undefined }
  | { readonly type: "reasoning.start" | "reasoning.end" | "message.start" | "message.end" }
  | { readonly type: "reasoning.delta" | "message.delta"; readonly content: string }
  | { readonly type: "tool_call.start" | "tool_call.arguments" | "tool_call.success"; readonly tool: string }
  | { readonly type: "tool_call.failure"; readonly reason: string }
  | { readonly type: "error"; readonly error: ErrorBody }
  | { readonly type: "chat.end"; readonly result: NativeChatResponse }
  | { readonly type: "unknown"; readonly name: string };

/**
 * Builds the `POST /api/v1/chat` body: `store: false`, and a plain string input unless there are
 * images. Items are `{type:"text",content}` and `{type:"image",data_url}`: LM Studio rejects anything
 * else with HTTP 400 (the field table of its docs says `"message"`, which real servers refuse).
 *
 * @param request What to ask
 * @param stream Whether to stream
 * @returns The JSON body
 */
export function nativeChatBody(request: NativeChatRequest, stream: boolean): Record<string, unknown> {
  const input = request.images?.length
    ? [
      { type: "text", content: request.prompt },
      ...request.images.map((image) => ({ type: "image", data_url: image.dataUrl })),
    ]
    : request.prompt;
  const body: Record<string, unknown> = { model: request.model, input, stream, store: false };
  if (request.system !== undefined) body.system_prompt = request.system;
  if (request.temperature !== undefined) body.temperature = request.temperature;
  if (request.maxTokens !== undefined) body.max_output_tokens = request.maxTokens;
  if (request.reasoning !== undefined) body.reasoning = request.reasoning;
  if (request.contextLength !== undefined) body.context_length = request.contextLength;
  return body;
}

/**
 * Maps one Server-Sent Event to the typed union. The event name comes from `event:`, or from the
 * `type` LM Studio repeats in the data.
 *
 * @param message The raw event
 * @returns The typed event
 * @throws {ProtocolError} When the data is not JSON
 */
export function toNativeEvent(message: EventSourceMessage): NativeChatEvent {
  let data: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(message.data);
    data = typeof parsed === "object" && parsed !== null ? parsed as Record<string, unknown> : {};
  } catch (cause) {
    throw new ProtocolError(
      `LM Studio sent an event whose data is not JSON: ${message.data.slice(0, 80)}`,
      { cause },
    );
  }
  const name = message.event ?? (typeof data.type === "string" ? data.type : "message");
  const num = (key: string) => typeof data[key] === "number" ? data[key] as number : undefined;
  const text = (key: string) => typeof data[key] === "string" ? data[key] as string : "";
  switch (name) {
    case "chat.start":
      return { type: name, instanceId: text("model_instance_id") || undefined };
    case "model_load.start":
    case "prompt_processing.start":
    case "prompt_processing.end":
    case "reasoning.start":
    case "reasoning.end":
    case "message.start":
    case "message.end":
      return { type: name };
    case "model_load.progress":
    case "prompt_processing.progress":
      return { type: name, progress: num("progress") };
    case "model_load.end":
      return { type: name, loadTimeSeconds: num("load_time_seconds") };
    case "reasoning.delta":
    case "message.delta":
      return { type: name, content: text("content") };
    case "tool_call.start":
    case "tool_call.arguments":
    case "tool_call.success":
      return { type: name, tool: text("tool") || "a tool" };
    case "tool_call.failure":
      return { type: name, reason: text("reason") || "unknown reason" };
    case "error": {
      const error = typeof data.error === "object" && data.error !== null
        ? data.error as Record<string, unknown>
        : data;
      const str = (v: unknown) => typeof v === "string" ? v : undefined;
      return {
        type: "error",
        error: {
          message: str(error.message) ?? JSON.stringify(error),
          type: str(error.type),
          code: str(error.code),
          param: str(error.param),
        },
      };
    }
    case "chat.end": {
      // The stream's deltas stand in for a result we cannot read, so a surprising shape is not fatal.
      const parsed = NativeChatResponseSchema.safeParse(data.result ?? {});
      return { type: name, result: parsed.success ? parsed.data : {} };
    }
    default:
      return { type: "unknown", name };
  }
}

/** Turns native events (or a plain reply) into an {@linkcode InferenceResult}. */
export class NativeChatCollector extends GenerationCollector {
  #instanceId: string | undefined;
  #loadTime: number | undefined;
  #end: NativeChatResponse | undefined;
  #error: ErrorBody | undefined;

  /** Whether `chat.end` arrived. */
  get ended(): boolean {
    return this.#end !== undefined;
  }

  /** The error event, if one arrived. */
  get error(): ErrorBody | undefined {
    return this.#error;
  }

  /** Whether any text (answer or reasoning) arrived. */
  get hasText(): boolean {
    return this.answerText.length > 0 || this.reasoningText.length > 0 ||
      this.#outputText(this.#end).length > 0;
  }

  /**
   * Feeds one event.
   *
   * @param event The typed event
   */
  add(event: NativeChatEvent): void {
    const progress = this.hooks.onProgress;
    switch (event.type) {
      case "chat.start":
        this.#instanceId = event.instanceId;
        break;
      case "model_load.start":
        progress?.({ phase: "loading", fraction: 0 });
        break;
      case "model_load.progress":
        progress?.({ phase: "loading", fraction: event.progress });
        break;
      case "model_load.end":
        this.#loadTime = event.loadTimeSeconds;
        progress?.({ phase: "loading", fraction: 1 });
        break;
      case "prompt_processing.start":
        progress?.({ phase: "prompt", fraction: 0 });
        break;
      case "prompt_processing.progress":
        progress?.({ phase: "prompt", fraction: event.progress });
        break;
      case "reasoning.delta":
        this.delta("reasoning", event.content);
        break;
      case "message.delta":
        this.delta("answer", event.content);
        break;
      case "tool_call.start":
        this.tools.push(event.tool);
        progress?.({ phase: "tool", tool: event.tool });
        break;
      case "error":
        this.#error ??= event.error;
        break;
      case "chat.end":
        this.#end = event.result;
        break;
      // Events that carry nothing we report; listed so a new event type is a compile error here.
      case "prompt_processing.end":
      case "reasoning.start":
      case "reasoning.end":
      case "message.start":
      case "message.end":
      case "tool_call.arguments":
      case "tool_call.success":
      case "tool_call.failure":
      case "unknown":
        break;
      default:
        unreachable(event);
    }
  }

  /**
   * Takes a whole non-streamed reply.
   *
   * @param response The parsed reply
   */
  addResponse(response: NativeChatResponse): void {
    this.#instanceId = response.model_instance_id ?? undefined;
    for (const item of response.output ?? []) {
      if (item.type === "tool_call" && item.tool) this.tools.push(item.tool);
    }
    this.#end = response;
  }

  /**
   * The result. `chat.end`'s body is authoritative; the deltas stand in when it is missing.
   *
   * @param model The model key asked for
   * @param maxTokens The output limit, to tell `length` from `stop`
   * @returns The result
   */
  result(model: string, maxTokens: number | undefined): InferenceResult {
    const end = this.#end;
    const endAnswer = this.#outputText(end, "message");
    const endReasoning = this.#outputText(end, "reasoning");
    // chat.end's output is authoritative when it holds text; the streamed deltas stand in otherwise.
    const rawAnswer = endAnswer || this.answerText;
    const split = splitThink(rawAnswer);
    const reasoning = [endReasoning || this.reasoningText, split.reasoning]
      .map((r) => r.trim()).filter(Boolean).join("\n\n");
    const s = end?.stats ?? {};
    const output = s.total_output_tokens ?? null;
    const { total, firstToken } = this.timing(s.time_to_first_token_seconds);
    const stats: InferenceStats = {
      input_tokens: s.input_tokens ?? null,
      output_tokens: output,
      reasoning_tokens: s.reasoning_output_tokens ?? null,
      tokens_per_second: s.tokens_per_second ?? null,
      time_to_first_token_seconds: firstToken,
      model_load_time_seconds: s.model_load_time_seconds ?? this.#loadTime ?? null,
      total_seconds: total,
    };
    const stop = this.tools.length && !split.answer
      ? "tool_calls"
      : maxTokens !== undefined && output !== null && output >= maxTokens
      ? "length"
      : "stop";
    return {
      answer: split.answer,
      reasoning: reasoning || null,
      model: end?.model_instance_id ?? this.#instanceId ?? model,
      stop_reason: stop,
      stats,
      tool_calls: [...this.tools],
    };
  }

  #outputText(end: NativeChatResponse | undefined, type?: string): string {
    return (end?.output ?? [])
      .filter((item) => (type ? item.type === type : item.type === "message" || item.type === "reasoning"))
      .map((item) => item.content ?? "")
      .join("");
  }
}

/**
 * Runs one native chat, streamed or not, and returns its result.
 *
 * @param client LM Studio
 * @param request What to ask
 * @param stream Whether to stream (progress per token) or wait for the whole reply
 * @param hooks Cancellation, progress, warnings
 * @returns The answer, reasoning and stats
 * @throws {ContextOverflowError} When the prompt does not fit, including an empty 200 stream
 * @throws {StreamError} When the stream fails or ends before `chat.end`
 * @throws {LmStudioError} Any mapped HTTP failure
 */
export async function nativeChat(
  client: LmStudioClient,
  request: NativeChatRequest,
  stream: boolean,
  hooks: InferenceHooks = {},
): Promise<InferenceResult> {
  const collector = new NativeChatCollector(hooks);
  const what = `Asking ${request.model}`;
  const body = nativeChatBody(request, stream);
  try {
    if (stream) {
      const events = client.streamEvents("/api/v1/chat", body, {
        what,
        model: request.model,
        signal: hooks.signal,
        queueMs: hooks.queueMs,
        // chat.start may come before LM Studio has a slot for the request; any later event is work.
        startsWork: (event) => (event.event ?? "") !== "chat.start",
      });
      for await (const message of events) {
        let event: NativeChatEvent;
        try {
          event = toNativeEvent(message);
        } catch (error) {
          hooks.onWarning?.(error instanceof Error ? error.message : String(error));
          continue;
        }
        collector.add(event);
        if (collector.error) throw reportedError(collector.error, client, request.model, collector.partial());
        if (event.type === "chat.end") break;
      }
    } else {
      const json = await postInference(client, "/api/v1/chat", body, { what, model: request.model, hooks });
      collector.addResponse(parse(NativeChatResponseSchema, json, "POST /api/v1/chat"));
    }
  } catch (error) {
    throw await inferenceFailure(error, client, request.model, collector.partial(), {
      perRequestContext: true,
      maxTokens: request.maxTokens,
    });
  }
  const result = collector.result(request.model, request.maxTokens);
  if (!collector.ended) {
    const produced = collector.hasText || result.tool_calls.length > 0 ||
      (result.stats.output_tokens ?? 0) > 0;
    throw await endedEarly(client, request.model, "chat.end", collector.partial(), produced, true);
  }
  if (!collector.hasText && result.tool_calls.length === 0 && !result.stats.output_tokens) {
    const overflow = await emptyGeneration(client, request.model, {
      perRequestContext: true,
      maxTokens: request.maxTokens,
      promptTokens: result.stats.input_tokens,
    });
    if (overflow) throw overflow;
  }
  return result;
}

/** Fails to compile when a `switch` over a union misses a member. */
function unreachable(value: never): never {
  throw new TypeError(`Unhandled event: ${JSON.stringify(value)}`);
}
