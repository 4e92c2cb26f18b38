/**
 * `lib/files/ignore_rules.ts` alone: git's verdicts for a table of `.gitignore` rules (bytes, reversed ranges,
 * star runs and git's trimming included), a line git never matches skipped alone (every valid rule kept),
 * files that cannot be applied whole, linear work on hostile lines, compiling charged and paused — and a
 * seeded differential test against real `git` over random `.gitignore` files and trees: no file git
 * ignores is ever walked.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { IgnoreRules } from "../../lib/files/ignore_rules.ts";
import { BudgetExceededError } from "../../lib/files/pattern.ts";
import { Walker } from "../../lib/files/walk.ts";
import { random } from "../support/random.ts";
import { tempDir } from "../support/temp.ts";

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
  // A reversed range adds only its first character, as git's wildmatch reads it.
  ["key[z-ab]", "keyb", false, true],
  ["key[z-ab]", "keyz", false, true],
  ["secret[!z-a]", "secret1", false, true],
  ["secret[!z-a]", "secretz", false, undefined],
  // `?` and `[...]` match one byte: `é` is two.
  ["secret??", "secreté", false, true],
  ["secret?", "secreté", false, undefined],
  ["id_[!.][!.]", "id_é", false, true],
  ["[é]", "é", false, undefined],
  ["[é][é]", "é", false, true],
  // A run of stars is `**` only as a whole segment.
  ["a/***/b", "a/b", false, true],
  ["***/creds.txt", "creds.txt", false, true],
  ["x/**foo", "x/a/foo", false, undefined],
  ["x/**foo", "x/afoo", false, true],
  // git trims trailing spaces only, and `\\` escapes a backslash.
  ["*.key\t", "prod.key\t", false, true],
  ["*.key\t", "prod.key", false, undefined],
  ["*\n!*/\n!*.md\t", "notes.md", false, true],
  ["secret\\\\ ", "secret\\", false, true],
  // Lines git never matches re-include nothing.
  ["*\n!foo[", "foo[", false, true],
  ["*\n!a\\", "a\\", false, true],
];
Deno.test("IgnoreRules gives git's verdicts for the table of rules", () => {
  for (const [rules, path, isDir, verdict] of IGNORES) {
    assert.equal(new IgnoreRules(rules).verdict(path, isDir), verdict, `${JSON.stringify(rules)} on ${path}`);
  }
});

Deno.test("IgnoreRules skips only a line git never matches, lists it, and keeps every valid rule", () => {
  const rules = new IgnoreRules("secret.env.txt\n[[:bogus:]]x\n*.pem\nunclosed[\ntrailing\\\nq[z-a]\n");
  assert.equal(rules.verdict("secret.env.txt", false), true);
  assert.equal(rules.verdict("key.pem", false), true);
  assert.equal(rules.verdict("qz", false), true);
  assert.equal(rules.unusable, undefined);
  assert.deepEqual(rules.remarks, [
    { line: 2, text: "[[:bogus:]]x", reason: "[:bogus:] is not a character class", kept: false },
    {
      line: 4,
      text: "unclosed[",
      reason: "a [ without its closing ] (git never matches such a pattern)",
      kept: false,
    },
    {
      line: 5,
      text: "trailing\\",
      reason: "a final \\ escapes nothing (git never matches such a pattern)",
      kept: false,
    },
    {
      line: 6,
      text: "q[z-a]",
      reason: "the range z-a is reversed, so it adds only z (as in git)",
      kept: true,
    },
  ]);
});

Deno.test("IgnoreRules cannot be applied whole past 10,000 rules or with a line over 4,096 bytes", () => {
  const many = new IgnoreRules(Array.from({ length: 10_005 }, (_, i) => `f${i}`).join("\n"));
  assert.match(many.unusable ?? "", /over 10000 rules/);
  const long = new IgnoreRules(`ok\nsecret${"*".repeat(1100)}\n${"é".repeat(2049)}\n`);
  assert.match(long.unusable ?? "", /line 3 is 4098 bytes long, over the 4096-byte limit/);
  // A long run of stars collapses: the line of 1,106 characters is one rule.
  assert.equal(long.verdict("secret.txt", false), true);
});

Deno.test("IgnoreRules matches hostile lines in linear work and parses long whitespace in linear time", () => {
  for (const terms of [8, 16, 32]) {
    const line = `${"*a".repeat(terms)}*b`;
    const budget = { steps: 2 * (line.length + 2) * 61 };
    assert.equal(new IgnoreRules(line).verdict("a".repeat(60), false, budget), undefined);
    assert.ok(budget.steps >= 0, line);
  }
  // A line of spaces then a character: a backtracking trim (`\s+$`) is quadratic on it.
  const spaces = `${" ".repeat(200_000)}x${" ".repeat(200_000)}`;
  const rules = new IgnoreRules(`kept\n${spaces}`);
  assert.match(rules.unusable ?? "", /line 2 is 200001 bytes long/);
});

Deno.test("IgnoreRules.parse charges compiling to the budget and pauses while it parses", async () => {
  const bytes = new TextEncoder().encode(`${"*a".repeat(500)}\n`.repeat(200));
  let pauses = 0;
  const budget = { steps: 1e9 };
  const rules = await IgnoreRules.parse(bytes, { budget, pause: () => Promise.resolve(void pauses++) });
  assert.equal(rules.size, 200);
  assert.ok(1e9 - budget.steps >= bytes.length, `compiling charged ${1e9 - budget.steps} steps`);
  assert.ok(pauses >= 10, `paused ${pauses} times`);
  await assert.rejects(IgnoreRules.parse(bytes, { budget: { steps: 50_000 } }), BudgetExceededError);
});

const HAS_GIT = await new Deno.Command("git", { args: ["--version"], stdout: "null", stderr: "null" })
  .output().then((out) => out.success, () => false);

/** Names and pattern pieces that hit where git's rules are subtle: bytes, ranges, stars, spaces. */
const NAMES = [
  "a",
  "b",
  "ab",
  "ba",
  "a.txt",
  "b.md",
  "é",
  "ée",
  "x y",
  "a b",
  "[a]",
  "a*",
  "a?",
  "a\\",
  "a\t",
  "a ",
];
const MORE_NAMES = ["Ab", "aé", "日本", "-", "]", "a]", "!a", "#a", "ab\\", "z", "keyz", "a1"];
const TOKENS = [
  ..."ab**/".split(""),
  "**",
  "***",
  "?",
  "??",
  "/",
  "[a-c]",
  "[!a]",
  "[^b]",
  "[z-a]",
  "[z-ab]",
  "[!z-a]",
  "[[:alpha:]]",
  "[[:foo:]]",
  "[a-]",
  "[]a]",
  "[!]",
  "\\*",
  "\\",
  "é",
  ".txt",
  ".md",
  " ",
  "\t",
  "\\ ",
  "[é]",
  "[!é]",
  "{a,b}",
  "x",
  "]",
  "[",
  "日",
  "\\\\",
];

Deno.test("no file git ignores is walked: seeded random .gitignore files and trees against real git", {
  ignore: !HAS_GIT,
}, async () => {
  await using tmp = await tempDir("git-diff");
  const rng = random(20261128);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;
  const pattern = () => {
    let p = Array.from({ length: 1 + Math.floor(rng() * 4) }, () => pick(TOKENS)).join("");
    if (rng() < 0.25) p = `!${p}`;
    if (rng() < 0.15) p += "/";
    if (rng() < 0.1) p = `/${p}`;
    if (rng() < 0.1) p += pick([" ", "  ", "\t", "\\ ", "\r"]);
    return p;
  };
  const env = { GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1", HOME: tmp.path };
  const git = async (args: string[]) => {
    const out = await new Deno.Command("git", { args, cwd: tmp.path, env, stdout: "piped", stderr: "piped" })
      .output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout);
  };
  await git(["init", "-q"]);
  await Deno.writeTextFile(join(tmp.path, ".git", "info", "exclude"), `${pattern()}\n${pattern()}\n`);
  const ignores: Record<string, string> = {};
  const build = async (dir: string, rel: string, depth: number): Promise<void> => {
    for (let i = 0, count = 1 + Math.floor(rng() * 4); i < count; i++) {
      const name = pick(rng() < 0.7 ? NAMES : MORE_NAMES);
      const path = join(dir, name);
      if (depth < 2 && rng() < 0.35) {
        if (await Deno.mkdir(path).then(() => true, () => false)) {
          await build(path, `${rel}/${name}`, depth + 1);
        }
      } else await Deno.writeTextFile(path, "x\n", { createNew: true }).catch(() => {});
    }
    if (depth === 0 || rng() < 0.4) {
      ignores[rel] = `${Array.from({ length: 1 + Math.floor(rng() * 5) }, pattern).join("\n")}\n`;
      await Deno.writeTextFile(join(dir, ".gitignore"), ignores[rel]);
    }
  };
  for (let c = 0; c < 300; c++) {
    await Deno.mkdir(join(tmp.path, `case${c}`));
    await build(join(tmp.path, `case${c}`), `case${c}`, 0);
  }
  const gitSees = new Set((await git(["ls-files", "-z", "-o", "--exclude-standard"])).split("\0"));
  const all = new Set(
    (await git(["ls-files", "-z", "-o"])).split("\0").filter((f) => !f.endsWith(".gitignore")),
  );
  const walker = new Walker(undefined, (p) => p, () => {});
  const walked = (await walker.walk(tmp.path, undefined)).map((p) => p.slice(tmp.path.length + 1));
  const exposed = walked.filter((f) => !gitSees.has(f));
  const ignoredByGit = [...all].filter((f) => f && !gitSees.has(f)).length;
  assert.ok(ignoredByGit >= 200, `git ignored only ${ignoredByGit} files: the cases test little`);
  assert.deepEqual(
    exposed,
    [],
    `walked files git ignores, under: ${
      JSON.stringify(exposed.map((f) => f.split("/")[0]!).map((c) => [c, ignores[c]]))
    }`,
  );
});
