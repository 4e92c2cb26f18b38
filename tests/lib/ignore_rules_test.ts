/**
 * `lib/ignore_rules.ts` alone: git's verdicts for a table of `.gitignore` rules, an invalid line skipped
 * alone (every valid rule kept), the rule cap, and linear work on hostile lines.
 */
import assert from "node:assert/strict";
import { IgnoreRules } from "../../lib/ignore_rules.ts";

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
