/**
 * Sorting many strings without holding the event loop: runs of a few thousand are sorted natively, then
 * merged, with a pause between runs and every few thousand merged items (one native sort of 50,000 paths
 * takes about 100 ms, too long for other clients to wait).
 *
 * @module
 */

/** Items sorted or merged between two pauses. */
const RUN = 4096;

/**
 * Sorts strings by UTF-16 code units (as `Array.prototype.sort` does), pausing now and then.
 *
 * @param items The strings (sorted in place when there are few)
 * @param pause Awaited between runs of work
 * @returns The sorted strings
 */
export async function sortStrings(items: string[], pause: () => Promise<void>): Promise<string[]> {
  if (items.length <= RUN) return items.sort();
  let runs: string[][] = [];
  for (let i = 0; i < items.length; i += RUN) {
    runs.push(items.slice(i, i + RUN).sort());
    await pause();
  }
  while (runs.length > 1) {
    const merged: string[][] = [];
    for (let r = 0; r < runs.length; r += 2) {
      merged.push(r + 1 < runs.length ? await mergeRuns(runs[r]!, runs[r + 1]!, pause) : runs[r]!);
    }
    runs = merged;
  }
  return runs[0]!;
}

async function mergeRuns(a: string[], b: string[], pause: () => Promise<void>): Promise<string[]> {
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    out.push(a[i]! <= b[j]! ? a[i++]! : b[j++]!);
    if (out.length % RUN === 0) await pause();
  }
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}
