/**
 * What fits a model's context, in one place: how many characters or tokens a request may spend on
 * history or files once the answer's tokens (`max_tokens`) and a margin are kept aside, how many tokens
 * a request needs (lib/inference/tokens.ts: Han, kana and Hangul one per character, other text one per 3), the
 * `max_tokens` delegated work keeps by default, and which loaded instance to size for (the smallest of
 * a model's instances: LM Studio may send a request for the model to any of them).
 *
 * @module
 */
import { findModel } from "../lmstudio/models.ts";
import type { NativeModel } from "../lmstudio/schemas.ts";
import { CHARS_PER_TOKEN, estimateTokens } from "./tokens.ts";

export { CHARS_PER_TOKEN };
/** Tokens kept free besides the answer: chat template, role markers, stop tokens. */
export const MARGIN_TOKENS = 64;
/** The output limit when a call sets none (the reference's, kept so that answers stay the same length). */
export const DEFAULT_MAX_TOKENS = 2048;
/** Parallel slots LM Studio gives a loaded model when its config does not say (lmstudio-js `numParallelSessions`). */
export const DEFAULT_PARALLEL = 4;

/**
 * The `max_tokens` of delegated work (files, `each`, `prompts`, packed folders) when the caller sets
 * none: at most a quarter of the context (such answers are short), so that several requests fit the
 * shared cache at once, and never more than the default of a single question.
 *
 * @param context The context the requests run in, in tokens
 * @returns Tokens kept for each answer
 * @example
 * ```ts
 * import { delegatedMaxTokens } from "./context_budget.ts";
 * delegatedMaxTokens(4096); // 1024
 * ```
 */
export function delegatedMaxTokens(context: number): number {
  return Math.max(64, Math.min(DEFAULT_MAX_TOKENS, Math.floor(context / 4)));
}

/**
 * Tokens a request needs in the cache: its text, its answer, the margin.
 *
 * @param text The prompt (and system prompt)
 * @param maxTokens Tokens kept for the answer
 * @returns Tokens
 */
export function requestTokens(text: string, maxTokens: number): number {
  return estimateTokens(text) + maxTokens + MARGIN_TOKENS;
}

/**
 * Characters a request may still spend, given its context, the tokens kept for the answer and what it
 * already holds.
 *
 * @param window The context, in tokens
 * @param maxTokens Tokens kept for the answer
 * @param fixedChars Characters the request holds anyway (system prompt, message, instruction)
 * @returns Characters left, at least 0
 * @example
 * ```ts
 * import { charBudget } from "./context_budget.ts";
 * charBudget(4096, 2048, 0); // (4096 − 2048 − 64) × 3 = 5952
 * ```
 */
export function charBudget(window: number, maxTokens: number, fixedChars: number): number {
  return Math.max(0, (window - maxTokens - MARGIN_TOKENS) * CHARS_PER_TOKEN - fixedChars);
}

/**
 * The context a request of `chars` characters needs with room for its answer.
 *
 * @param chars The request's characters
 * @param maxTokens Tokens kept for the answer
 * @returns Tokens
 */
export function tokensNeeded(chars: number, maxTokens: number): number {
  return Math.ceil(chars / CHARS_PER_TOKEN) + maxTokens + MARGIN_TOKENS;
}

/** A loaded instance, as sizing sees it. */
export interface SizedInstance {
  /** Its id. */
  readonly id: string;
  /** Its loaded context. */
  readonly context: number;
  /** Its parallel slots, when its config lists them. */
  readonly parallel: number | undefined;
}

/**
 * The loaded instance to size requests for: the one named, when `model` is an instance id; else the one
 * with the smallest context (a request named by key may go to any of them), with the others.
 *
 * @param catalog `GET /api/v1/models`
 * @param model A model key, variant or instance id
 * @returns The instance and the model's other instances, or undefined when none is loaded with a known context
 */
export function sizingInstance(
  catalog: readonly NativeModel[],
  model: string,
): { instance: SizedInstance; others: SizedInstance[] } | undefined {
  const found = findModel(catalog, model);
  const all = (found?.loaded_instances ?? []).flatMap((i): SizedInstance[] => {
    const context = i.config?.context_length;
    if (typeof context !== "number" || !(context > 0)) return [];
    const parallel = i.config?.parallel;
    return [{
      id: i.id,
      context,
      parallel: typeof parallel === "number" && Number.isInteger(parallel) && parallel > 0
        ? parallel
        : undefined,
    }];
  });
  if (!all.length) return undefined;
  // The first instance's id is the model key itself: only another instance's id names one.
  const named = model === found?.key ? undefined : all.find((i) => i.id === model);
  const instance = named ??
    all.reduce((smallest, i) => i.context < smallest.context ? i : smallest);
  return { instance, others: named ? [] : all.filter((i) => i !== instance) };
}

/**
 * The context to size a model's requests for: the named instance's, else the smallest of its loaded
 * instances'.
 *
 * @param catalog `GET /api/v1/models`
 * @param model A model key, variant or instance id
 * @returns Tokens, or undefined when it is not loaded or the config does not say
 */
export function loadedContextLength(catalog: readonly NativeModel[], model: string): number | undefined {
  return sizingInstance(catalog, model)?.instance.context;
}
