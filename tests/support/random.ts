/**
 * One seeded generator for every test and script that draws at random, so a failing run can be replayed
 * from its seed.
 *
 * @module
 */

/**
 * mulberry32: a small seeded generator.
 *
 * @param seed Any 32-bit number
 * @returns A function giving numbers in [0, 1)
 */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
