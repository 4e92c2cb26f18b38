/**
 * Every generation on a loaded model goes through its instance's ledger (lib/inference/kv_ledger.ts): it starts
 * when its prompt and `max_tokens` fit what the requests in flight leave of the shared KV cache, across
 * every call of this process. When LM Studio still fails it with the shared-cache overflow ("Context size
 * has been exceeded.": another application's requests, or an estimate that ran short), it is retried
 * alone, after a pause that doubles each time, a few times (another application may still be using the
 * model); only a request too large on its own fails at once. An unloaded model has no ledger yet: its
 * request goes as it is (LM Studio loads it, and the load gate holds the others back).
 *
 * @module
 */
import { ContextOverflowError } from "../errors.ts";
import { DEFAULT_PARALLEL, sizingInstance } from "./context_budget.ts";
import { type KvLedger, ledgerFor } from "./kv_ledger.ts";
import type { LmStudioClient } from "../lmstudio/client.ts";
import { findModel } from "../lmstudio/models.ts";
import { sleep } from "../sleep.ts";

/** Retries of a request failed by the shared-cache overflow. */
export const OVERFLOW_RETRIES = 4;
/** The first pause before such a retry; each next one doubles. */
export const OVERFLOW_PAUSE_MS = 250;

/** How a request runs. */
export interface AdmissionOptions {
  /** Cancels the wait, the pause and the request. */
  readonly signal?: AbortSignal | undefined;
  /** Told before each retry: the attempt (1, 2, …) and the pause. */
  readonly onRetry?: ((attempt: number, pauseMs: number) => void) | undefined;
}

/** What a request's admission saw, for the result. */
export interface Admitted<T> {
  /** What the work returned. */
  readonly value: T;
  /** Times it was retried after the shared-cache overflow. */
  readonly retries: number;
}

/**
 * Whether an error is the shared-cache overflow (every prediction in flight failed together), as opposed
 * to one prompt larger than the context.
 *
 * @param error What a generation threw
 * @returns True for "Context size has been exceeded."
 */
export function isSharedOverflow(error: unknown): boolean {
  return error instanceof ContextOverflowError && /context size has been exceeded/i.test(error.message);
}

/**
 * The ledger of the instance a request for `model` goes to, sized to the smallest loaded instance.
 *
 * @param client LM Studio
 * @param model A model key, variant or instance id
 * @param signal Cancellation
 * @returns The ledger, or undefined when the model is not loaded (or LM Studio cannot list it)
 */
export async function ledgerOf(
  client: LmStudioClient,
  model: string,
  signal?: AbortSignal,
): Promise<KvLedger | undefined> {
  return (await instanceLedger(client, model, signal))?.ledger;
}

/** The ledger, and the most one request may hold (the loaded context). */
async function instanceLedger(
  client: LmStudioClient,
  model: string,
  signal: AbortSignal | undefined,
): Promise<{ ledger: KvLedger; context: number } | undefined> {
  const catalog = await client.catalog({ signal });
  const sized = sizingInstance(catalog, model);
  if (!sized) return undefined;
  const slots = sized.instance.parallel ?? DEFAULT_PARALLEL;
  // An MLX instance gives each request its own cache capped by the context (mlx-engine batches up to 4),
  // so only the slots bound it; llama.cpp's one cache holds every request in flight.
  const perRequest = findModel(catalog, model)?.format === "mlx";
  const ledger = ledgerFor(
    { baseUrl: client.http.baseUrl, instanceId: sized.instance.id },
    { capacity: sized.instance.context * (perRequest ? slots : 1), slots },
  );
  return { ledger, context: sized.instance.context };
}

/**
 * Runs one generation within the ledger of `model`'s instance, retrying it alone after the shared-cache
 * overflow.
 *
 * @param client LM Studio
 * @param model A model key, variant or instance id
 * @param tokens The request's prompt plus `max_tokens` plus margin
 * @param work The generation
 * @param options Cancellation, a retry callback
 * @returns What the generation returned, and how often it was retried
 * @throws Whatever the generation throws, once retrying cannot help
 */
export async function runAdmitted<T>(
  client: LmStudioClient,
  model: string,
  tokens: number,
  work: () => Promise<T>,
  options: AdmissionOptions = {},
): Promise<Admitted<T>> {
  for (let attempt = 0;; attempt++) {
    const instance = await instanceLedger(client, model, options.signal);
    const reservation = await instance?.ledger.acquire(tokens, {
      alone: attempt > 0,
      signal: options.signal,
    });
    try {
      return { value: await work(), retries: attempt };
    } catch (error) {
      const tooLarge = instance !== undefined && tokens > instance.context;
      if (!isSharedOverflow(error) || tooLarge || attempt >= OVERFLOW_RETRIES || options.signal?.aborted) {
        throw error;
      }
    } finally {
      reservation?.release();
    }
    const pause = OVERFLOW_PAUSE_MS * 2 ** attempt;
    options.onRetry?.(attempt + 1, pause);
    await sleep(pause, options.signal);
  }
}
