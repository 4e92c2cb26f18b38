/**
 * What fits a model's context, in one place: how many characters a request may spend on history or
 * files once the answer's tokens (`max_tokens`) and a margin are kept aside, how many tokens a text needs,
 * and the context of the loaded instance. Sizing uses 3 characters per token: fewer than the 4 of
 * English prose, so an estimate errs toward fitting (code and other languages run denser).
 *
 * @module
 */
import { findModel } from "./models.ts";
import type { NativeModel } from "./schemas.ts";

/** Characters per token when sizing what fits (estimates for display use 4; this leaves margin). */
export const CHARS_PER_TOKEN = 3;
/** Tokens kept free besides the answer: chat template, role markers, stop tokens. */
export const MARGIN_TOKENS = 64;

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

/**
 * The context of a model's first loaded instance, as LM Studio lists it.
 *
 * @param catalog `GET /api/v1/models`
 * @param model A model key, variant or instance id
 * @returns Tokens, or undefined when it is not loaded or the config does not say
 */
export function loadedContextLength(catalog: readonly NativeModel[], model: string): number | undefined {
  const value = findModel(catalog, model)?.loaded_instances?.[0]?.config?.context_length;
  return typeof value === "number" && value > 0 ? value : undefined;
}
