/**
 * `combine`: the reduce step of `each`/`prompts`. The answers go to the model with the merge instruction
 * in prompts sized to its loaded context; when they do not fit one prompt, they are merged in rounds
 * (parts of the answers first, then the parts), each round within the same fan-out budget as the items.
 *
 * @module
 */
import { LmStudioError } from "../../lib/errors.ts";
import { mapBudgeted } from "../../lib/inference/fanout.ts";
import { type InferenceResult, requireAnswer } from "../../lib/lmstudio/inference.ts";
import { type AskRequest, generate } from "./generate.ts";
import type { ToolContext } from "../tool.ts";
import { MARGIN_TOKENS, requestTokens } from "../../lib/inference/context_budget.ts";
import { estimateTokens, prefixWithin } from "../../lib/inference/tokens.ts";

/** Rounds before giving up; each round at least halves the answers, so 8 merge over 200 items. */
const MAX_ROUNDS = 8;

/** One answer to merge. */
export interface Answer {
  /** The item it answers (file path, `#3`). */
  readonly item: string;
  /** The answer text. */
  readonly answer: string;
}

/** What the combine step produced. */
export interface Combined {
  /** The final merge. */
  readonly result: InferenceResult;
  /** Every generation it took (for the stats). */
  readonly generations: readonly InferenceResult[];
  /** Rounds: 1 when all answers fit one prompt. */
  readonly rounds: number;
  /** The final merge's JSON, with json_schema. */
  readonly json?: unknown;
}

/** How the combine step may run. */
export interface CombineLimits {
  /** The loaded context, in tokens. */
  readonly context: number;
  /** Most requests at once. */
  readonly width: number;
  /** How long LM Studio may keep a request queued before its deadline starts. */
  readonly queueMs: number;
}

/**
 * Merges the answers with the call's `combine` instruction, in rounds when they do not fit one prompt.
 *
 * @param request The call (its `combine`, model, output limit)
 * @param answers The answers, in item order
 * @param limits Context, width, queue bound
 * @param context Progress and cancellation
 * @returns The merge, every generation, and the number of rounds
 * @throws {LmStudioError} When a merge fails
 */
export async function combineAnswers(
  request: AskRequest,
  answers: readonly Answer[],
  limits: CombineLimits,
  context: ToolContext,
): Promise<Combined> {
  const instruction = request.args.combine!;
  const fixed = estimateTokens(instruction + (request.args.system ?? "")) + 70;
  const room = Math.max(300, limits.context - request.maxTokens - MARGIN_TOKENS - fixed);
  let blocks = answers.map((a) => block(a.item, a.answer));
  const generations: InferenceResult[] = [];
  let json: unknown;
  const merge = async (prompt: string) => {
    const generated = await generate(request, prompt, {
      signal: context.signal,
      onWarning: (message) => request.deps.log.warn(message),
      queueMs: limits.queueMs,
    }, false);
    requireAnswer(generated.result, { reasoningParameter: true });
    generations.push(generated.result);
    json = generated.json;
    return generated.result;
  };
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    // Two answers always fit one prompt, so each round at least halves them.
    const groups = pack(
      blocks.map((b) => blocks.length > 1 ? cut(b, Math.floor(room / 2)) : cut(b, room)),
      room,
    );
    if (groups.length === 1) {
      context.progress.update(
        `Combining ${answers.length} answers` + (round > 1 ? ` (round ${round}: the last merge)` : ""),
      );
      const result = await merge(`${instruction}\n\n${groups[0]!.join("\n\n")}`);
      return { result, generations, rounds: round, ...(json === undefined ? {} : { json }) };
    }
    context.progress.update(
      `Combining ${answers.length} answers in rounds: round ${round} merges ${blocks.length} in ${groups.length} parts`,
    );
    const { settled } = await mapBudgeted(groups, {
      width: limits.width,
      total: limits.context,
      cost: (i) => requestTokens(groups[i]!.join("\n\n"), request.maxTokens) + fixed,
    }, (group, i) =>
      merge(
        `${instruction}\n\n(This is part ${i + 1} of ${groups.length}: merge these answers; a later step ` +
          `merges the parts.)\n\n${group.join("\n\n")}`,
      ), context.signal);
    const failed = settled.find((s) => !s.ok);
    if (failed && !failed.ok) throw failed.error;
    blocks = settled.map((s, i) => block(`part ${i + 1} of ${groups.length}`, s.ok ? s.value.answer : ""));
  }
  throw new LmStudioError(`combine did not converge in ${MAX_ROUNDS} rounds; pass fewer items`);
}

function block(item: string, answer: string): string {
  return `<answer item="${item}">\n${answer}\n</answer>`;
}

/** Shortens a block to `max` tokens, saying how much was cut. */
function cut(text: string, max: number): string {
  if (estimateTokens(text) <= max) return text;
  const keep = prefixWithin(text, Math.max(0, max - 20));
  return `${text.slice(0, keep)}\n[… ${text.length - keep} characters cut to fit the context]\n</answer>`;
}

/** Groups blocks in order so that each group's text fits `room` tokens. */
function pack(blocks: readonly string[], room: number): string[][] {
  const groups: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const b of blocks) {
    const cost = estimateTokens(b) + 1;
    if (current.length && size + cost > room) {
      groups.push(current);
      current = [];
      size = 0;
    }
    current.push(b);
    size += cost;
  }
  if (current.length) groups.push(current);
  return groups;
}
