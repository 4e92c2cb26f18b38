/**
 * A bystander for hostile-input tests: a timer that should fire every 5 ms while some work runs. How
 * many turns it got while the work ran is what tests assert on (work that yields the event loop every
 * few milliseconds lets it in many times; work that holds the loop lets it in only between its I/O): a
 * count that only grows on a slower or busier machine. The longest gap between two of its ticks is how
 * long the work held the loop — a wall-clock figure for `deno task bench`, never for an assertion. The
 * work is also raced against a time bound, so a regression fails with a message instead of hanging.
 *
 * @module
 */

/** What a run measured. */
export interface BystanderReport<T> {
  /** The work's result. */
  readonly value: T;
  /** The longest gap between two ticks, in milliseconds (for the benchmark, not for assertions). */
  readonly worstGapMs: number;
  /** How many times the bystander ran while the work ran. */
  readonly turns: number;
}

/**
 * Runs `work` while a bystander timer ticks.
 *
 * @param work The work
 * @param limitMs The bound on the work
 * @returns Its result, the bystander's turns and the worst gap
 * @throws {Error} When the work does not finish within the bound
 */
export async function withBystander<T>(
  work: () => Promise<T>,
  limitMs = 20_000,
): Promise<BystanderReport<T>> {
  let last = performance.now();
  let worst = 0;
  let turns = 0;
  const tick = () => {
    turns++;
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
    const during = turns;
    tick();
    return { value, worstGapMs: worst, turns: during };
  } finally {
    clearInterval(timer);
    clearTimeout(bound);
  }
}
