/**
 * `.gitignore` rules with git's own semantics: comments, `!` negation, trailing `/` for directories,
 * anchoring by a leading or inner `/`, git's trimming of trailing spaces, and git's wildmatch on bytes
 * (`*`, `?`, `**`, character classes; see `lib/files/pattern.ts`). A line git never matches (an unknown
 * `[:class:]`, an unclosed `[`, a final `\`) is skipped alone, as git does, and listed. A file that
 * cannot be applied whole (over {@linkcode MAX_IGNORE_RULES} rules, a line over
 * {@linkcode MAX_IGNORE_PATTERN_BYTES} bytes) says so in `unusable`, and its folder must then be left
 * out: when in doubt, a file stays out. Paths use `/`.
 *
 * @module
 */
import {
  BudgetExceededError,
  type CompiledPattern,
  compilePattern,
  type MatchBudget,
  MAX_IGNORE_PATTERN_BYTES,
  PatternError,
  utf8Bytes,
} from "./pattern.ts";

export { MAX_IGNORE_PATTERN_BYTES };

const NEGATE = 1;
const DIR_ONLY = 2;
const ANCHORED = 4;

interface IgnoreRule {
  readonly pattern: CompiledPattern;
  /** NEGATE, DIR_ONLY, ANCHORED. */
  readonly flags: number;
}

/** A line of a `.gitignore` worth telling: skipped (git never matches it) or kept with a remark. */
export interface IgnoreRemark {
  /** Its 1-based line number. */
  readonly line: number;
  /** The line (at most 80 characters of it). */
  readonly text: string;
  /** What is odd about it. */
  readonly reason: string;
  /** Whether the rule still applies (true) or the line was skipped (false). */
  readonly kept: boolean;
}

/** Most rules kept from one `.gitignore` file; a file with more cannot be applied whole. */
export const MAX_IGNORE_RULES = 10_000;
/** Lines parsed between two pauses of {@linkcode IgnoreRules.parse}. */
const LINES_PER_PAUSE = 16;

/** Options of {@linkcode IgnoreRules.parse}. */
export interface ParseOptions {
  /** Charged for compiling (one step per byte of each pattern). */
  readonly budget?: MatchBudget | undefined;
  /** Awaited every few lines, so a large file does not hold the event loop. */
  readonly pause?: (() => Promise<void>) | undefined;
}

/** The rules of one `.gitignore` file, for paths relative to its folder. */
export class IgnoreRules {
  readonly #rules: IgnoreRule[] = [];
  /** Lines skipped because git never matches them, and rules kept with a remark (a reversed range). */
  readonly remarks: IgnoreRemark[] = [];
  /** Why the file cannot be applied whole (too many rules, a line too long), if it cannot. */
  unusable: string | undefined;

  /**
   * Parses a `.gitignore` file's text at once (see {@linkcode IgnoreRules.parse} for large files).
   *
   * @param text The file's text
   */
  constructor(text = "") {
    const lines = this.#lines(text.startsWith("\ufeff") ? text.slice(1) : text, undefined);
    while (!lines.next().done);
  }

  /**
   * Parses a `.gitignore` file's bytes, pausing every few lines.
   *
   * @param bytes The file's bytes (a UTF-8 byte order mark is skipped, as git does)
   * @param options The budget charged for compiling, and the pause
   * @returns The rules
   * @throws {BudgetExceededError} When the budget is spent
   */
  static async parse(bytes: Uint8Array, options: ParseOptions = {}): Promise<IgnoreRules> {
    const rules = new IgnoreRules();
    // Invalid UTF-8 decodes to U+FFFD: such a pattern can only match names Deno also lists that way.
    const lines = rules.#lines(new TextDecoder().decode(bytes), options.budget);
    let count = 0;
    while (!lines.next().done) if (++count % LINES_PER_PAUSE === 0) await options.pause?.();
    return rules;
  }

  /** Rules kept. */
  get size(): number {
    return this.#rules.length;
  }

  /** Parses the lines of a file's text, one line per step, as git's `add_patterns_from_buffer`. */
  *#lines(text: string, budget: MatchBudget | undefined): Generator<void> {
    let number = 0;
    for (let start = 0; start <= text.length;) {
      let end = text.indexOf("\n", start);
      if (end < 0) end = text.length;
      number++;
      const raw = text.slice(start, end > start && text.charCodeAt(end - 1) === 0x0d ? end - 1 : end);
      start = end + 1;
      if (budget && (budget.steps -= 1) < 0) throw new BudgetExceededError();
      if (raw && !raw.startsWith("#")) {
        this.#add(trimTrailingSpaces(utf8Bytes(raw)), number, budget);
        if (this.unusable !== undefined) return;
      }
      yield;
    }
  }

  #add(line: string, number: number, budget: MatchBudget | undefined): void {
    const original = line;
    let flags = 0;
    if (line.startsWith("!")) {
      flags |= NEGATE;
      line = line.slice(1);
    }
    if (line.endsWith("/")) {
      flags |= DIR_ONLY;
      line = line.slice(0, -1);
    }
    if (line.includes("/")) flags |= ANCHORED;
    if (line.startsWith("/")) line = line.slice(1);
    if (!line) return;
    if (line.length > MAX_IGNORE_PATTERN_BYTES) {
      this.unusable =
        `line ${number} is ${line.length} bytes long, over the ${MAX_IGNORE_PATTERN_BYTES}-byte limit`;
      return;
    }
    if (this.#rules.length >= MAX_IGNORE_RULES) {
      this.unusable = `it has over ${MAX_IGNORE_RULES} rules`;
      return;
    }
    const remark = (reason: string, kept: boolean) => {
      this.remarks.push({ line: number, text: shorten(original), reason, kept });
    };
    try {
      const pattern = compilePattern(line, {
        syntax: "gitignore",
        budget,
        note: (reason) => remark(reason, true),
      });
      this.#rules.push({ pattern, flags });
    } catch (error) {
      if (!(error instanceof PatternError)) throw error;
      remark(error.reason, false);
    }
  }

  /**
   * What these rules say of a path: ignored, explicitly kept (`!`), or nothing. The last rule that
   * matches decides, as in git.
   *
   * @param relative The path relative to the `.gitignore`'s folder
   * @param isDir Whether it is a directory
   * @param budget Work allowed (shared by a whole walk)
   * @returns true (ignored), false (re-included) or undefined (no rule matches)
   * @throws {BudgetExceededError} When the budget is spent
   */
  verdict(relative: string, isDir: boolean, budget?: MatchBudget): boolean | undefined {
    const path = utf8Bytes(relative);
    const name = path.slice(path.lastIndexOf("/") + 1);
    for (let i = this.#rules.length - 1; i >= 0; i--) {
      const rule = this.#rules[i]!;
      if (rule.flags & DIR_ONLY && !isDir) continue;
      if (rule.pattern.test(rule.flags & ANCHORED ? path : name, budget)) return (rule.flags & NEGATE) === 0;
    }
    return undefined;
  }
}

/**
 * Drops trailing spaces as git's `trim_trailing_spaces` does: spaces only (not tabs), and a backslash
 * escapes the character after it (so `a\ ` keeps its space, `a\\ ` does not). A loop, no regular
 * expression.
 */
function trimTrailingSpaces(line: string): string {
  let lastSpace = -1;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 0x20) {
      if (lastSpace < 0) lastSpace = i;
    } else if (c === 0x5c) {
      if (++i >= line.length) return line;
      lastSpace = -1;
    } else lastSpace = -1;
  }
  return lastSpace < 0 ? line : line.slice(0, lastSpace);
}

/** A line for a message: decoded from its bytes, at most 80 characters. */
function shorten(bytes: string): string {
  const chars = Uint8Array.from(bytes.slice(0, 320), (c) => c.charCodeAt(0));
  const text = new TextDecoder().decode(chars);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}
