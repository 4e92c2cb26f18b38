/**
 * Path patterns: globs as users write them (`src/**\/*.ts`, `docs/*.{md,txt}`) and `.gitignore` rules
 * (git's own semantics for the common cases: comments, `!` negation, trailing `/` for directories,
 * anchoring by a leading or inner `/`, `*`, `?`, `**`, character classes). Paths use `/`.
 *
 * @module
 */

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
 * Compiles glob syntax to a regular expression body (no anchors).
 *
 * @param glob The pattern
 * @param braces Whether `{a,b}` means alternation (globs: yes; `.gitignore`: no)
 * @returns The regular expression source
 */
function globSource(glob: string, braces: boolean): string {
  let out = "";
  let depth = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        const slashAfter = glob[i + 2] === "/";
        const atStart = i === 0 || glob[i - 1] === "/";
        if (atStart && slashAfter) {
          out += "(?:.*/)?"; // `**/`: zero or more directories
          i += 2;
        } else {
          out += ".*"; // `/**` at the end, or `**` inside a segment
          i += 1;
        }
      } else out += "[^/]*";
    } else if (c === "?") out += "[^/]";
    else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close < 0) out += "\\[";
      else {
        let body = glob.slice(i + 1, close).replace(/\\/g, "\\\\");
        if (body.startsWith("!")) body = `^${body.slice(1)}`;
        out += `[${body}]`;
        i = close;
      }
    } else if (braces && c === "{") {
      depth++;
      out += "(?:";
    } else if (braces && c === "}" && depth > 0) {
      depth--;
      out += ")";
    } else if (braces && c === "," && depth > 0) out += "|";
    else if (c === "\\" && i + 1 < glob.length) {
      out += glob[i + 1]!.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
      i++;
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return out + ")".repeat(depth);
}

/**
 * Compiles a glob that is matched against a whole relative path.
 *
 * @param glob e.g. `**\/*.{ts,tsx}`
 * @returns The matcher
 * @example
 * ```ts
 * import { globMatcher } from "./glob.ts";
 * globMatcher("**\/*.ts")("lib/files.ts"); // true
 * ```
 */
export function globMatcher(glob: string): (path: string) => boolean {
  const regex = new RegExp(`^${globSource(glob, true)}$`);
  return (path) => regex.test(path);
}

interface IgnoreRule {
  readonly regex: RegExp;
  readonly negate: boolean;
  readonly dirOnly: boolean;
  readonly anchored: boolean;
}

/** The rules of one `.gitignore` file, for paths relative to its folder. */
export class IgnoreRules {
  readonly #rules: IgnoreRule[] = [];

  /**
   * Parses a `.gitignore` file.
   *
   * @param text The file's text
   */
  constructor(text: string) {
    for (const raw of text.split(/\r?\n/)) {
      let line = raw.replace(/(?<!\\)\s+$/, "");
      if (!line || line.startsWith("#")) continue;
      const negate = line.startsWith("!");
      if (negate) line = line.slice(1);
      if (line.startsWith("\\#") || line.startsWith("\\!")) line = line.slice(1);
      const dirOnly = line.endsWith("/");
      if (dirOnly) line = line.slice(0, -1);
      const anchored = line.includes("/");
      if (line.startsWith("/")) line = line.slice(1);
      if (!line) continue;
      this.#rules.push({ regex: new RegExp(`^${globSource(line, false)}$`), negate, dirOnly, anchored });
    }
  }

  /**
   * What these rules say of a path: ignored, explicitly kept (`!`), or nothing.
   *
   * @param relative The path relative to the `.gitignore`'s folder
   * @param isDir Whether it is a directory
   * @returns true (ignored), false (re-included) or undefined (no rule matches)
   */
  verdict(relative: string, isDir: boolean): boolean | undefined {
    let result: boolean | undefined;
    const name = relative.slice(relative.lastIndexOf("/") + 1);
    for (const rule of this.#rules) {
      if (rule.dirOnly && !isDir) continue;
      if (rule.regex.test(rule.anchored ? relative : name)) result = !rule.negate;
    }
    return result;
  }
}
