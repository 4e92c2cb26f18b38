/**
 * What every inference call (native `ask`, OpenAI-compatible `chat` and structured output) returns,
 * plus the pieces they share: splitting inline `<think>` reasoning from the answer, and the
 * context-overflow advice that names the loaded context.
 *
 * Over 350 lines on purpose: the result type, the collector base both endpoints extend and the overflow rules
 * they share must agree; each endpoint's parsing lives in its own module.
 *
 * @module
 */
import {
  ContextOverflowError,
  EmptyAnswerError,
  LmStudioError,
  StreamError,
  TimeoutError,
} from "../errors.ts";
import { type ErrorBody, errorFromBody } from "./http_errors.ts";
import type { LmStudioClient } from "./client.ts";
import { findModel } from "./models.ts";
import { loadedContextLength } from "../inference/context_budget.ts";

/** Token counts and speed of one generation; null where LM Studio did not say. */
export interface InferenceStats {
  /** Prompt tokens. */
  readonly input_tokens: number | null;
  /** Generated tokens, reasoning included. */
  readonly output_tokens: number | null;
  /** Of which reasoning. */
  readonly reasoning_tokens: number | null;
  /** Generation speed. */
  readonly tokens_per_second: number | null;
  /** Time to the first generated token. */
  readonly time_to_first_token_seconds: number | null;
  /** Set when this request had to load the model first. */
  readonly model_load_time_seconds: number | null;
  /** Wall time of the whole call, measured by the bridge. */
  readonly total_seconds: number;
}

/** The outcome of one generation. */
export interface InferenceResult {
  /** The answer, reasoning removed. */
  readonly answer: string;
  /** The reasoning, when the model gave any. */
  readonly reasoning: string | null;
  /** The model (or instance) that answered. */
  readonly model: string;
  /** Why generation stopped: `stop`, `length`, `tool_calls`, … */
  readonly stop_reason: string;
  /** Token counts and speed. */
  readonly stats: InferenceStats;
  /** Tool calls the model made (LM Studio plugins/MCP), by name. */
  readonly tool_calls: readonly string[];
}

/** What a generation is doing, for progress notifications. */
export type InferenceProgress =
  | { readonly phase: "loading"; readonly fraction: number | undefined }
  | { readonly phase: "prompt"; readonly fraction: number | undefined }
  | { readonly phase: "reasoning"; readonly tokens: number }
  | { readonly phase: "answer"; readonly tokens: number }
  | { readonly phase: "tool"; readonly tool: string };

/** Callbacks of a generation. */
export interface InferenceHooks {
  /** Cancels the HTTP request at once. */
  readonly signal?: AbortSignal | undefined;
  /** Called as the generation advances. */
  readonly onProgress?: ((progress: InferenceProgress) => void) | undefined;
  /** Called for oddities that do not fail the call (an unparseable event). */
  readonly onWarning?: ((message: string) => void) | undefined;
  /**
   * How long LM Studio may keep the request queued (behind others on the model's slots) before the
   * inference deadline starts; unset, the deadline starts when the request is sent.
   */
  readonly queueMs?: number | undefined;
}

/**
 * Splits `<think>…</think>` reasoning out of generated text. Handles several blocks, a block left
 * open at the end (all of it is reasoning), and a closing tag without an opening one (models whose
 * template already opened the block: everything before it is reasoning).
 *
 * @param text The generated text
 * @returns The answer and the reasoning (empty when none)
 * @example
 * ```ts
 * import { splitThink } from "./inference.ts";
 * splitThink("<think>2+2…</think>4"); // { answer: "4", reasoning: "2+2…" }
 * ```
 */
export function splitThink(text: string): { answer: string; reasoning: string } {
  if (!/<\/?think>/i.test(text)) return { answer: text, reasoning: "" };
  const reasoning: string[] = [];
  let rest = text;
  const firstClose = rest.search(/<\/think>/i);
  const firstOpen = rest.search(/<think>/i);
  if (firstClose >= 0 && (firstOpen < 0 || firstClose < firstOpen)) {
    reasoning.push(rest.slice(0, firstClose));
    rest = rest.slice(firstClose + "</think>".length);
  }
  let answer = "";
  while (rest.length) {
    const open = rest.search(/<think>/i);
    if (open < 0) {
      answer += rest;
      break;
    }
    answer += rest.slice(0, open);
    rest = rest.slice(open + "<think>".length);
    const close = rest.search(/<\/think>/i);
    if (close < 0) {
      reasoning.push(rest);
      break;
    }
    reasoning.push(rest.slice(0, close));
    rest = rest.slice(close + "</think>".length);
  }
  return { answer: answer.trim(), reasoning: reasoning.map((r) => r.trim()).filter(Boolean).join("\n\n") };
}

/**
 * Time to first token on the same clock as `total_seconds`: ours, measured at the first streamed token.
 * Without a stream, LM Studio's figure stands in, unless it exceeds the total measured here (its clock
 * started elsewhere, e.g. before a model load), which would report an impossible pair.
 *
 * @param measuredSeconds Seconds from the request to the first streamed token, if one was seen
 * @param reportedSeconds LM Studio's `time_to_first_token` figure, if any
 * @param totalSeconds The call's total, measured here
 * @returns The figure to report, or null
 */
export function firstTokenSeconds(
  measuredSeconds: number | null,
  reportedSeconds: number | null | undefined,
  totalSeconds: number,
): number | null {
  if (measuredSeconds !== null) return measuredSeconds;
  return reportedSeconds !== null && reportedSeconds !== undefined && reportedSeconds <= totalSeconds
    ? reportedSeconds
    : null;
}

/** What the overflow advice may use. */
export interface OverflowOptions {
  /** Whether the caller can pass `context_length` per request. */
  readonly perRequestContext: boolean;
  /** The request's output limit, to size the context to suggest. */
  readonly maxTokens?: number | undefined;
  /** The prompt's tokens, when LM Studio counted them. */
  readonly promptTokens?: number | null | undefined;
}

/**
 * The smallest usual context length (a power of two, at least 4,096) that holds `tokens`, if the
 * model's maximum allows it.
 *
 * @param tokens Tokens the request needs (prompt, answer and template)
 * @param max The model's `max_context_length`, if known
 * @returns The context length to suggest, or undefined when even the maximum is too small
 * @example
 * ```ts
 * import { fittingContext } from "./inference.ts";
 * fittingContext(9000, 32768); // 16384
 * ```
 */
export function fittingContext(tokens: number, max: number | null | undefined): number | undefined {
  let context = 4096;
  while (context < tokens && context < 16_777_216) context *= 2;
  if (max && context > max) return tokens <= max ? max : undefined;
  return context;
}

/** LM Studio's "The input has N tokens" (#2322) or llama.cpp's "n_keep: N", when its message says. */
function inputTokensIn(detail: string): number | undefined {
  const match = /input has (\d+) tokens/i.exec(detail) ?? /n_keep: (\d+)/i.exec(detail);
  return match ? Number(match[1]) : undefined;
}

/**
 * Builds the context-overflow error, naming the model's loaded and maximum context when LM Studio
 * can tell us (one extra `GET /api/v1/models`, only on this failure path), and the context length that
 * would hold the prompt when its size is known.
 *
 * @param client LM Studio
 * @param model The model key the call named
 * @param detail What LM Studio said or what we saw
 * @param options Whether the caller can pass `context_length` per request; the prompt's size
 * @returns The error to throw
 */
export async function contextOverflow(
  client: LmStudioClient,
  model: string,
  detail: string,
  options: OverflowOptions,
): Promise<ContextOverflowError> {
  const { where, max } = await loadedContextOf(client, model);
  const input = inputTokensIn(detail) ?? options.promptTokens ?? undefined;
  const fits = input === undefined ? undefined : fittingContext(input + (options.maxTokens ?? 0) + 64, max);
  const target = max ? ` (up to ${max} for this model${fits ? `; ${fits} holds this prompt` : ""})` : "";
  const fixes = [
    "shorten the input",
    ...(options.perRequestContext ? [`pass a larger context_length${target}`] : []),
    `or reload it with model_unload then model_load with a larger context_length${
      options.perRequestContext ? "" : target
    }`,
  ];
  const shared = /context size has been exceeded/i.test(detail)
    ? " Requests running at the same time on one model share its loaded context (LM Studio's unified KV " +
      "cache), so they fail together when they outgrow it; such a failure is retried alone a few times, so " +
      "when it still fails another application is using the model, or this request is too large on its own."
    : "";
  return new ContextOverflowError(
    `The prompt does not fit ${where} (${detail}).${shared} To fix: ${fixes.join(", ")}`,
    detail,
  );
}

/** "qwen's loaded context of 8192 tokens", and the model's maximum, as far as LM Studio says. */
async function loadedContextOf(
  client: LmStudioClient,
  model: string,
): Promise<{ where: string; loaded: number | undefined; max: number | null | undefined }> {
  try {
    const catalog = await client.listModels();
    const found = findModel(catalog, model);
    const loaded = loadedContextLength(catalog, model);
    return {
      where: loaded
        ? `${found?.key ?? model}'s loaded context of ${loaded} tokens`
        : "the model's loaded context",
      loaded,
      max: found?.max_context_length,
    };
  } catch {
    return { where: "the model's loaded context", loaded: undefined, max: undefined }; // The advice still holds.
  }
}

/**
 * What a generation that produced nothing at all (no text, reasoning, tool call or output token) means.
 * A 200 reply with zero deltas is how LM Studio answers a prompt larger than the loaded context on some
 * paths (GGUF on `/v1/chat/completions`, lmstudio-bug-tracker#2339), so it gets the overflow advice,
 * unless LM Studio counted the prompt and it fits the loaded context: then it is only an empty answer.
 *
 * @param client LM Studio
 * @param model The model key the call named
 * @param options The prompt's tokens if LM Studio counted them, and what the advice may name
 * @returns The overflow error, or undefined when the prompt fit (an empty answer)
 */
export async function emptyGeneration(
  client: LmStudioClient,
  model: string,
  options: OverflowOptions,
): Promise<ContextOverflowError | undefined> {
  const prompt = options.promptTokens;
  if (typeof prompt === "number" && prompt > 0) {
    const { loaded } = await loadedContextOf(client, model);
    if (loaded && prompt < loaded) return undefined;
  }
  return await contextOverflow(
    client,
    model,
    typeof prompt === "number" && prompt > 0
      ? `LM Studio answered with an empty generation for a prompt of ${prompt} tokens`
      : "LM Studio answered with an empty generation: no tokens at all",
    options,
  );
}

/**
 * Appends the text received before a failure, so that the user does not lose it.
 *
 * @param partial The text so far
 * @returns A suffix for the error message
 */
export function partialNote(partial: string): string {
  if (!partial) return "";
  const max = 4000;
  const shown = partial.length > max ? `${partial.slice(0, max)}…` : partial;
  return `.\nText received before the failure:\n${shown}`;
}

/**
 * The error to throw for a failed generation, shared by every inference path: a context overflow gets
 * the loaded-context advice, and a broken or timed-out stream keeps the text received so far.
 *
 * @param error What the request threw
 * @param client LM Studio, to look up the loaded context
 * @param model The model key the call named
 * @param partial The text received before the failure
 * @param perRequestContext Whether the caller can pass `context_length` per request (and the output limit)
 * @returns The error to throw
 */
export async function inferenceFailure(
  error: unknown,
  client: LmStudioClient,
  model: string,
  partial: string,
  perRequestContext: boolean | OverflowOptions,
): Promise<unknown> {
  if (error instanceof ContextOverflowError) {
    const options = typeof perRequestContext === "boolean" ? { perRequestContext } : perRequestContext;
    return await contextOverflow(client, model, `LM Studio: ${error.detail}`, options);
  }
  if ((error instanceof StreamError || error instanceof TimeoutError) && partial) {
    return new StreamError(`${error.message}${partialNote(partial)}`, { cause: error });
  }
  return error;
}

/**
 * Posts a non-streamed inference request, reporting that the prompt is being processed (heartbeats
 * follow while LM Studio works).
 *
 * @param client LM Studio
 * @param path The endpoint
 * @param body The JSON body
 * @param context What it does, the model, and the hooks
 * @returns The parsed reply
 */
export function postInference(
  client: LmStudioClient,
  path: string,
  body: unknown,
  context: { what: string; model: string; hooks: InferenceHooks },
): Promise<unknown> {
  context.hooks.onProgress?.({ phase: "prompt", fraction: undefined });
  return client.postJson(path, body, {
    what: context.what,
    model: context.model,
    signal: context.hooks.signal,
    inference: true,
    queueMs: context.hooks.queueMs,
  });
}

/**
 * The error for an `error` event (native) or error chunk (OpenAI-compatible) inside a 200 stream. A
 * context overflow stays a {@linkcode ContextOverflowError}, so {@linkcode inferenceFailure} can add the
 * loaded-context advice; anything else keeps the text received so far.
 *
 * @param body The error LM Studio reported
 * @param client LM Studio (whether an API key was sent)
 * @param model The model key the call named
 * @param partial The text received before the error
 * @returns The error to throw
 */
export function reportedError(
  body: ErrorBody,
  client: LmStudioClient,
  model: string,
  partial: string,
): LmStudioError {
  const mapped = errorFromBody(200, body, { hadKey: client.hasApiKey, model });
  if (mapped instanceof ContextOverflowError) return mapped;
  return new LmStudioError(
    `LM Studio reported an error while generating: ${mapped.message}${partialNote(partial)}`,
    { cause: mapped },
  );
}

/**
 * The error for a stream that ended before its end marker. A stream that produced nothing at all is
 * what LM Studio does when the prompt does not fit, so that case gets the overflow advice.
 *
 * @param client LM Studio, to look up the loaded context
 * @param model The model key the call named
 * @param marker The end marker that never came (`chat.end`, `[DONE]`)
 * @param partial The text received so far
 * @param produced Whether anything at all (text, tokens, tool calls, a finish reason) arrived
 * @param perRequestContext Whether the caller can pass `context_length` per request
 * @returns The error to throw
 */
export async function endedEarly(
  client: LmStudioClient,
  model: string,
  marker: string,
  partial: string,
  produced: boolean,
  perRequestContext: boolean,
): Promise<LmStudioError> {
  if (!produced) {
    return await contextOverflow(client, model, "LM Studio's stream ended without producing any text", {
      perRequestContext,
    });
  }
  return new StreamError(
    `The answer from ${model} was cut off: LM Studio's stream ended before ${marker} ` +
      `(the model may have crashed or been unloaded)${partialNote(partial)}`,
  );
}

/**
 * Throws {@linkcode EmptyAnswerError} when a generation has no answer text; the message says what the
 * model did instead (only reasoning, only tool calls, nothing) and what to do.
 *
 * @param result The generation
 * @param options Whether the caller can pass `reasoning` (the advice names it), and a note to append
 *   (e.g. that nothing was stored)
 * @throws {EmptyAnswerError} When the answer is blank
 */
export function requireAnswer(
  result: InferenceResult,
  options: { readonly reasoningParameter: boolean; readonly note?: string },
): void {
  if (result.answer.trim()) return;
  let message: string;
  if (result.tool_calls.length) {
    message = `${result.model} answered only with tool calls (${result.tool_calls.join(", ")}) and no text.`;
  } else if (result.reasoning) {
    const tokens = result.stats.reasoning_tokens ?? result.stats.output_tokens;
    const size = tokens ? `${tokens} tokens` : `${result.reasoning.length} characters`;
    message = `${result.model} produced only reasoning (${size}) and no answer` +
      (result.stop_reason === "length" ? ", because it reached max_tokens while thinking" : "") +
      (options.reasoningParameter
        ? `. Raise max_tokens, or set reasoning to "off" or "low".`
        : ". Raise max_tokens.");
  } else {
    message = `${result.model} returned an empty answer. Try again, or rephrase the prompt.`;
  }
  throw new EmptyAnswerError(options.note ? `${message} ${options.note}` : message, result.reasoning);
}

/**
 * What both inference paths share while collecting a generation: the answer and reasoning text, tool
 * calls, per-phase delta counts for progress, and one clock for time to first token, generation time
 * and the call's total.
 */
export abstract class GenerationCollector {
  /** Answer text received as deltas (may hold inline `<think>` blocks). */
  protected answerText = "";
  /** Reasoning text received as deltas. */
  protected reasoningText = "";
  /** Tool calls, by name. */
  protected readonly tools: string[] = [];
  #firstTokenAt: number | undefined;
  #lastTokenAt: number | undefined;
  #deltas = { answer: 0, reasoning: 0 };
  readonly #startedAt: number;

  /**
   * Creates the instance.
   *
   * @param hooks Progress and warnings
   * @param now Milliseconds clock
   */
  constructor(
    protected readonly hooks: InferenceHooks = {},
    readonly now: () => number = performance.now.bind(performance),
  ) {
    this.#startedAt = now();
  }

  /**
   * Records one streamed delta: its time, and a progress update.
   *
   * @param kind Which text it extends
   * @param text The delta
   * @param phase The phase to report (answer text inside an open `<think>` is reasoning)
   */
  protected delta(kind: "answer" | "reasoning", text: string, phase: "answer" | "reasoning" = kind): void {
    if (!text) return;
    const now = this.now();
    this.#firstTokenAt ??= now;
    this.#lastTokenAt = now;
    if (kind === "answer") this.answerText += text;
    else this.reasoningText += text;
    this.hooks.onProgress?.({ phase, tokens: ++this.#deltas[phase] });
  }

  /** The text received so far, for messages about a failed stream. */
  partial(): string {
    return (this.answerText || this.reasoningText).trim();
  }

  /**
   * Timings on this collector's clock.
   *
   * @param reportedFirstToken LM Studio's time to first token, used when nothing was streamed
   * @returns Total seconds, time to first token, and seconds between the first and last delta
   */
  protected timing(reportedFirstToken: number | null | undefined): {
    total: number;
    firstToken: number | null;
    generating: number;
  } {
    const total = Math.round(this.now() - this.#startedAt) / 1000;
    const measured = this.#firstTokenAt === undefined
      ? null
      : Math.round(this.#firstTokenAt - this.#startedAt) / 1000;
    const generating = this.#firstTokenAt !== undefined && this.#lastTokenAt !== undefined
      ? (this.#lastTokenAt - this.#firstTokenAt) / 1000
      : 0;
    return { total, firstToken: firstTokenSeconds(measured, reportedFirstToken, total), generating };
  }
}
