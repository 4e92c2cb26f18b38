/**
 * Waiting on a condition instead of sleeping: polls until it holds, and fails with a message naming
 * what never happened once the bound runs out (so no test waits forever, and none depends on speed).
 *
 * @module
 */

/**
 * Polls `predicate` every few milliseconds until it returns true.
 *
 * @param predicate The condition
 * @param what What is awaited, for the failure message
 * @param limitMs The bound
 * @throws {Error} When the condition does not hold within the bound
 */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  what: string,
  limitMs = 10_000,
): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (!(await predicate())) {
    if (performance.now() > deadline) throw new Error(`Timed out after ${limitMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
