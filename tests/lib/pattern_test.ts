/**
 * `lib/pattern.ts` alone: matching costs linear work on patterns built to make a backtracking engine
 * explode, a shared budget bounds many matches, and invalid patterns are refused with their reason.
 */
import assert from "node:assert/strict";
import { globMatcher } from "../../lib/glob.ts";
import { BudgetExceededError, MAX_PATTERN_CHARS, PatternError } from "../../lib/pattern.ts";

Deno.test("globMatcher refuses invalid patterns with a PatternError naming the pattern and the reason", () => {
  const cases: [string, RegExp][] = [
    ["[z-a]", /the range z-a is reversed/],
    ["src/[9-0]*.ts", /the range 9-0 is reversed/],
    ["[[:nope:]]", /\[:nope:\] is not a character class/],
    ["a".repeat(MAX_PATTERN_CHARS + 1), /the limit is 1024/],
    [`{${"x,".repeat(300)}y}`, /more than 256/],
  ];
  for (const [glob, reason] of cases) {
    assert.throws(() => globMatcher(glob), (error: unknown) => {
      assert.ok(error instanceof PatternError, `${glob}: ${error}`);
      assert.match(error.message, reason);
      assert.match(error.message, /^Invalid pattern "/);
      return true;
    });
  }
});

/** Patterns known to make a backtracking matcher take exponential time, with their victims. */
function hostile(terms: number): [pattern: string, text: string][] {
  return [
    [`${"*a".repeat(terms)}*b`, "a".repeat(60)],
    [`${"*".repeat(terms)}x`, "y".repeat(200)],
    [`**/${"*a".repeat(terms)}/**/b`, `${"a/".repeat(30)}c`],
    [`${"{a,a}".repeat(terms)}b`, "a".repeat(terms + 5)],
    [`${"?*".repeat(terms)}!`, "z".repeat(100)],
    [`${"[a-z]*".repeat(terms)}0`, "q".repeat(100)],
  ];
}
Deno.test("globMatcher does work linear in the path's length on patterns built to backtrack", () => {
  for (const terms of [4, 8, 16, 32]) {
    for (const [pattern, text] of hostile(terms)) {
      const steps = (Array.from(pattern).length + 2) * (Array.from(text).length + 1);
      const budget = { steps };
      // A budget of path length × pattern length is enough, whatever the pattern: no backtracking.
      assert.equal(globMatcher(pattern)(text, budget), false, pattern);
      assert.ok(budget.steps >= 0, `${pattern} used more than ${steps} steps`);
    }
  }
});

Deno.test("globMatcher throws BudgetExceededError once the shared budget is spent", () => {
  const match = globMatcher(`${"*a".repeat(20)}*b`);
  const budget = { steps: 5_000 };
  assert.throws(() => {
    for (let i = 0; i < 1_000; i++) match("a".repeat(60), budget);
  }, BudgetExceededError);
});
