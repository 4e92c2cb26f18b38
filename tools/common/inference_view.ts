/**
 * What `ask` and `chat` share on the MCP side: progress messages for a generation, the stats line,
 * the output-schema pieces, and the result blocks (answer first, reasoning in its own block).
 *
 * @module
 */
import { z } from "zod";
import type { InferenceProgress, InferenceResult, InferenceStats } from "../../lib/lmstudio/inference.ts";
import type { Progress } from "../tool.ts";
import type { ContentBlock } from "./result.ts";

/** `structuredContent.stats`. */
export const StatsSchema = (): z.ZodType<InferenceStats> =>
  z.object({
    input_tokens: z.number().nullable(),
    output_tokens: z.number().nullable(),
    reasoning_tokens: z.number().nullable(),
    tokens_per_second: z.number().nullable(),
    time_to_first_token_seconds: z.number().nullable(),
    model_load_time_seconds: z.number().nullable(),
    total_seconds: z.number(),
  });

/**
 * Turns generation events into progress notifications. The value grows across phases: loading
 * 0–100, prompt 100–200, then 200 + tokens; the total is 200 + max_tokens when known.
 *
 * @param progress The call's reporter
 * @param model The model, for messages
 * @param maxTokens The output limit, for the total
 * @returns The hook to give the generation
 */
export function progressHook(
  progress: Progress,
  model: string,
  maxTokens: number | undefined,
): (event: InferenceProgress) => void {
  const total = maxTokens === undefined ? undefined : 200 + maxTokens;
  const pct = (f: number | undefined) => f === undefined ? "" : `: ${Math.round(f * 100)}%`;
  return (event) => {
    if (!progress.enabled) return; // No progress token: nothing to format per token.
    switch (event.phase) {
      case "loading":
        progress.update(`Loading ${model}${pct(event.fraction)}`, (event.fraction ?? 0) * 100, total);
        break;
      case "prompt":
        progress.update(
          `Processing the prompt${pct(event.fraction)}`,
          100 + (event.fraction ?? 0) * 100,
          total,
        );
        break;
      case "reasoning":
        progress.update(`Reasoning: ${event.tokens} tokens`, 200 + event.tokens, total);
        break;
      case "answer":
        progress.update(`Generating: ${event.tokens} tokens`, 200 + event.tokens, total);
        break;
      case "tool":
        progress.update(`Model is calling ${event.tool}`);
        break;
      default: {
        const missed: never = event; // A new phase must be handled above.
        throw new TypeError(`Unhandled progress phase: ${JSON.stringify(missed)}`);
      }
    }
  };
}

/**
 * The one-line stats summary, tolerant of any missing number.
 *
 * @param stats The stats
 * @param model The model that answered
 * @param stop Why generation stopped
 * @returns e.g. `Stats: 48.1 tok/s | TTFT 0.21 s | 17 in → 50 out (12 reasoning) | qwen/qwen3-8b | stop`
 */
export function statsLine(stats: InferenceStats, model: string, stop: string): string {
  const parts: string[] = [];
  if (stats.tokens_per_second !== null) parts.push(`${stats.tokens_per_second.toFixed(1)} tok/s`);
  if (stats.time_to_first_token_seconds !== null) {
    parts.push(`TTFT ${stats.time_to_first_token_seconds.toFixed(2)} s`);
  }
  if (stats.input_tokens !== null || stats.output_tokens !== null) {
    const reasoning = stats.reasoning_tokens ? ` (${stats.reasoning_tokens} reasoning)` : "";
    parts.push(`${stats.input_tokens ?? "?"} in → ${stats.output_tokens ?? "?"} out${reasoning}`);
  }
  if (stats.model_load_time_seconds !== null) {
    parts.push(`loaded in ${stats.model_load_time_seconds.toFixed(1)} s`);
  }
  parts.push(model, `stop: ${stop}`, `${stats.total_seconds.toFixed(2)} s total`);
  return `Stats: ${parts.join(" | ")}`;
}

/**
 * The content blocks of a generation: the answer, the reasoning (labelled, separate), the stats.
 *
 * @param result The generation
 * @param extra Notes appended after the stats (trimming, cut-off)
 * @returns The blocks; the answer is first
 */
export function inferenceBlocks(result: InferenceResult, extra: readonly string[] = []): ContentBlock[] {
  const blocks: ContentBlock[] = [{ type: "text", text: result.answer }];
  if (result.reasoning) blocks.push({ type: "text", text: `Reasoning:\n${result.reasoning}` });
  const notes = [...extra];
  if (result.stop_reason === "length") {
    notes.push("The answer was cut off at max_tokens; raise max_tokens for a longer one.");
  }
  blocks.push({
    type: "text",
    text: [statsLine(result.stats, result.model, result.stop_reason), ...notes].join("\n"),
  });
  return blocks;
}
