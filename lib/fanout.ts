/**
 * Running many requests at once, no more than a limit in flight (LM Studio serves a loaded model's
 * `parallel` slots by continuous batching; more requests only queue). Results keep the input order and
 * a failure stays with its item.
 *
 * @module
 */

/** The outcome of one item. */
export type Settled<R> = { readonly ok: true; readonly value: R } | {
  readonly ok: false;
  readonly error: unknown;
};

/**
 * Maps `items` through `run`, at most `limit` at a time.
 *
 * @param items The inputs
 * @param limit Most runs in flight (at least 1)
 * @param run The work for one item
 * @param signal Stops starting new items once aborted (runs in flight get the signal from the caller)
 * @returns One outcome per item, in input order
 */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  run: (item: T, index: number) => Promise<R>,
  signal?: AbortSignal,
): Promise<Settled<R>[]> {
  const out: Settled<R>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      if (signal?.aborted) {
        out[index] = { ok: false, error: signal.reason };
        continue;
      }
      try {
        out[index] = { ok: true, value: await run(items[index]!, index) };
      } catch (error) {
        out[index] = { ok: false, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
