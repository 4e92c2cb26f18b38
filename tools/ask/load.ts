/**
 * Loads sized to the job, for delegated work (`files`, `each`, `prompts`): when the call itself loads the
 * model (it is not loaded), it asks for the `context_length` that reads the job in as few requests as
 * possible (a power of two from 4,096, up to the model's `max_context_length` and LMSTUDIO_MCP_MAX_CONTEXT);
 * when LM Studio refuses the load for lack of memory, it halves the context and tries again, down to
 * 4,096. A model already loaded is never reloaded: the result says which `context_length` would read the
 * job in one pass, and how to get it.
 *
 * @module
 */
import {
  DEFAULT_MAX_TOKENS,
  delegatedMaxTokens,
  MARGIN_TOKENS,
  sizingInstance,
} from "../../lib/inference/context_budget.ts";
import { LmStudioError } from "../../lib/errors.ts";
import { fittingContext } from "../../lib/lmstudio/inference.ts";
import { findModel } from "../../lib/lmstudio/models.ts";
import type { NativeModel } from "../../lib/lmstudio/schemas.ts";
import type { AskRequest } from "./generate.ts";
import { DEFAULT_CONTEXT } from "../common/file_input.ts";
import type { ToolContext } from "../tool.ts";

/** The smallest context a load sized to a job asks for (LM Studio's default). */
const FLOOR = 4096;
/** Loads tried before giving up (each halves the context). */
const MAX_LOAD_TRIES = 8;

/** What a call's load did. */
export interface JobLoad {
  /** The models, listed after the load (or as given when nothing was loaded). */
  readonly catalog: readonly NativeModel[];
  /** The context asked for and the one LM Studio applied, when this call loaded the model. */
  readonly load?: { readonly asked: number; readonly applied: number; readonly refused: readonly number[] };
  /** The context that reads the whole job in one request, within the ceiling (or undefined). */
  readonly onePass: number | undefined;
  /** The largest context a load may ask for: the model's maximum, capped by LMSTUDIO_MCP_MAX_CONTEXT. */
  readonly ceiling: number | undefined;
  /** The context that reads the job in one request within the model's own maximum, past the cap. */
  readonly beyondCap: number | undefined;
}

/**
 * Whether LM Studio refused a load for lack of memory (its resource guardrails; the wording varies by
 * version).
 *
 * @param error What the load threw
 * @returns True for a memory refusal
 */
export function isMemoryRefusal(error: unknown): boolean {
  return error instanceof LmStudioError &&
    /insufficient system resources|not enough memory|out of memory|failed to allocate|overload your system/i
      .test(error.message);
}

/**
 * The largest context a load sized to a job may ask for: the model's maximum, capped by
 * LMSTUDIO_MCP_MAX_CONTEXT.
 *
 * @param model The model, as listed
 * @param cap LMSTUDIO_MCP_MAX_CONTEXT
 * @returns Tokens, or undefined when neither says
 */
export function contextCeiling(model: NativeModel | undefined, cap: number | undefined): number | undefined {
  const max = model?.max_context_length ?? undefined;
  if (max && cap) return Math.min(max, cap);
  return max || cap || undefined;
}

/**
 * Makes sure the model is loaded for a job of `jobTokens` (everything in one request), loading it sized
 * to the job when this call is the one to load it.
 *
 * @param request The call
 * @param catalog The models as checked before the call
 * @param jobTokens The tokens the whole job needs in one request, answer and margin included
 * @param context Progress and cancellation
 * @returns The models after the load, what was asked and applied, and the one-pass context
 * @throws {LmStudioError} When every load was refused, or another failure
 */
export async function loadForJob(
  request: AskRequest,
  catalog: readonly NativeModel[],
  jobTokens: number,
  context: ToolContext,
): Promise<JobLoad> {
  const { args, deps } = request;
  const model = findModel(catalog, args.model);
  const ceiling = contextCeiling(model, deps.config.maxContext);
  const onePass = fittingContext(jobTokens, ceiling);
  const beyondCap = onePass === undefined && deps.config.maxContext !== undefined
    ? fittingContext(jobTokens, model?.max_context_length)
    : undefined;
  const sized = { onePass, ceiling, beyondCap };
  // With ttl the first request loads it (a JIT load, the only kind that honours a TTL).
  if (sizingInstance(catalog, args.model) || args.ttl !== undefined) return { catalog, ...sized };
  let load: JobLoad["load"];
  await deps.client.loads.run(request.modelKey, false, async () => {
    // Another call may have loaded it meanwhile; several loads would make several instances.
    const fresh = await deps.client.listModels({ signal: context.signal });
    if (findModel(fresh, args.model)?.loaded_instances?.length) return;
    let asked = args.context_length ?? Math.max(FLOOR, onePass ?? ceiling ?? FLOOR);
    const refused: number[] = [];
    for (let tries = 1;; tries++) {
      context.progress.update(`Loading ${args.model} with context_length ${asked} for this job`);
      try {
        const result = await deps.client.loadModel({ model: args.model, context_length: asked }, {
          signal: context.signal,
        });
        const applied = result.config.context_length;
        load = { asked, applied: typeof applied === "number" ? applied : asked, refused };
        return;
      } catch (error) {
        if (!isMemoryRefusal(error) || asked <= FLOOR || tries >= MAX_LOAD_TRIES) {
          if (!refused.length) throw error;
          throw new LmStudioError(
            `LM Studio refused to load ${args.model} for lack of memory at context_length ${
              [...refused, asked].join(", then ")
            } (${error instanceof Error ? error.message : String(error)}). Free memory (model_unload other ` +
              "models) or load it yourself with model_load and a smaller context_length",
            { cause: error },
          );
        }
        refused.push(asked);
        asked = Math.max(FLOOR, Math.floor(asked / 2));
      }
    }
  }, context.signal);
  return {
    catalog: await deps.client.listModels({ signal: context.signal }),
    ...sized,
    ...(load ? { load } : {}),
  };
}

/**
 * The tokens a job needs in one request: the fixed prompt, the files, the answer, the margin.
 *
 * @param fixedTokens Prompt, system prompt, instructions
 * @param filesTokens The files, framed
 * @param maxTokens The call's max_tokens, if set
 * @returns Tokens
 */
export function onePassTokens(
  fixedTokens: number,
  filesTokens: number,
  maxTokens: number | undefined,
): number {
  return fixedTokens + filesTokens + (maxTokens ?? DEFAULT_MAX_TOKENS) + MARGIN_TOKENS;
}

/** How a delegated job was sized: the context, the answer's share, and what to do for one pass. */
export interface JobSizing {
  /** The context the requests run in. */
  readonly window: number;
  /** Tokens kept per answer. */
  readonly maxTokens: number;
  /** Where that came from. */
  readonly maxTokensSource: "max_tokens" | "a quarter of the context";
  /** The load this call made. */
  readonly load: JobLoad["load"];
  /** The context that reads the whole job in one request. */
  readonly onePass: number | undefined;
  /** The largest context a load may ask for. */
  readonly ceiling: number | undefined;
  /** The context that would read it in one request past LMSTUDIO_MCP_MAX_CONTEXT. */
  readonly beyondCap: number | undefined;
  /** Notes for the result (extra instances, the load). */
  readonly notes: string[];
  /** The models after any load. */
  readonly catalog: readonly NativeModel[];
  /** The instance's parallel slots, if listed. */
  readonly parallel: number | undefined;
}

/**
 * Loads the model sized to the job when this call loads it, then settles the context and the
 * `max_tokens` of each request.
 *
 * @param request The call
 * @param catalog The models as checked
 * @param jobTokens Tokens of the whole job in one request
 * @param context Progress and cancellation
 * @param perRequest Whether the requests carry the call's `context_length` (native `ask`; not `each`)
 * @returns The sizing
 */
export async function sizeJob(
  request: AskRequest,
  catalog: readonly NativeModel[],
  jobTokens: number,
  context: ToolContext,
  perRequest: boolean,
): Promise<JobSizing> {
  const { args } = request;
  const job = await loadForJob(request, catalog, jobTokens, context);
  const sized = sizingInstance(job.catalog, args.model);
  const notes: string[] = [];
  const loaded = sized?.instance.context;
  if (sized?.others.length) {
    notes.push(
      `${args.model} has ${sized.others.length + 1} loaded instances (${
        [sized.instance, ...sized.others].map((i) => `${i.id} at ${i.context}`).join(", ")
      }); requests were sized to the smallest, ${sized.instance.context} tokens`,
    );
  }
  if (job.load) {
    const refused = job.load.refused.length
      ? `; LM Studio refused ${job.load.refused.join(" and ")} for lack of memory`
      : "";
    notes.push(
      `loaded ${args.model} for this job: asked context_length ${job.load.asked}, applied ${job.load.applied}${refused}`,
    );
  }
  const window = (perRequest && !request.openAi ? args.context_length : undefined) ?? loaded ??
    args.context_length ?? DEFAULT_CONTEXT;
  const maxTokens = args.max_tokens ?? delegatedMaxTokens(window);
  return {
    window,
    maxTokens,
    maxTokensSource: args.max_tokens === undefined ? "a quarter of the context" : "max_tokens",
    load: job.load,
    onePass: job.onePass,
    ceiling: job.ceiling,
    beyondCap: job.beyondCap,
    notes,
    catalog: job.catalog,
    parallel: sized?.instance.parallel,
  };
}

/**
 * The advice that names the fix: the `context_length` that reads everything in one request (or that the
 * model's maximum cannot), how to get it, and `each` for one answer per file.
 *
 * @param request The call
 * @param sizing The sizing
 * @param requests Requests the job took
 * @returns A sentence, or "" when one request read everything
 */
export function onePassAdvice(request: AskRequest, sizing: JobSizing, requests: number): string {
  if (requests <= 1) return "";
  const { args } = request;
  const onePass = sizing.onePass;
  const reload = (n: number) => `model_unload ${args.model}, then model_load it with context_length ${n}`;
  if (onePass === undefined) {
    if (sizing.beyondCap !== undefined) {
      return ` LMSTUDIO_MCP_MAX_CONTEXT (${sizing.ceiling}) is below the context_length ${sizing.beyondCap} that ` +
        "would read everything in one request; raise it, or pass each: true for one answer per file.";
    }
    const step = sizing.ceiling !== undefined && sizing.ceiling > sizing.window
      ? ` The largest useful step: ${reload(sizing.ceiling)} (fewer requests).`
      : "";
    return ` Even ${args.model}'s largest context does not hold everything in one request.${step} ` +
      "Or pass each: true for one answer per file.";
  }
  if (onePass <= sizing.window) return "";
  const how = sizing.load
    ? `LM Studio applied ${sizing.load.applied}; free memory, model_unload it and model_load it with ` +
      `context_length ${onePass}`
    : reload(onePass);
  return ` To read everything in one request: ${how}; or pass each: true for one answer per file.`;
}
