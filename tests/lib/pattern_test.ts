/**
 * `lib/files/pattern.ts` alone: matching costs linear work on patterns built to make a backtracking engine
 * explode (runs of stars collapse as in git's wildmatch, and every state visited is charged), a shared
 * budget bounds many matches, compiling is charged too, and invalid patterns are refused with their
 * reason.
 */
import assert from "node:assert/strict";
import { globMatcher } from "../../lib/files/glob.ts";
import {
  BudgetExceededError,
  compilePattern,
  MAX_PATTERN_CHARS,
  PatternError,
  type PatternSyntax,
  utf8Bytes,
} from "../../lib/files/pattern.ts";

Deno.test("globMatcher refuses invalid patterns with a PatternError naming the pattern and the reason", () => {
  const cases: [string, RegExp][] = [
    ["[z-a]", /the range z-a is reversed/],
    ["src/[9-0]*.ts", /the range 9-0 is reversed/],
    ["[[:nope:]]", /\[:nope:\] is not a character class/],
    ["[[:a:b:]]", /\[:a:b:\] is not a character class/],
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

Deno.test(".gitignore patterns git never matches are PatternErrors; a reversed range is a note, as in git", () => {
  const invalid: [string, RegExp][] = [
    ["secret[", /a \[ without its closing \]/],
    ["[!]", /a \[ without its closing \]/],
    ["[[:alpha:]", /a \[ without its closing \]/],
    ["a\\", /a final \\ escapes nothing/],
    ["[[:bogus:]]", /\[:bogus:\] is not a character class/],
    ["x".repeat(4097), /4097 bytes; the limit is 4096/],
  ];
  for (const [pattern, reason] of invalid) {
    assert.throws(() => compilePattern(pattern, { syntax: "gitignore" }), reason, pattern);
  }
  const notes: string[] = [];
  const reversed = compilePattern("key[z-ab]", { syntax: "gitignore", note: (n) => notes.push(n) });
  assert.deepEqual(notes, ["the range z-a is reversed, so it adds only z (as in git)"]);
  assert.deepEqual(["keyz", "keyb", "keya", "keyy"].map((t) => reversed.test(t)), [true, true, false, false]);
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
    [`${"{*,*}".repeat(terms)}!`, "z".repeat(100)],
  ];
}
Deno.test("globMatcher does work linear in the path's length on patterns built to backtrack", () => {
  for (const terms of [4, 8, 16, 32]) {
    for (const [pattern, text] of hostile(terms)) {
      // Each character visits each state at most once, and examines each live state once.
      const steps = 2 * (Array.from(pattern).length + 2) * (Array.from(text).length + 1);
      const budget = { steps };
      assert.equal(globMatcher(pattern)(text, budget), false, pattern);
      assert.ok(budget.steps >= 0, `${pattern} used more than ${steps} steps`);
    }
  }
});

Deno.test("a run of stars is one star or one globstar, as in git, so it costs a few steps per character", () => {
  const name = `${"n".repeat(250)}.txt`;
  const path = `${"d/".repeat(60)}${name}`;
  const cases: [pattern: string, syntax: PatternSyntax, text: string, matches: boolean][] = [
    [`${"*".repeat(1023)}Q`, "gitignore", name, false],
    [`${"***".repeat(341)}Q`, "gitignore", name, false],
    [`${"***".repeat(341)}Q`, "glob", name, false],
    [`${"**/".repeat(341)}Q`, "gitignore", path, false],
    [`${"**/".repeat(250)}${name}`, "glob", path, true],
    [`d/${"**/".repeat(300)}*.txt`, "gitignore", path, true],
    [`${"***/".repeat(200)}${name}`, "gitignore", path, true],
    [`a${"**".repeat(500)}b`, "glob", `a${"/".repeat(100)}b`, false],
  ];
  for (const [pattern, syntax, text, matches] of cases) {
    const budget = { steps: 1e9 };
    const automaton = compilePattern(syntax === "gitignore" ? utf8Bytes(pattern) : pattern, { syntax });
    assert.equal(automaton.test(text, budget), matches, pattern.slice(0, 20));
    const charged = 1e9 - budget.steps;
    // At most a few states are ever live (before: every star of the run, at ~1000 times the cost).
    assert.ok(charged <= 8 * (text.length + 1), `${pattern.slice(0, 20)}…: ${charged} steps`);
  }
});

Deno.test("the budget is charged for every state visited, moves that read nothing included", () => {
  // `*` then 128 empty alternatives then `y`: two live states, but 384 states visited per character.
  const match = globMatcher(`*${"{,}".repeat(128)}y`);
  const text = "x".repeat(200);
  const budget = { steps: 1e9 };
  assert.equal(match(text, budget), false);
  const charged = 1e9 - budget.steps;
  assert.ok(charged >= 128 * 2 * text.length, `only ${charged} steps charged`);
});

Deno.test("globMatcher throws BudgetExceededError once the shared budget is spent", () => {
  const match = globMatcher(`${"*a".repeat(20)}*b`);
  const budget = { steps: 5_000 };
  assert.throws(() => {
    for (let i = 0; i < 1_000; i++) match("a".repeat(60), budget);
  }, BudgetExceededError);
});

Deno.test("compiling is charged to the budget, one step per pattern character", () => {
  const pattern = "*a".repeat(500);
  const budget = { steps: 10_000 };
  compilePattern(pattern, { syntax: "gitignore", budget });
  assert.equal(budget.steps, 10_000 - pattern.length - 1);
  assert.throws(
    () => compilePattern(pattern, { syntax: "gitignore", budget: { steps: 100 } }),
    BudgetExceededError,
  );
});
