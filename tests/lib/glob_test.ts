/**
 * `lib/glob.ts` alone: what globs and `.gitignore` rules match (tables of cases), that matching costs
 * linear work on patterns built to make a backtracking engine explode, and that invalid patterns are
 * refused (globs) or skipped line by line (ignore files).
 */
import assert from "node:assert/strict";
import {
  BudgetExceededError,
  globMatcher,
  IgnoreRules,
  isGlob,
  MAX_PATTERN_CHARS,
  PatternError,
  splitGlob,
} from "../../lib/glob.ts";
import { random as seeded } from "../support/fuzz.ts";

const GLOBS: readonly [glob: string, path: string, matches: boolean][] = [
  ["*.ts", "main.ts", true],
  ["*.ts", "lib/main.ts", false],
  ["*.ts", ".ts", true],
  ["**/*.ts", "main.ts", true],
  ["**/*.ts", "lib/deep/x/main.ts", true],
  ["**/*.ts", "lib/main.tsx", false],
  ["src/**/*.ts", "src/a.ts", true],
  ["src/**/*.ts", "src/x/y/a.ts", true],
  ["src/**/*.ts", "srcx/a.ts", false],
  ["src/**", "src/a/b/c", true],
  ["a**b", "a/x/b", true],
  ["?.md", "a.md", true],
  ["?.md", "ab.md", false],
  ["?.md", "/.md", false],
  ["?.md", "é.md", true],
  ["?.md", "😀.md", true],
  ["*.{ts,tsx}", "a.tsx", true],
  ["*.{ts,tsx}", "a.ts", true],
  ["*.{ts,tsx}", "a.js", false],
  ["{src,lib}/{a,b{c,d}}.ts", "lib/bd.ts", true],
  ["{src,lib}/{a,b{c,d}}.ts", "lib/b.ts", false],
  ["{a,b", "b", true],
  ["a,b}", "a,b}", true],
  ["[abc].ts", "b.ts", true],
  ["[abc].ts", "d.ts", false],
  ["[!abc].ts", "d.ts", true],
  ["[^abc].ts", "a.ts", false],
  ["[a-c]x", "bx", true],
  ["[]]", "]", true],
  ["[!/]", "/", false],
  ["[/]", "/", false],
  ["[[:digit:]]*", "7up", true],
  ["[[:upper:]]*", "lower", false],
  ["[a\\-z]", "-", true],
  ["[abc", "[abc", true],
  ["\\*.ts", "*.ts", true],
  ["\\*.ts", "a.ts", false],
  ["a.b", "axb", false],
  ["(a|b)+$", "(a|b)+$", true],
  ["file", "file", true],
  ["file", "files", false],
];

Deno.test("globMatcher matches the table of globs", () => {
  for (const [glob, path, matches] of GLOBS) {
    assert.equal(globMatcher(glob)(path), matches, `${glob} on ${path}`);
  }
});

Deno.test("isGlob and splitGlob separate the folder to walk from the pattern", () => {
  assert.equal(isGlob("src/main.ts"), false);
  assert.equal(isGlob("src/*.ts"), true);
  assert.deepEqual(splitGlob("src/lib/**/*.ts"), { base: "src/lib", rest: "**/*.ts" });
  assert.deepEqual(splitGlob("*.md"), { base: "", rest: "*.md" });
});

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

Deno.test("globMatcher agrees with a reference matcher on seeded random patterns and paths", () => {
  const random = seeded(20261128);
  const alphabet = ["a", "b", "/", "*", "?", "**/", "[ab]", "[!a]"];
  const pathAlphabet = ["a", "b", "/", "c"];
  for (let n = 0; n < 2_000; n++) {
    const parts = Array.from(
      { length: 1 + Math.floor(random() * 6) },
      () => alphabet[Math.floor(random() * 8)]!,
    );
    const pattern = parts.join("").replace(/\*{3,}/g, "**");
    const path = Array.from(
      { length: Math.floor(random() * 8) },
      () => pathAlphabet[Math.floor(random() * 4)],
    )
      .join("");
    assert.equal(globMatcher(pattern)(path), reference(pattern, path), `${pattern} on ${path}`);
  }
});

/** A plain recursive matcher (exponential, fine for the short cases above) as the oracle. */
function reference(pattern: string, path: string): boolean {
  const tokens: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    if (pattern.startsWith("**/", i) && (i === 0 || pattern[i - 1] === "/")) {
      tokens.push("**/");
      i += 2;
    } else if (pattern.startsWith("**", i)) {
      tokens.push("**");
      i += 1;
    } else if (pattern[i] === "[") {
      const close = pattern.indexOf("]", i + 2);
      tokens.push(pattern.slice(i, close + 1));
      i = close;
    } else tokens.push(pattern[i]!);
  }
  const at = (t: number, p: number): boolean => {
    if (t === tokens.length) return p === path.length;
    const token = tokens[t]!;
    if (token === "**/") {
      if (at(t + 1, p)) return true;
      for (let q = p; q < path.length; q++) if (path[q] === "/" && at(t + 1, q + 1)) return true;
      return false;
    }
    if (token === "**") {
      for (let q = p; q <= path.length; q++) if (at(t + 1, q)) return true;
      return false;
    }
    if (token === "*") {
      for (let q = p; q <= path.length; q++) {
        if (at(t + 1, q)) return true;
        if (path[q] === "/") return false;
      }
      return false;
    }
    const c = path[p];
    if (c === undefined) return false;
    if (token === "?") return c !== "/" && at(t + 1, p + 1);
    if (token.startsWith("[")) {
      const negate = token[1] === "!";
      const set = token.slice(negate ? 2 : 1, -1);
      return c !== "/" && set.includes(c) !== negate && at(t + 1, p + 1);
    }
    return c === token && at(t + 1, p + 1);
  };
  return at(0, 0);
}

const IGNORES: readonly [rules: string, path: string, isDir: boolean, verdict: boolean | undefined][] = [
  ["*.log", "debug.log", false, true],
  ["*.log", "deep/x/debug.log", false, true],
  ["*.log\n!keep.log", "keep.log", false, false],
  ["dist/", "dist", true, true],
  ["dist/", "dist", false, undefined],
  ["/build", "build", true, true],
  ["/build", "src/build", true, undefined],
  ["doc/*.txt", "doc/a.txt", false, true],
  ["doc/*.txt", "x/doc/a.txt", false, undefined],
  ["**/tmp", "a/b/tmp", true, true],
  ["# comment\n\n", "comment", false, undefined],
  ["\\#hash", "#hash", false, true],
  ["\\!bang", "!bang", false, true],
  ["trailing   ", "trailing", false, true],
  ["space\\ ", "space ", false, true],
  ["crlf.txt\r\nother", "crlf.txt", false, true],
  ["{a,b}", "a", false, undefined],
  ["{a,b}", "{a,b}", false, true],
];

Deno.test("IgnoreRules gives git's verdicts for the table of rules", () => {
  for (const [rules, path, isDir, verdict] of IGNORES) {
    assert.equal(new IgnoreRules(rules).verdict(path, isDir), verdict, `${JSON.stringify(rules)} on ${path}`);
  }
});

Deno.test("IgnoreRules skips only an invalid line, lists it, and keeps every valid rule", () => {
  const rules = new IgnoreRules("secret.env.txt\n[z-a]\n*.pem\n[[:bogus:]]x\n");
  assert.equal(rules.verdict("secret.env.txt", false), true);
  assert.equal(rules.verdict("key.pem", false), true);
  assert.equal(rules.verdict("z", false), undefined);
  assert.deepEqual(rules.invalid, [
    { line: 2, text: "[z-a]", reason: "the range z-a is reversed" },
    { line: 4, text: "[[:bogus:]]x", reason: "[:bogus:] is not a character class" },
  ]);
});

Deno.test("IgnoreRules keeps at most 10,000 rules and says so", () => {
  const rules = new IgnoreRules(Array.from({ length: 10_005 }, (_, i) => `f${i}`).join("\n"));
  assert.equal(rules.verdict("f9999", false), true);
  assert.equal(rules.verdict("f10000", false), undefined);
  assert.equal(rules.invalid.length, 1);
  assert.match(rules.invalid[0]!.reason, /over 10000 rules/);
});

Deno.test("IgnoreRules matches hostile lines in linear work and parses long whitespace in linear time", () => {
  for (const terms of [8, 16, 32]) {
    const line = `${"*a".repeat(terms)}*b`;
    const budget = { steps: (line.length + 2) * 61 };
    assert.equal(new IgnoreRules(line).verdict("a".repeat(60), false, budget), undefined);
    assert.ok(budget.steps >= 0, line);
  }
  // A line of spaces then a character: a backtracking trim (`\s+$`) is quadratic on it.
  const spaces = `${" ".repeat(200_000)}x${" ".repeat(200_000)}`;
  const rules = new IgnoreRules(`${spaces}\nkept`);
  assert.equal(rules.verdict("kept", false), true);
  assert.match(rules.invalid[0]?.reason ?? "", /200001 characters; the limit is 1024/);
});
