/**
 * `lib/files/glob.ts` alone: what globs match (a table of cases, and a seeded comparison with a plain
 * recursive matcher), and how a glob is split into the folder to walk and the pattern below it.
 */
import assert from "node:assert/strict";
import { globMatcher, isGlob, splitGlob } from "../../lib/files/glob.ts";
import { random as seeded } from "../support/random.ts";

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
  // A run of stars is a globstar only as a whole segment (git's wildmatch); otherwise it is one `*`.
  ["a**b", "a/x/b", false],
  ["a**b", "axxb", true],
  ["a/**b", "a/x/b", false],
  ["a/**b", "a/xb", true],
  ["a/***/b", "a/b", true],
  ["a/***/b", "a/x/y/b", true],
  ["***/x.ts", "x.ts", true],
  ["**/**/x.ts", "x.ts", true],
  ["**/**/x.ts", "a/b/x.ts", true],
  ["x/**", "x/a/b", true],
  ["x/**", "x", false],
  ["**", "a/b", true],
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
  ["[]-a]", "^", true],
  ["[a-]", "-", true],
  ["[[:alpha]", ":", true],
  ["[[:alpha]", "x", false],
  ["[a-c-e]", "-", true],
  ["[a-c-e]", "d", false],
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

Deno.test("globMatcher agrees with a reference matcher on seeded random patterns and paths", () => {
  const random = seeded(20261128);
  const alphabet = ["a", "b", "/", "*", "?", "**/", "[ab]", "[!a]"];
  const pathAlphabet = ["a", "b", "/", "c"];
  for (let n = 0; n < 2_000; n++) {
    const parts = Array.from(
      { length: 1 + Math.floor(random() * 6) },
      () => alphabet[Math.floor(random() * 8)]!,
    );
    const pattern = parts.join("");
    const path = Array.from(
      { length: Math.floor(random() * 8) },
      () => pathAlphabet[Math.floor(random() * 4)],
    )
      .join("");
    assert.equal(globMatcher(pattern)(path), reference(pattern, path), `${pattern} on ${path}`);
  }
});

/**
 * A plain recursive matcher (exponential, fine for the short cases above) as the oracle: a run of stars
 * is `**\/` or a final `**` when it is a whole segment, else one `*`.
 */
function reference(pattern: string, path: string): boolean {
  const tokens: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] === "*") {
      let last = i;
      while (pattern[last + 1] === "*") last++;
      const whole = last > i && (i === 0 || pattern[i - 1] === "/");
      if (whole && pattern[last + 1] === "/") {
        tokens.push("**/");
        last++;
      } else if (whole && last + 1 === pattern.length) tokens.push("**");
      else tokens.push("*");
      i = last;
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
