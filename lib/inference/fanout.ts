/**
 * Running many requests at once within what LM Studio can hold: no more than a width in flight (a loaded
 * model's `parallel` slots serve that many by continuous batching; more only queue), and no more than
 * fits its loaded context together (the slots share ONE KV cache, lmstudio-js `useUnifiedKvCache`; when
 * the requests in flight outgrow it, LM Studio fails all of them with "Context size has been exceeded.").
 * Items start in order; a large one waits until enough of the budget is free, so large items run fewer
 * at once. Results keep the input order and a failure stays with its item.
 *
 * @module
 */

/** The outcome of one item. */
export type Settled<R> = { readonly ok: true; readonly value: R } | {
  readonly ok: false;
  readonly error: unknown;
};

/** How much may run at once. */
export interface Budget {
  /** Most runs in flight (at least 1). */
  readonly width: number;
  /** What the runs in flight may use together, e.g. tokens of the loaded context. */
  readonly total: number;
  /** What one item uses of `total`; an item larger than `total` runs alone. */
  readonly cost: (index: number) => number;
}

/** The outcomes, and how many ran at once at most. */
export interface BudgetedRun<R> {
  /** One outcome per item, in input order. */
  readonly settled: Settled<R>[];
  /** The most items in flight at one time. */
  readonly peak: number;
}

/**
 * Maps `items` through `run` within `budget`: in order, at most `width` in flight, and a new item only
 * when its cost fits what the items in flight leave of `total` (or nothing else runs).
 *
 * @param items The inputs
 * @param budget Width, total and cost
 * @param run The work for one item
 * @param signal Stops starting new items once aborted (runs in flight get the signal from the caller)
 * @returns One outcome per item, in input order, and the peak in flight
 */
export async function mapBudgeted<T, R>(
  items: readonly T[],
  budget: Budget,
  run: (item: T, index: number) => Promise<R>,
  signal?: AbortSignal,
): Promise<BudgetedRun<R>> {
  const out: Settled<R>[] = new Array(items.length);
  const width = Math.max(1, Math.floor(budget.width));
  let next = 0;
  let inFlight = 0;
  let used = 0;
  let peak = 0;
  const all = Promise.withResolvers<void>();
  const pump = () => {
    while (next < items.length && inFlight < width) {
      const index = next;
      if (signal?.aborted) {
        out[index] = { ok: false, error: signal.reason };
        next++;
        continue;
      }
      const cost = Math.max(0, budget.cost(index));
      if (inFlight > 0 && used + cost > budget.total) break;
      next++;
      inFlight++;
      used += cost;
      peak = Math.max(peak, inFlight);
      run(items[index]!, index).then(
        (value) => (out[index] = { ok: true, value }),
        (error) => (out[index] = { ok: false, error }),
      ).finally(() => {
        inFlight--;
        used -= cost;
        pump();
      });
    }
    if (next >= items.length && inFlight === 0) all.resolve();
  };
  pump();
  await all.promise;
  return { settled: out, peak };
}
