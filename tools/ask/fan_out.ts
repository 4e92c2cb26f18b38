/**
 * `each` / `prompts`: the prompt once per file or item, then optionally one `combine` (map → reduce),
 * run the way LM Studio allocates a loaded model:
 *
 * - **Width**: as many at once as `parallel` (the call's), else `LMSTUDIO_MCP_PARALLEL`, else the loaded
 *   instance's `parallel`, else LM Studio's default 4; the result says which.
 * - **Budget**: the requests in flight share ONE KV cache (the loaded context); when they outgrow it LM
 *   Studio fails all of them. Every item goes through the instance's KV ledger (lib/inference/kv_ledger.ts, shared
 *   with every other call of the process): it starts only when its prompt and `max_tokens` fit what the
 *   requests in flight leave, so large items run fewer at once. A file larger than one request is split
 *   at line boundaries, one item per part. Unset, `max_tokens` is a quarter of the context.
 * - **Deadlines** start when LM Studio starts an item, not while it waits in LM Studio's queue (MLX may
 *   serve one at a time whatever the width).
 * - **Loading**: an unloaded model is loaded once before the fan-out, sized so the largest item fits one
 *   request (tools/ask/load.ts; through the load gate, so other calls wait on the same load); with `ttl`
 *   the first item loads it (a JIT load, the only kind that honours a TTL) and the rest wait for it.
 *
 * @module
 */
import { CancelledError, InputError } from "../../lib/errors.ts";
import { type InferenceResult, requireAnswer } from "../../lib/lmstudio/inference.ts";
import { framePiece, pieceLabel, pieceTokens, splitFile } from "../../lib/inference/packing.ts";
import type { NativeModel } from "../../lib/lmstudio/schemas.ts";
import { estimateTokens } from "../../lib/inference/tokens.ts";
import { type AskRequest, generate } from "./generate.ts";
import { onePassTokens, sizeJob } from "./load.ts";
import { mapBudgeted } from "../../lib/inference/fanout.ts";
import { combineAnswers, type Combined } from "./combine.ts";
import { hostsLine, spreadOverPool } from "./fan_out_pool.ts";
import { filesLine, filesReport, readAllFiles, type ReadFiles } from "../common/file_input.ts";
import { errorText } from "../common/result.ts";
import type { CallToolResult } from "@modelcontextprotocol/server";
import type { ToolContext } from "../tool.ts";
import {
  DEFAULT_PARALLEL,
  MARGIN_TOKENS,
  requestTokens,
  sizingInstance,
} from "../../lib/inference/context_budget.ts";

export { DEFAULT_PARALLEL };
/** Most requests one `each` call makes (files split into parts count each part). */
const MAX_EACH_ITEMS = 400;

/** Where the number of requests sent at once came from. */
export type WidthSource = "parallel" | "LMSTUDIO_MCP_PARALLEL" | "LM Studio" | "default";

/**
 * How many requests a fan-out sends at once: the call's `parallel`, else `LMSTUDIO_MCP_PARALLEL`, else
 * the loaded instance's `parallel` (absent on MLX instances and in replies of 0.4 servers), else 4.
 *
 * @param call The call's `parallel`
 * @param configured LMSTUDIO_MCP_PARALLEL
 * @param listed The loaded instance's `config.parallel`
 * @returns The width and its source
 */
export function fanOutWidth(
  call: number | undefined,
  configured: number | undefined,
  listed: unknown,
): { width: number; source: WidthSource } {
  if (call !== undefined) return { width: call, source: "parallel" };
  if (configured !== undefined) return { width: configured, source: "LMSTUDIO_MCP_PARALLEL" };
  if (typeof listed === "number" && Number.isInteger(listed) && listed > 0) {
    return { width: listed, source: "LM Studio" };
  }
  return { width: DEFAULT_PARALLEL, source: "default" };
}

const SOURCE_TEXT: Record<WidthSource, string> = {
  parallel: "the call's parallel",
  LMSTUDIO_MCP_PARALLEL: "LMSTUDIO_MCP_PARALLEL",
  "LM Studio": "the loaded instance's parallel slots",
  default: "LM Studio's default; the loaded instance lists no parallel",
};

/**
 * Runs `each` or `prompts`.
 *
 * @param request The call
 * @param catalog The models, as checked before the call
 * @param context Progress, roots, cancellation
 * @returns The result
 */
export async function runEach(
  request: AskRequest,
  catalog: readonly NativeModel[],
  context: ToolContext,
): Promise<CallToolResult> {
  const { args, deps } = request;
  const fixedTokens = estimateTokens(args.prompt + (args.system ?? "")) + 16;
  let files: ReadFiles | undefined;
  let texts: { label: string; text: string; path?: string }[];
  if (args.files) {
    files = await readAllFiles(args.files, deps, context);
    texts = files.files.map((file) => ({ label: file.path, text: file.text, path: file.path }));
  } else {
    texts = args.prompts!.map((item, i) => ({ label: `#${i + 1}`, text: item }));
  }
  // Loaded for the job: the largest item in one request.
  const largest = Math.max(
    0,
    ...texts.map((t) =>
      t.path === undefined ? estimateTokens(t.text) : pieceTokens({ path: t.path, text: t.text })
    ),
  );
  const sizing = await sizeJob(
    request,
    catalog,
    onePassTokens(fixedTokens, largest, args.max_tokens),
    context,
    false,
  );
  const notes = [...sizing.notes];
  if (args.ttl !== undefined && !request.loaded) {
    notes.push(
      `ttl: the first request loaded ${args.model} (LM Studio's on-demand load, the one that honours ttl) ` +
        "and the others waited for it",
    );
  }
  const contextSize = sizing.window;
  const maxTokens = sizing.maxTokens;
  const loadedContext = sizingInstance(sizing.catalog, args.model)?.instance.context;
  if (
    args.context_length !== undefined && loadedContext !== undefined && args.context_length > loadedContext &&
    !sizing.load
  ) {
    notes.push(
      `context_length ${args.context_length} was not applied: ${args.model} is already loaded at ` +
        `${loadedContext} tokens and each sends its requests to that instance, so everything was sized to ` +
        `${loadedContext}. To use ${args.context_length}: model_unload, then model_load with context_length ` +
        `${args.context_length}`,
    );
  }
  const { width, source } = fanOutWidth(args.parallel, deps.config.parallel, sizing.parallel);
  const room = contextSize - maxTokens - MARGIN_TOKENS - fixedTokens;
  if (room < 128) {
    throw new InputError(
      `no room for the items in a request of ${contextSize} tokens with max_tokens ${maxTokens} kept for the ` +
        "answer. Lower max_tokens, shorten the prompt, or load the model with a larger context_length (model_load)",
    );
  }
  // A file larger than one request is split at line boundaries; each part is an item of its own.
  let split = 0;
  const items: { label: string; prompt: string; group: number }[] = texts.flatMap((t, group) => {
    if (t.path === undefined) return [{ label: t.label, prompt: `${args.prompt}\n\n${t.text}`, group }];
    const pieces = splitFile({ path: t.path, text: t.text }, room);
    if (pieces.length > 1) split++;
    return pieces.map((piece) => ({
      label: pieceLabel(piece),
      prompt: `${args.prompt}\n\n${framePiece(piece)}`,
      group,
    }));
  });
  if (items.length > MAX_EACH_ITEMS) {
    throw new InputError(
      `each: the files make ${items.length} requests at ${contextSize} tokens of context (${split} split at line ` +
        `boundaries); one call makes at most ${MAX_EACH_ITEMS}. Pass a narrower folder or glob, or load the model ` +
        "with a larger context_length (model_unload, then model_load)",
    );
  }
  if (split) {
    notes.push(
      `${split} file${split === 1 ? " was" : "s were"} larger than one request and ${
        split === 1 ? "was" : "were"
      } read in parts at line boundaries, and the answers of its parts merged into one`,
    );
  }
  const maxTokensNote = `max_tokens ${maxTokens} kept per answer` +
    (sizing.maxTokensSource === "max_tokens"
      ? ""
      : ` (a quarter of the ${contextSize}-token context, at most 2048)`);
  const loaded = request.loaded || Boolean(loadedContext);
  const cost = (prompt: string) => requestTokens(prompt + (args.system ?? ""), maxTokens);
  const queueMs = deps.config.timeouts.inferenceMs * width;
  const itemRequest: AskRequest = { ...request, loaded, maxTokens };
  let retried = 0;
  const total = items.length + (args.combine ? 1 : 0);
  let done = 0;
  const tokens = new Array<number>(items.length).fill(0);
  const report = () =>
    context.progress.update(
      `${done} of ${items.length} done, ${tokens.reduce((a, b) => a + b, 0)} tokens generated` +
        ` (up to ${Math.min(width, items.length)} at a time)`,
      done,
      total,
    );
  report();
  const started = performance.now();
  // With several LM Studio servers: every one where the model is loaded (tools/ask/fan_out_pool.ts).
  const spread = await spreadOverPool(itemRequest, items, {
    width,
    total: contextSize,
    cost: (i) => cost(items[i]!.prompt),
  }, async (item, index, itemRequest) => {
    try {
      const { result, json, retries } = await generate(itemRequest, item.prompt, {
        signal: context.signal,
        onProgress: (event) => {
          if (event.phase === "answer" || event.phase === "reasoning") {
            tokens[index] = event.tokens;
            report();
          }
        },
        onWarning: (message) => deps.log.warn(message),
        queueMs,
      }, false);
      retried += retries;
      requireAnswer(result, { reasoningParameter: true });
      return { result, json };
    } finally {
      done++;
      report();
    }
  }, context);
  const { settled, peak } = spread;
  if (context.signal.aborted) throw new CancelledError();
  context.progress.flush(); // The final count, before the combine step or the result.
  const redact = deps.redact ?? ((text: string) => text);
  const partOutcomes = settled.map((outcome, i) => {
    const item = items[i]!.label;
    if (outcome.ok) {
      const { result, json } = outcome.value;
      return { item, answer: result.answer, error: null, json, result, cut: result.stop_reason === "length" };
    }
    const error = redact(errorText(outcome.error, "ask", deps.log));
    return { item, answer: null, error, json: undefined, result: undefined, cut: false };
  });
  const merged = await mergeParts(
    texts,
    items,
    partOutcomes,
    { itemRequest: spread.best, contextSize, width, queueMs },
    context,
  );
  const outcomes = merged.outcomes;
  const cutCount = outcomes.filter((o) => o.cut).length;
  const failed = outcomes.filter((o) => o.error !== null).length;
  const itemsText = outcomes.map((o, i) =>
    `[${i + 1}/${outcomes.length}] ${o.item}\n${
      o.error === null
        ? `${o.answer}${o.cut ? `\n[cut at max_tokens ${maxTokens}]` : ""}`
        : `Error: ${o.error}`
    }`
  ).join("\n\n");
  let combined: Combined | undefined;
  let combineError: string | undefined;
  if (args.combine && failed < outcomes.length) {
    context.progress.update(`Combining ${outcomes.length - failed} answers`, done, total);
    const reduce: AskRequest = {
      ...spread.best,
      openAi: args.ttl !== undefined,
      args: { ...args, json_schema: undefined },
    };
    try {
      combined = await combineAnswers(
        reduce,
        outcomes.flatMap((o) => o.answer === null ? [] : [{ item: o.item, answer: o.answer }]),
        { context: contextSize, width, queueMs },
        context,
      );
    } catch (error) {
      if (context.signal.aborted) throw new CancelledError();
      combineError = redact(errorText(error, "ask", deps.log));
    }
  }
  const seconds = Math.round(performance.now() - started) / 1000;
  const generations = [
    ...partOutcomes.flatMap((o) => o.result ? [o.result] : []),
    ...merged.generations,
    ...(combined?.generations ?? []),
  ];
  const sum = (pick: (r: InferenceResult) => number | null) =>
    generations.reduce((n, r) => n + (pick(r) ?? 0), 0);
  const stats = {
    input_tokens: sum((r) => r.stats.input_tokens),
    output_tokens: sum((r) => r.stats.output_tokens),
    reasoning_tokens: sum((r) => r.stats.reasoning_tokens),
    tokens_per_second: null,
    time_to_first_token_seconds: null,
    model_load_time_seconds: null,
    total_seconds: seconds,
  };
  const fewer = peak < Math.min(width, items.length)
    ? `; fewer than ${Math.min(width, items.length)} because the requests in flight share the ` +
      `${contextSize}-token loaded context and each needs its prompt plus max_tokens ${maxTokens} ` +
      "(a lower max_tokens lets more run at once)"
    : "";
  const summary = `${outcomes.length - failed} of ${outcomes.length} answered` +
    (failed ? `, ${failed} failed` : "") +
    ` in ${seconds.toFixed(2)} s on ${args.model}, ${peak} at a time (width ${width}: ${
      SOURCE_TEXT[source]
    }` +
    `${fewer}).` +
    (combined && combined.rounds > 1
      ? ` combine merged in ${combined.rounds} rounds to fit the context.`
      : "") +
    (files ? ` ${filesLine(files)}` : "") +
    ` ${maxTokensNote}.` +
    (retried ? ` ${retried} retried after LM Studio's shared cache overflowed.` : "") +
    (cutCount
      ? ` ${cutCount} answer${
        cutCount === 1 ? " was" : "s were"
      } cut at max_tokens ${maxTokens}: pass a larger max_tokens to keep them whole.`
      : "") +
    (spread.hosts ? ` ${hostsLine(spread.hosts)}` : "") +
    [...notes, ...spread.notes].map((n) => ` ${n[0]!.toUpperCase()}${n.slice(1)}.`).join("");
  const combineFailed = combineError === undefined
    ? ""
    : `combine failed: ${combineError}. Every answer follows.`;
  const text = combined
    ? combined.result.answer
    : combineFailed
    ? `${combineFailed}\n\n${itemsText}`
    : itemsText;
  return {
    content: [
      { type: "text", text },
      ...(combined ? [{ type: "text" as const, text: `Answers per item:\n\n${itemsText}` }] : []),
      { type: "text", text: summary },
    ],
    structuredContent: {
      answer: text,
      reasoning: combined?.result.reasoning ?? null,
      model: args.model,
      stop_reason: combined?.result.stop_reason ?? "stop",
      streamed: request.stream,
      stats,
      tool_calls: [],
      items: outcomes.map((o) => ({
        item: o.item,
        answer: o.answer,
        error: o.error,
        ...(o.json === undefined ? {} : { json: o.json }),
        ...(o.cut ? { cut: true } : {}),
      })),
      ...(files ? { files: filesReport(files) } : {}),
      fanout: {
        width,
        width_source: source,
        at_once: peak,
        context_length: contextSize,
        ...(combined ? { combine_rounds: combined.rounds } : {}),
        ...(combineError === undefined ? {} : { combine_error: combineError }),
        max_tokens: maxTokens,
        max_tokens_source: sizing.maxTokensSource,
        ...(retried ? { retried } : {}),
        ...(sizing.load ? { load: { asked: sizing.load.asked, applied: sizing.load.applied } } : {}),
        ...(notes.length + spread.notes.length ? { notes: [...notes, ...spread.notes] } : {}),
        ...(spread.hosts ? { hosts: spread.hosts } : {}),
      },
    },
    ...(failed === outcomes.length ? { isError: true } : {}),
  };
}

/** One answer per item (a file, or a prompt), before the combine step. */
interface Outcome {
  readonly item: string;
  readonly answer: string | null;
  readonly error: string | null;
  readonly json: unknown;
  readonly result: InferenceResult | undefined;
  readonly cut: boolean;
}

/**
 * The answers of a file read in parts, merged into one answer for the file (`each` answers once per
 * file); a file whose part failed reports that part's error.
 */
async function mergeParts(
  texts: readonly { label: string }[],
  items: readonly { group: number }[],
  parts: readonly Outcome[],
  run: { itemRequest: AskRequest; contextSize: number; width: number; queueMs: number },
  context: ToolContext,
): Promise<{ outcomes: Outcome[]; generations: InferenceResult[] }> {
  const byGroup = texts.map((): number[] => []);
  items.forEach((item, i) => byGroup[item.group]!.push(i));
  const generations: InferenceResult[] = [];
  const { args, deps } = run.itemRequest;
  const redact = deps.redact ?? ((text: string) => text);
  const split = byGroup.flatMap((indices, group) =>
    indices.length > 1 && indices.every((i) => parts[i]!.error === null) ? [group] : []
  );
  const merges = await mapBudgeted(
    split,
    { width: run.width, total: Infinity, cost: () => 0 },
    (group) =>
      combineAnswers(
        {
          ...run.itemRequest,
          args: {
            ...args,
            combine: `Each answer below answers the same prompt over a different part of ${
              texts[group]!.label
            }. Combine them into one answer to the prompt for the whole file. The prompt: ${args.prompt}`,
          },
        },
        byGroup[group]!.map((i) => ({ item: parts[i]!.item, answer: parts[i]!.answer! })),
        { context: run.contextSize, width: run.width, queueMs: run.queueMs },
        context,
      ),
    context.signal,
  );
  if (context.signal.aborted) throw new CancelledError();
  const mergedOf = new Map(split.map((group, k) => [group, merges.settled[k]!]));
  const outcomes = byGroup.map((indices, group): Outcome => {
    const label = texts[group]!.label;
    if (indices.length === 1) return { ...parts[indices[0]!]!, item: label };
    const failedPart = indices.map((i) => parts[i]!).find((o) => o.error !== null);
    if (failedPart) {
      return {
        item: label,
        answer: null,
        error:
          `${failedPart.item} failed (the file was read in ${indices.length} parts): ${failedPart.error}`,
        json: undefined,
        result: undefined,
        cut: false,
      };
    }
    const merge = mergedOf.get(group)!;
    if (!merge.ok) {
      return {
        item: label,
        answer: null,
        error: `merging the answers of its ${indices.length} parts failed: ${
          redact(errorText(merge.error, "ask", deps.log))
        }`,
        json: undefined,
        result: undefined,
        cut: false,
      };
    }
    generations.push(...merge.value.generations);
    return {
      item: label,
      answer: merge.value.result.answer,
      error: null,
      json: merge.value.json,
      result: merge.value.result,
      cut: merge.value.result.stop_reason === "length" || indices.some((i) => parts[i]!.cut),
    };
  });
  return { outcomes, generations };
}
