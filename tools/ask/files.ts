/**
 * `ask` with `files` (one answer over all of them): the whole folder is read whatever the context. The
 * files go in one request when they fit; otherwise they are packed into as few context-sized requests as
 * needed (lib/inference/packing.ts: files in order, a file larger than one request split at line boundaries, each
 * part framed with its path and line range), the requests run on the model's slots within its KV ledger,
 * and their answers are combined in rounds (tools/ask/combine.ts) into one answer to the prompt. Only what
 * cannot be read at all is skipped, with its reason. The result says how the job was split (requests,
 * rounds, at once), the `max_tokens` kept per answer, the load it made, and the `context_length` that
 * would read everything in one request.
 *
 * @module
 */
import type { CallToolResult } from "@modelcontextprotocol/server";
import { DEFAULT_MAX_TOKENS, MARGIN_TOKENS, sizingInstance } from "../../lib/inference/context_budget.ts";
import { CancelledError, InputError } from "../../lib/errors.ts";
import { type InferenceResult, requireAnswer } from "../../lib/lmstudio/inference.ts";
import {
  framePieces,
  packPieces,
  type Piece,
  pieceLabel,
  pieceTokens,
  splitFile,
} from "../../lib/inference/packing.ts";
import type { NativeModel } from "../../lib/lmstudio/schemas.ts";
import { estimateTokens } from "../../lib/inference/tokens.ts";
import { type AskRequest, generate } from "./generate.ts";
import { type JobSizing, onePassAdvice, onePassTokens, sizeJob } from "./load.ts";
import { combineAnswers } from "./combine.ts";
import { hostsLine, spreadOverPool } from "./fan_out_pool.ts";
import { fanOutWidth } from "./fan_out.ts";
import { filesLine, filesReport, readAllFiles, type ReadFiles } from "../common/file_input.ts";
import { inferenceBlocks, progressHook } from "../common/inference_view.ts";
import { errorText } from "../common/result.ts";
import type { ToolContext } from "../tool.ts";

/** Most requests one call's files are packed into; files beyond are skipped with the advice. */
export const MAX_REQUESTS = 256;
/** Tokens the part note ("part 2 of 9 …") and the framing between files take. */
const PART_NOTE_TOKENS = 60;

/**
 * Runs `ask` with `files` (without `each`).
 *
 * @param request The call
 * @param catalog The models as checked
 * @param context Progress, roots, cancellation
 * @returns The result
 */
export async function runPacked(
  request: AskRequest,
  catalog: readonly NativeModel[],
  context: ToolContext,
): Promise<CallToolResult> {
  const { args, deps } = request;
  const files = await readAllFiles(args.files!, deps, context);
  const fixedTokens = estimateTokens(args.prompt + (args.system ?? "")) + PART_NOTE_TOKENS;
  const filesTokens = files.files.reduce((n, f) => n + pieceTokens({ path: f.path, text: f.text }) + 1, 0);
  const sizing = await sizeJob(
    request,
    catalog,
    onePassTokens(fixedTokens, filesTokens, args.max_tokens),
    context,
    true,
  );
  const { window, maxTokens } = sizing;
  const room = window - maxTokens - MARGIN_TOKENS - fixedTokens;
  if (room < 128) {
    throw new InputError(
      `files: no room for files in a request of ${window} tokens with max_tokens ${maxTokens} kept for the ` +
        `answer and a prompt of ~${fixedTokens} tokens. Lower max_tokens, shorten the prompt, or load the ` +
        "model with a larger context_length (model_load)",
    );
  }
  const { parts, read } = packWithin(files, room);
  const run: AskRequest = {
    ...request,
    maxTokens,
    loaded: Boolean(sizingInstance(sizing.catalog, args.model)) || request.loaded,
  };
  const maxTokensNote = `max_tokens ${maxTokens} kept per answer` +
    (sizing.maxTokensSource === "max_tokens"
      ? ""
      : ` (a quarter of the ${window}-token context, at most ${DEFAULT_MAX_TOKENS}; pass max_tokens to change)`);
  if (parts.length === 1) {
    context.progress.update(`Sending the prompt to ${args.model}`);
    const { result, json } = await generate(run, `${args.prompt}\n\n${framePieces(parts[0]!)}`, {
      signal: context.signal,
      onProgress: progressHook(context.progress, args.model, maxTokens),
      onWarning: (message) => deps.log.warn(message),
    });
    requireAnswer(result, { reasoningParameter: true });
    const cut = result.stop_reason === "length" ? [cutNote(maxTokens)] : [];
    const line = `${filesLine(read)} One request; ${maxTokensNote}.` +
      sizing.notes.map((n) => ` ${n[0]!.toUpperCase()}${n.slice(1)}.`).join("");
    return {
      content: inferenceBlocks(result, [line, ...cut]),
      structuredContent: {
        answer: result.answer,
        reasoning: result.reasoning,
        model: result.model,
        stop_reason: result.stop_reason,
        streamed: request.stream,
        stats: { ...result.stats },
        tool_calls: [...result.tool_calls],
        ...(json === undefined ? {} : { json }),
        files: filesReport(read),
        packing: packingReport(sizing, 1, 0, 1, 0, 0),
      },
    };
  }
  return await runParts(run, sizing, read, parts, context, maxTokensNote);
}

/** Packs the files' pieces into requests, at most {@linkcode MAX_REQUESTS}; files beyond are skipped. */
function packWithin(files: ReadFiles, room: number): { parts: Piece[][]; read: ReadFiles } {
  const perFile = files.files.map((f) => splitFile(f, room));
  let kept = perFile.length;
  let parts = packPieces(perFile.flat(), room);
  while (parts.length > MAX_REQUESTS && kept > 1) {
    kept = Math.max(1, Math.floor(kept * MAX_REQUESTS / parts.length));
    parts = packPieces(perFile.slice(0, kept).flat(), room);
  }
  if (parts.length > MAX_REQUESTS) parts = parts.slice(0, MAX_REQUESTS); // One file larger than them all.
  if (kept === files.files.length) return { parts, read: files };
  const over = files.files.slice(kept);
  return {
    parts,
    read: {
      ...files,
      files: files.files.slice(0, kept),
      chars: files.files.slice(0, kept).reduce((n, f) => n + f.chars, 0),
      skipped: [
        ...files.skipped,
        ...over.map((f) => ({
          path: f.path,
          reason:
            `not read: the call already makes ${MAX_REQUESTS} requests at this context; pass a narrower ` +
            "folder or load the model with a larger context_length",
        })),
      ],
    },
  };
}

function cutNote(maxTokens: number): string {
  return `The answer was cut at max_tokens ${maxTokens}: pass a larger max_tokens (e.g. ${
    maxTokens * 2
  }) for all of it.`;
}

function packingReport(
  sizing: JobSizing,
  requests: number,
  rounds: number,
  atOnce: number,
  failed: number,
  retried: number,
) {
  return {
    requests,
    rounds,
    at_once: atOnce,
    failed,
    retried,
    context_length: sizing.window,
    max_tokens: sizing.maxTokens,
    max_tokens_source: sizing.maxTokensSource,
    one_pass_context_length: sizing.onePass ?? null,
    ...(sizing.load ? { load: { asked: sizing.load.asked, applied: sizing.load.applied } } : {}),
    ...(sizing.notes.length ? { notes: sizing.notes } : {}),
  };
}

async function runParts(
  run: AskRequest,
  sizing: JobSizing,
  read: ReadFiles,
  parts: Piece[][],
  context: ToolContext,
  maxTokensNote: string,
): Promise<CallToolResult> {
  const { args, deps } = run;
  const { width } = fanOutWidth(undefined, deps.config.parallel, sizing.parallel);
  const queueMs = deps.config.timeouts.inferenceMs * width;
  const total = parts.length + 1;
  let done = 0;
  let retried = 0;
  const started = performance.now();
  context.progress.update(`Reading ${read.files.length} files in ${parts.length} requests`, 0, total);
  const partPrompt = (i: number) =>
    `${args.prompt}\n\n(The files are too large for one request: this is part ${i + 1} of ${parts.length}. ` +
    "Answer over these files only; the answers of all parts are combined afterwards.)\n\n" +
    framePieces(parts[i]!);
  // With several LM Studio servers: every one where the model is loaded (tools/ask/fan_out_pool.ts).
  const spread = await spreadOverPool(run, parts, {
    width,
    total: sizing.window,
    cost: (i) => estimateTokens(partPrompt(i)) + sizing.maxTokens + MARGIN_TOKENS,
  }, async (_part, i, run) => {
    try {
      const generated = await generate(run, partPrompt(i), {
        signal: context.signal,
        onWarning: (message) => deps.log.warn(message),
        queueMs,
      }, run.args.context_length !== undefined && !run.openAi);
      retried += generated.retries;
      requireAnswer(generated.result, { reasoningParameter: true });
      return generated.result;
    } finally {
      done++;
      context.progress.update(`${done} of ${parts.length} requests answered`, done, total);
    }
  }, context);
  const { settled, peak } = spread;
  if (context.signal.aborted) throw new CancelledError();
  const redact = deps.redact ?? ((text: string) => text);
  const labels = parts.map((part, i) =>
    `part ${i + 1} of ${parts.length}: ${part.map(pieceLabel).join(", ")}`.slice(0, 2000)
  );
  const items = settled.map((s, i) => ({
    item: labels[i]!,
    answer: s.ok ? s.value.answer : null,
    error: s.ok ? null : redact(errorText(s.error, "ask", deps.log)),
  }));
  const answered = settled.flatMap((s, i) => s.ok ? [{ item: labels[i]!, result: s.value }] : []);
  const failed = parts.length - answered.length;
  if (!answered.length) {
    const first = settled.find((s) => !s.ok);
    throw first && !first.ok ? first.error : new InputError("no part was answered");
  }
  context.progress.update(`Combining ${answered.length} answers`, done, total);
  let combined;
  try {
    combined = await combineAnswers(
      {
        ...spread.best,
        args: {
          ...args,
          combine:
            "Each answer below answers the same prompt over a different part of the files. Combine them " +
            `into one answer to the prompt, as if all the files had been read at once. The prompt: ${args.prompt}`,
        },
      },
      answered.map((a) => ({ item: a.item, answer: a.result.answer })),
      { context: sizing.window, width, queueMs },
      context,
    );
  } catch (error) {
    if (context.signal.aborted) throw new CancelledError();
    // The parts' answers are the work done: give them back with the reason the merge failed.
    const reason = redact(errorText(error, "ask", deps.log));
    const text =
      `Combining the answers of the ${parts.length} parts failed: ${reason}. Every part's answer ` +
      `follows.\n\n${
        items.map((i) => `[${i.item}]\n${i.error === null ? i.answer : `Error: ${i.error}`}`).join("\n\n")
      }`;
    return {
      content: [{ type: "text", text }, { type: "text", text: filesLine(read) }],
      structuredContent: {
        answer: text,
        reasoning: null,
        model: args.model,
        stop_reason: "error",
        streamed: run.stream,
        stats: {
          input_tokens: null,
          output_tokens: null,
          reasoning_tokens: null,
          tokens_per_second: null,
          time_to_first_token_seconds: null,
          model_load_time_seconds: null,
          total_seconds: Math.round(performance.now() - started) / 1000,
        },
        tool_calls: [],
        files: filesReport(read),
        items,
        packing: {
          ...packingReport(sizing, parts.length, 0, peak, failed, retried),
          ...(spread.hosts ? { hosts: spread.hosts } : {}),
        },
      },
    };
  }
  const seconds = Math.round(performance.now() - started) / 1000;
  const generations: InferenceResult[] = [...answered.map((a) => a.result), ...combined.generations];
  const sum = (pick: (r: InferenceResult) => number | null) =>
    generations.reduce((n, r) => n + (pick(r) ?? 0), 0);
  const partsCut = answered.filter((a) => a.result.stop_reason === "length").length;
  const failedParts = items.filter((i) => i.error !== null);
  const warnings = [
    ...(failed
      ? [
        `${failed} of ${parts.length} requests failed, so the answer leaves out their files: ${
          failedParts.slice(0, 3).map((i) => `${i.item.slice(0, 200)}: ${i.error}`).join("; ")
        }`,
      ]
      : []),
    ...(partsCut
      ? [
        `${partsCut} part answers were cut at max_tokens ${sizing.maxTokens}: pass a larger max_tokens to keep them whole`,
      ]
      : []),
    ...(combined.result.stop_reason === "length" ? [cutNote(sizing.maxTokens)] : []),
  ];
  const summary = `${filesLine(read)} Read in ${parts.length} requests (${peak} at a time` +
    `${retried ? `; ${retried} retried after LM Studio's shared cache overflowed` : ""}), combined in ` +
    `${combined.rounds} round${combined.rounds === 1 ? "" : "s"}, in ${
      seconds.toFixed(2)
    } s; ${maxTokensNote}.` +
    sizing.notes.map((n) => ` ${n[0]!.toUpperCase()}${n.slice(1)}.`).join("") +
    (spread.hosts ? ` ${hostsLine(spread.hosts)}` : "") +
    spread.notes.map((n) => ` ${n[0]!.toUpperCase()}${n.slice(1)}.`).join("") +
    onePassAdvice(run, sizing, parts.length);
  return {
    content: [
      { type: "text", text: combined.result.answer },
      ...warnings.map((text) => ({ type: "text" as const, text })),
      { type: "text", text: summary },
    ],
    structuredContent: {
      answer: combined.result.answer,
      reasoning: combined.result.reasoning,
      model: args.model,
      stop_reason: combined.result.stop_reason,
      streamed: run.stream,
      stats: {
        input_tokens: sum((r) => r.stats.input_tokens),
        output_tokens: sum((r) => r.stats.output_tokens),
        reasoning_tokens: sum((r) => r.stats.reasoning_tokens),
        tokens_per_second: null,
        time_to_first_token_seconds: null,
        model_load_time_seconds: null,
        total_seconds: seconds,
      },
      tool_calls: [],
      ...(combined.json === undefined ? {} : { json: combined.json }),
      files: filesReport(read),
      items,
      packing: {
        ...packingReport(sizing, parts.length, combined.rounds, peak, failed, retried),
        ...(spread.notes.length ? { notes: [...sizing.notes, ...spread.notes] } : {}),
        ...(spread.hosts ? { hosts: spread.hosts } : {}),
      },
    },
  };
}
