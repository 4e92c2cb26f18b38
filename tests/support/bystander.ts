/**
 * A bystander for hostile-input tests: a timer that should fire every 5 ms while some work runs. The
 * longest gap between two of its ticks is how long the work held the event loop — the wait any other
 * client of the server would have seen. The work is also raced against a time bound, so a regression
 * fails with a message instead of hanging the suite.
 *
 * @module
 */

/** What a run measured. */
export interface BystanderReport<T> {
  /** The work's result. */
  readonly value: T;
  /** The longest gap between two ticks, in milliseconds. */
  readonly worstGapMs: number;
}

/**
 * Runs `work` while a bystander timer ticks.
 *
 * @param work The work
 * @param limitMs The bound on the work
 * @returns Its result and the worst gap
 * @throws {Error} When the work does not finish within the bound
 */
export async function withBystander<T>(
  work: () => Promise<T>,
  limitMs = 20_000,
): Promise<BystanderReport<T>> {
  let last = performance.now();
  let worst = 0;
  const tick = () => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  };
  const timer = setInterval(tick, 5);
  let bound: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    bound = setTimeout(() => reject(new Error(`the work was still running after ${limitMs} ms`)), limitMs);
  });
  try {
    const value = await Promise.race([work(), timeout]);
    tick();
    return { value, worstGapMs: worst };
  } finally {
    clearInterval(timer);
    clearTimeout(bound);
  }
}
