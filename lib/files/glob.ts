/**
 * Globs as users write them (`src/**\/*.ts`, `docs/*.{md,txt}`): telling a glob from a plain path,
 * splitting off the folder to walk, and matching in linear time (see `lib/files/pattern.ts`). Paths use `/`.
 *
 * @module
 */
import { compilePattern, type MatchBudget } from "./pattern.ts";

/** Characters that make a path segment a pattern. */
const GLOB_CHARS = /[*?[{]/;

/**
 * Whether a path holds glob syntax.
 *
 * @param path A path as the user gave it
 * @returns True for `src/*.ts`, false for `src/main.ts`
 */
export function isGlob(path: string): boolean {
  return GLOB_CHARS.test(path);
}

/**
 * Splits a glob into the directory to walk and the pattern below it.
 *
 * @param pattern e.g. `src/**\/*.ts`
 * @returns e.g. `{ base: "src", rest: "**\/*.ts" }`; `base` is "" when the first segment is a pattern
 */
export function splitGlob(pattern: string): { base: string; rest: string } {
  const segments = pattern.split("/");
  const first = segments.findIndex((s) => GLOB_CHARS.test(s));
  if (first < 0) return { base: pattern, rest: "" };
  return { base: segments.slice(0, first).join("/"), rest: segments.slice(first).join("/") };
}

/**
 * Compiles a glob that is matched against a whole relative path, in linear time.
 *
 * @param glob e.g. `**\/*.{ts,tsx}`
 * @returns The matcher; with a budget, it throws {@linkcode BudgetExceededError} once that is spent
 * @throws {PatternError} When the glob is invalid (a reversed range, an unknown class, too long)
 * @example
 * ```ts
 * import { globMatcher } from "./glob.ts";
 * globMatcher("**\/*.ts")("lib/files/files.ts"); // true
 * ```
 */
export function globMatcher(glob: string): (path: string, budget?: MatchBudget) => boolean {
  const automaton = compilePattern(glob, { syntax: "glob" });
  return (path, budget) => automaton.test(path, budget);
}
