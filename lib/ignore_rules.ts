/**
 * `.gitignore` rules, with git's own semantics for the common cases: comments, `!` negation, trailing `/`
 * for directories, anchoring by a leading or inner `/`, `*`, `?`, `**`, character classes. A line that is
 * not a valid pattern is skipped alone (as git does) and listed, so every valid rule still applies. Rules
 * are matched in linear time (see `lib/pattern.ts`). Paths use `/`.
 *
 * @module
 */
import { type CompiledPattern, compilePattern, type MatchBudget, PatternError } from "./pattern.ts";

interface IgnoreRule {
  readonly automaton: CompiledPattern;
  readonly negate: boolean;
  readonly dirOnly: boolean;
  readonly anchored: boolean;
}

/** A line of a `.gitignore` that was skipped, and why. */
export interface InvalidIgnoreLine {
  /** Its 1-based line number. */
  readonly line: number;
  /** The line (at most 80 characters of it). */
  readonly text: string;
  /** Why it was skipped. */
  readonly reason: string;
}

/** Most rules kept from one `.gitignore` file. */
export const MAX_IGNORE_RULES = 10_000;

/** The rules of one `.gitignore` file, for paths relative to its folder. */
export class IgnoreRules {
  readonly #rules: IgnoreRule[] = [];
  /** Lines that were skipped because they are not valid patterns (git skips them too). */
  readonly invalid: InvalidIgnoreLine[] = [];

  /**
   * Parses a `.gitignore` file. An invalid line is skipped (and listed in `invalid`); every valid rule
   * is kept. Lines beyond {@linkcode MAX_IGNORE_RULES} rules are listed as invalid.
   *
   * @param text The file's text
   */
  constructor(text: string) {
    let number = 0;
    for (const raw of text.split("\n")) {
      number++;
      let line = trimTrailing(raw.endsWith("\r") ? raw.slice(0, -1) : raw);
      if (!line || line.startsWith("#")) continue;
      const original = line;
      const negate = line.startsWith("!");
      if (negate) line = line.slice(1);
      if (line.startsWith("\\#") || line.startsWith("\\!")) line = line.slice(1);
      const dirOnly = line.endsWith("/");
      if (dirOnly) line = line.slice(0, -1);
      const anchored = line.includes("/");
      if (line.startsWith("/")) line = line.slice(1);
      if (!line) continue;
      if (this.#rules.length >= MAX_IGNORE_RULES) {
        this.invalid.push({
          line: number,
          text: shorten(original),
          reason: `over ${MAX_IGNORE_RULES} rules`,
        });
        break;
      }
      try {
        this.#rules.push({ automaton: compilePattern(line, false), negate, dirOnly, anchored });
      } catch (error) {
        if (!(error instanceof PatternError)) throw error;
        this.invalid.push({ line: number, text: shorten(original), reason: error.reason });
      }
    }
  }

  /**
   * What these rules say of a path: ignored, explicitly kept (`!`), or nothing.
   *
   * @param relative The path relative to the `.gitignore`'s folder
   * @param isDir Whether it is a directory
   * @param budget Work allowed (shared by a whole walk)
   * @returns true (ignored), false (re-included) or undefined (no rule matches)
   * @throws {BudgetExceededError} When the budget is spent
   */
  verdict(relative: string, isDir: boolean, budget?: MatchBudget): boolean | undefined {
    let result: boolean | undefined;
    const name = relative.slice(relative.lastIndexOf("/") + 1);
    for (const rule of this.#rules) {
      if (rule.dirOnly && !isDir) continue;
      // A later rule decides over an earlier one: only a rule that could change the verdict is tried.
      if (result === !rule.negate) continue;
      if (rule.automaton.test(rule.anchored ? relative : name, budget)) result = !rule.negate;
    }
    return result;
  }
}

/** Drops trailing spaces and tabs unless escaped with a backslash (a loop: no regular expression). */
function trimTrailing(line: string): string {
  let end = line.length;
  while (end > 0 && (line[end - 1] === " " || line[end - 1] === "\t")) end--;
  if (end < line.length && end > 0 && line[end - 1] === "\\") end++;
  return line.slice(0, end);
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}
