/**
 * Wildcard patterns compiled to automata, the engine under globs (`lib/files/glob.ts`) and `.gitignore` rules
 * (`lib/files/ignore_rules.ts`). Patterns come from clients and from the files of any repository the server
 * reads, so they are hostile input. They are never turned into regular expressions (a backtracking engine
 * takes exponential time on `*a*a*a*a*b`): each compiles, in time linear in its length, to a small
 * automaton that is run over the text one character at a time with the set of live states (Thompson's
 * construction). Each character visits every state at most once, moves without reading included, so a
 * match costs at most the text's length times the pattern's. A {@linkcode MatchBudget} is charged for
 * every state visited, and bounds the work of many matches.
 *
 * Syntax, as git's wildmatch: `*` (not across `/`), `?`, `[...]` with ranges, `!`/`^` negation and POSIX
 * classes, `\` escapes. A run of two or more `*` is a globstar only when it is a whole path segment
 * (after the start or a `/`, before the end or a `/`): `**\/` is zero or more folders, a final `**` is
 * anything; any other run of stars is one `*`. Globs add `{a,b}` alternation. `.gitignore` patterns match
 * bytes, as git does: the pattern and the text are UTF-8 byte strings (see {@linkcode utf8Bytes}), so `?`
 * and `[...]` match one byte.
 *
 * Over 350 lines on purpose: the compiler and the runner share one private instruction set, and keeping
 * them in one file keeps that set private (no module can build an automaton by hand).
 *
 * @module
 */

/** Longest glob accepted, in characters: bounds the automaton and so the cost of one match. */
export const MAX_PATTERN_CHARS = 1024;
/** Longest `.gitignore` pattern accepted, in bytes (a line over it cannot be applied). */
export const MAX_IGNORE_PATTERN_BYTES = 4096;
/** Most `{…}` alternatives in one glob. */
const MAX_ALTERNATIVES = 256;

/** A pattern that cannot be compiled: its text and why. */
export class PatternError extends SyntaxError {
  /** The pattern as given. */
  readonly pattern: string;
  /** Why it is invalid, e.g. `the range z-a is reversed`. */
  readonly reason: string;

  /**
   * Creates the error.
   *
   * @param pattern The pattern
   * @param reason Why it is invalid
   */
  constructor(pattern: string, reason: string) {
    super(`Invalid pattern "${pattern}": ${reason}`);
    this.name = "PatternError";
    this.pattern = pattern;
    this.reason = reason;
  }
}

/** Thrown by a match when its {@linkcode MatchBudget} is spent. */
export class BudgetExceededError extends RangeError {
  /** Creates the error. */
  constructor() {
    super("Pattern matching budget spent");
    this.name = "BudgetExceededError";
  }
}

/**
 * Work allowed to a set of matches and compilations, counted in automaton steps (one state visited for
 * one character, or one pattern character compiled). Throws {@linkcode BudgetExceededError} once `steps`
 * falls below zero.
 */
export interface MatchBudget {
  /** Steps left. */
  steps: number;
}

/** How a pattern is read. */
export type PatternSyntax = "glob" | "gitignore";

/** Options of {@linkcode compilePattern}. */
export interface CompileOptions {
  /**
   * `glob`: code points, `{a,b}` alternation, a reversed range is an error, an unclosed `[` is a plain
   * `[`. `gitignore`: git's wildmatch on bytes (pass a UTF-8 byte string), no braces, a reversed range
   * adds only its first character (with a note), an unclosed `[` or a final `\` makes the pattern invalid
   * (git never matches it).
   */
  readonly syntax: PatternSyntax;
  /** Charged one step per pattern character compiled. */
  readonly budget?: MatchBudget | undefined;
  /** Told of a construct that is valid but likely not what was meant (a reversed range). */
  readonly note?: ((remark: string) => void) | undefined;
}

// The automaton. Consuming instructions read one character; SPLIT and JUMP move without reading.
const CHAR = 0; // the character `arg`
const ANY = 1; // any character but `/`
const CLASS = 2; // a class: `arg` is where its data starts (negate flag, pair count, inclusive bounds)
const STAR = 3; // any run of characters but `/`: loops on itself, may also move on without reading
const ANYTHING = 4; // any run of characters, `/` included
const SPLIT = 5; // move to every target: `arg` is where they start (count, then the targets)
const JUMP = 6; // move to state `arg`
const ACCEPT = 7; // the end of the pattern (a state, not an instruction)
/** A state is packed as `op | arg << 3` (a code point is at most 0x10ffff: that fits in 32 bits). */
const OP_BITS = 3;
const OP_MASK = 7;

interface Instruction {
  readonly op: number;
  /** CHAR: the character. */
  readonly a?: number;
  /** CLASS: sorted, merged pairs of inclusive bounds. */
  readonly ranges?: readonly number[];
  /** CLASS: matches what is outside the ranges. */
  readonly negate?: boolean;
  /** SPLIT, JUMP: targets (filled in once the targets are known). */
  to?: number[];
}

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const ASTERISK = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const COLON = 0x3a;
const DASH = 0x2d;
const BANG = 0x21;
const CARET = 0x5e;
const BRACE_OPEN = 0x7b;
const BRACE_CLOSE = 0x7d;
const COMMA = 0x2c;

/** POSIX classes git accepts inside brackets, as inclusive ranges (ASCII only, as git's ctype). */
const POSIX: Readonly<Record<string, readonly number[]>> = {
  alnum: [0x30, 0x39, 0x41, 0x5a, 0x61, 0x7a],
  alpha: [0x41, 0x5a, 0x61, 0x7a],
  blank: [0x09, 0x09, 0x20, 0x20],
  cntrl: [0x00, 0x1f, 0x7f, 0x7f],
  digit: [0x30, 0x39],
  graph: [0x21, 0x7e],
  lower: [0x61, 0x7a],
  print: [0x20, 0x7e],
  punct: [0x21, 0x2f, 0x3a, 0x40, 0x5b, 0x60, 0x7b, 0x7e],
  space: [0x09, 0x0a, 0x0d, 0x0d, 0x20, 0x20],
  upper: [0x41, 0x5a],
  xdigit: [0x30, 0x39, 0x41, 0x46, 0x61, 0x66],
};

/** A character for a message. */
function shown(unit: number, syntax: PatternSyntax): string {
  return syntax === "glob" || unit < 0x80 ? String.fromCodePoint(unit) : `\\x${unit.toString(16)}`;
}

/**
 * Parses a bracket expression starting at `units[start]` (the `[`), as git's wildmatch reads it: the
 * first character is literal (even `]`), `a-z` is a range (a reversed one adds only its first character),
 * `[:name:]` a POSIX class, `\x` a literal `x`.
 *
 * @returns The instruction and the index of its `]`, or undefined when there is no closing `]`
 * @throws {PatternError} On an unknown `[:class:]`, or a reversed range in a glob
 */
function parseClass(
  units: readonly number[],
  nextClose: Int32Array,
  start: number,
  pattern: string,
  options: CompileOptions,
): { instruction: Instruction; end: number } | undefined {
  const length = units.length;
  if (nextClose[start]! < 0) return undefined; // no `]` after it at all (and no quadratic rescans)
  let i = start + 1;
  let negate = false;
  if (units[i] === BANG || units[i] === CARET) {
    negate = true;
    i++;
  }
  if (i >= length) return undefined;
  const ranges: number[] = [];
  let previous = -1; // the last single character, the start of a range; -1 after a range or a class
  let c = units[i]!;
  for (;;) {
    if (c === BACKSLASH) {
      if (++i >= length) return undefined;
      c = units[i]!;
      ranges.push(c, c);
    } else if (c === DASH && previous >= 0 && i + 1 < length && units[i + 1] !== CLOSE) {
      let high = units[++i]!;
      if (high === BACKSLASH) {
        if (++i >= length) return undefined;
        high = units[i]!;
      }
      if (high >= previous) ranges.push(previous, high);
      else {
        const range = `${shown(previous, options.syntax)}-${shown(high, options.syntax)}`;
        if (options.syntax === "glob") throw new PatternError(pattern, `the range ${range} is reversed`);
        options.note?.(
          `the range ${range} is reversed, so it adds only ${shown(previous, options.syntax)} (as in git)`,
        );
      }
      c = -1;
    } else if (c === OPEN && units[i + 1] === COLON) {
      const close = nextClose[i + 2] ?? -1;
      if (close < 0) return undefined;
      if (close - (i + 2) < 1 || units[close - 1] !== COLON) {
        ranges.push(OPEN, OPEN); // not a class: a plain `[`, and what follows is read as usual
      } else {
        const name = String.fromCharCode(...units.slice(i + 2, close - 1));
        const set = POSIX[name];
        if (!set) throw new PatternError(pattern, `[:${name}:] is not a character class`);
        ranges.push(...set);
        i = close;
        c = -1;
      }
    } else ranges.push(c, c);
    previous = c;
    if (++i >= length) return undefined;
    c = units[i]!;
    if (c === CLOSE) return { instruction: { op: CLASS, ranges: merge(ranges), negate }, end: i };
  }
}

/** Sorts and merges inclusive ranges, so a class's size is bounded by its distinct characters. */
function merge(ranges: readonly number[]): number[] {
  if (ranges.length <= 2) return [...ranges];
  const pairs: [number, number][] = [];
  for (let i = 0; i < ranges.length; i += 2) pairs.push([ranges[i]!, ranges[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [low, high] of pairs) {
    if (out.length && low <= out[out.length - 1]! + 1) {
      out[out.length - 1] = Math.max(out[out.length - 1]!, high);
    } else out.push(low, high);
  }
  return out;
}

/**
 * Compiles a pattern to a program, in time linear in its length.
 *
 * @throws {PatternError} When the pattern is too long or cannot be valid
 */
function compile(pattern: string, options: CompileOptions): Instruction[] {
  const glob = options.syntax === "glob";
  const units: number[] = [];
  if (glob) { for (const c of pattern) units.push(c.codePointAt(0)!); }
  else for (let i = 0; i < pattern.length; i++) units.push(pattern.charCodeAt(i));
  const limit = glob ? MAX_PATTERN_CHARS : MAX_IGNORE_PATTERN_BYTES;
  if (units.length > limit) {
    throw new PatternError(
      pattern.slice(0, 40) + "…",
      `${units.length} ${glob ? "characters" : "bytes"}; the limit is ${limit}`,
    );
  }
  if (options.budget && (options.budget.steps -= units.length + 1) < 0) throw new BudgetExceededError();
  // Per index, where the next `]` is (-1: none), so brackets are parsed in linear time.
  const nextClose = new Int32Array(units.length + 1).fill(-1);
  for (let i = units.length - 1; i >= 0; i--) nextClose[i] = units[i] === CLOSE ? i : nextClose[i + 1]!;
  const program: Instruction[] = [];
  // Open `{`: the SPLIT that starts it and the JUMPs that end each finished alternative.
  const groups: { split: Instruction; starts: number[]; ends: Instruction[] }[] = [];
  let alternatives = 0;
  let globstarEnd = -1; // where the last `**/` ended: a `**/` right after it adds nothing
  for (let i = 0; i < units.length; i++) {
    const c = units[i]!;
    if (c === ASTERISK) {
      let last = i;
      while (units[last + 1] === ASTERISK) last++;
      // A globstar is a whole segment: after the start or a `/`, before the end or a (maybe escaped) `/`.
      const after = units[last + 1];
      const globstar = last > i && (i === 0 || units[i - 1] === SLASH) &&
        (after === undefined || after === SLASH || (after === BACKSLASH && units[last + 2] === SLASH));
      if (globstar && after === SLASH) {
        // `**/`: zero or more whole folders — either skip it, or anything then `/`.
        if (i !== globstarEnd) {
          const split: Instruction = { op: SPLIT };
          program.push(split);
          const body = program.length;
          program.push({ op: ANYTHING }, { op: CHAR, a: SLASH });
          split.to = [body, program.length];
        }
        last++;
        globstarEnd = last + 1;
      } else if (globstar) program.push({ op: ANYTHING }); // anything: `/**` at the end, `**` alone, `**\/`
      else if (program.at(-1)?.op !== STAR) program.push({ op: STAR });
      i = last;
    } else if (c === QUESTION) program.push({ op: ANY });
    else if (c === OPEN) {
      const parsed = parseClass(units, nextClose, i, pattern, options);
      if (parsed) {
        program.push(parsed.instruction);
        i = parsed.end;
      } else if (glob) program.push({ op: CHAR, a: c }); // No closing `]`: a plain `[`, as shells do.
      else throw new PatternError(pattern, "a [ without its closing ] (git never matches such a pattern)");
    } else if (glob && c === BRACE_OPEN) {
      const split: Instruction = { op: SPLIT, to: [] };
      program.push(split);
      groups.push({ split, starts: [program.length], ends: [] });
    } else if (glob && (c === COMMA || c === BRACE_CLOSE) && groups.length) {
      const group = groups.at(-1)!;
      if (++alternatives > MAX_ALTERNATIVES) {
        throw new PatternError(pattern, `more than ${MAX_ALTERNATIVES} {…} alternatives`);
      }
      const jump: Instruction = { op: JUMP };
      program.push(jump);
      group.ends.push(jump);
      if (c === COMMA) group.starts.push(program.length);
      else closeGroup(groups.pop()!, program.length);
    } else if (c === BACKSLASH && i + 1 < units.length) program.push({ op: CHAR, a: units[++i]! });
    else if (c === BACKSLASH && !glob) {
      throw new PatternError(pattern, "a final \\ escapes nothing (git never matches such a pattern)");
    } else program.push({ op: CHAR, a: c });
  }
  // An unclosed `{` ends at the end of the pattern, as if closed there.
  while (groups.length) {
    const group = groups.pop()!;
    const jump: Instruction = { op: JUMP };
    program.push(jump);
    group.ends.push(jump);
    closeGroup(group, program.length);
  }
  return program;
}

function closeGroup(group: { split: Instruction; starts: number[]; ends: Instruction[] }, end: number) {
  group.split.to = group.starts;
  for (const jump of group.ends) jump.to = [end];
}

/** Packs a program into one array: a state per instruction, then the data of classes and splits. */
function pack(program: readonly Instruction[]): Int32Array {
  let extra = 0;
  for (const instruction of program) {
    if (instruction.op === CLASS) extra += 2 + instruction.ranges!.length;
    else if (instruction.op === SPLIT) extra += 1 + instruction.to!.length;
  }
  const size = program.length + 1;
  const code = new Int32Array(size + extra);
  let at = size;
  program.forEach((instruction, s) => {
    let arg = 0;
    if (instruction.op === CHAR) arg = instruction.a!;
    else if (instruction.op === JUMP) arg = instruction.to![0]!;
    else if (instruction.op === CLASS) {
      arg = at;
      code[at++] = instruction.negate ? 1 : 0;
      code[at++] = instruction.ranges!.length / 2;
      code.set(instruction.ranges!, at);
      at += instruction.ranges!.length;
    } else if (instruction.op === SPLIT) {
      arg = at;
      code[at++] = instruction.to!.length;
      code.set(instruction.to!, at);
      at += instruction.to!.length;
    }
    code[s] = instruction.op | (arg << OP_BITS);
  });
  code[program.length] = ACCEPT;
  return code;
}

/** A compiled pattern. */
export interface CompiledPattern {
  /**
   * Whether the pattern matches the whole text, in time linear in the text's length.
   *
   * @param text A path or name (for a `.gitignore` pattern, its UTF-8 byte string: {@linkcode utf8Bytes})
   * @param budget Work allowed, shared by many matches
   * @returns True on a match
   * @throws {BudgetExceededError} When the budget is spent
   */
  test(text: string, budget?: MatchBudget): boolean;
}

/** Steps charged for one plain string comparison (about the cost of a few automaton steps). */
const SIMPLE_STEPS = 4;

/** `literal`, `*literal` or `literal*` (with no `/` in the literal): matched by a string comparison. */
class Simple implements CompiledPattern {
  readonly #kind: "equal" | "suffix" | "prefix";
  readonly #text: string;

  constructor(kind: "equal" | "suffix" | "prefix", text: string) {
    this.#kind = kind;
    this.#text = text;
  }

  test(text: string, budget?: MatchBudget): boolean {
    if (budget && (budget.steps -= SIMPLE_STEPS + (text.length >> 6)) < 0) throw new BudgetExceededError();
    if (this.#kind === "equal") return text === this.#text;
    const hit = this.#kind === "suffix" ? text.endsWith(this.#text) : text.startsWith(this.#text);
    return hit && !text.includes("/"); // the `*` part crosses no `/` (the literal holds none)
  }
}

// Scratch space shared by every automaton (matching is synchronous): the live state lists, the stack of
// moves without reading, and per-state marks of the step that last reached a state (never cleared).
let scratchSize = 0;
let listA = new Int32Array(0);
let listB = new Int32Array(0);
let stack = new Int32Array(0);
let marks = new Uint32Array(0);
let stamp = 0;
/** States visited by the last {@linkcode addClosure} calls, to charge the budget with. */
let visited = 0;

function ensureScratch(size: number): void {
  if (size <= scratchSize) return;
  scratchSize = Math.max(size, scratchSize * 2, 64);
  listA = new Int32Array(scratchSize);
  listB = new Int32Array(scratchSize);
  stack = new Int32Array(scratchSize);
  marks = new Uint32Array(scratchSize);
  stamp = 0;
}

function nextStamp(): void {
  if (++stamp === 0xffffffff) {
    marks.fill(0);
    stamp = 1;
  }
}

/**
 * Adds `state` and every state it reaches without reading to `list` (from index `count`), each state once
 * per step; counts every state visited in `visited`. Returns the new count.
 */
function addClosure(code: Int32Array, list: Int32Array, state: number, count: number): number {
  if (marks[state] === stamp) return count;
  marks[state] = stamp;
  stack[0] = state;
  let top = 1;
  while (top > 0) {
    const s = stack[--top]!;
    visited++;
    const word = code[s]!;
    const op = word & OP_MASK;
    if (op === SPLIT) {
      const at = word >> OP_BITS;
      for (let k = at + code[at]!; k > at; k--) {
        const target = code[k]!;
        if (marks[target] !== stamp) {
          marks[target] = stamp;
          stack[top++] = target;
        }
      }
    } else if (op === JUMP) {
      const target = word >> OP_BITS;
      if (marks[target] !== stamp) {
        marks[target] = stamp;
        stack[top++] = target;
      }
    } else {
      list[count++] = s;
      if ((op === STAR || op === ANYTHING) && marks[s + 1] !== stamp) {
        marks[s + 1] = stamp;
        stack[top++] = s + 1;
      }
    }
  }
  return count;
}

function inClass(code: Int32Array, at: number, unit: number): boolean {
  const end = at + 2 + code[at + 1]! * 2;
  for (let k = at + 2; k < end; k += 2) {
    if (unit < code[k]!) return false;
    if (unit <= code[k + 1]!) return true;
  }
  return false;
}

/** A compiled pattern, matched in time linear in the text's length. */
class Automaton implements CompiledPattern {
  /** Per state `op | arg << 3` (the last state accepts), then the data of classes and splits. */
  readonly #code: Int32Array;
  /** States, the accepting one included. */
  readonly #size: number;

  constructor(program: readonly Instruction[]) {
    this.#code = pack(program);
    this.#size = program.length + 1;
  }

  test(text: string, budget?: MatchBudget): boolean {
    const code = this.#code;
    ensureScratch(this.#size);
    let current = listA;
    let next = listB;
    visited = 0;
    nextStamp();
    let count = addClosure(code, current, 0, 0);
    if (budget && (budget.steps -= visited + 1) < 0) throw new BudgetExceededError();
    for (let i = 0; i < text.length; i++) {
      if (count === 0) return false;
      let unit = text.charCodeAt(i);
      if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
        const low = text.charCodeAt(i + 1);
        if (low >= 0xdc00 && low <= 0xdfff) {
          unit = (unit - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
          i++;
        }
      }
      nextStamp();
      visited = 0;
      let nextCount = 0;
      for (let k = 0; k < count; k++) {
        const state = current[k]!;
        const word = code[state]!;
        switch (word & OP_MASK) {
          case CHAR:
            if (unit === word >> OP_BITS) nextCount = addClosure(code, next, state + 1, nextCount);
            break;
          case ANY:
            if (unit !== SLASH) nextCount = addClosure(code, next, state + 1, nextCount);
            break;
          case CLASS: {
            const at = word >> OP_BITS;
            if (unit !== SLASH && inClass(code, at, unit) !== (code[at] === 1)) {
              nextCount = addClosure(code, next, state + 1, nextCount);
            }
            break;
          }
          case STAR:
            if (unit !== SLASH) nextCount = addClosure(code, next, state, nextCount);
            break;
          case ANYTHING:
            nextCount = addClosure(code, next, state, nextCount);
            break;
        }
      }
      if (budget && (budget.steps -= count + visited) < 0) throw new BudgetExceededError();
      [current, next] = [next, current];
      count = nextCount;
    }
    for (let k = 0; k < count; k++) if ((code[current[k]!]! & OP_MASK) === ACCEPT) return true;
    return false;
  }
}

/** The plain comparison a program amounts to, if it is `literal`, `*literal` or `literal*`. */
function simpleForm(program: readonly Instruction[], glob: boolean): Simple | undefined {
  const text = (from: number, to: number) => {
    const codes = program.slice(from, to).map((i) => i.a!);
    if (codes.includes(SLASH)) return undefined;
    return glob ? String.fromCodePoint(...codes) : String.fromCharCode(...codes);
  };
  const star = program.findIndex((i) => i.op !== CHAR);
  if (star < 0) {
    const codes = program.map((i) => i.a!);
    return new Simple("equal", glob ? String.fromCodePoint(...codes) : String.fromCharCode(...codes));
  }
  if (program[star]!.op !== STAR || program.slice(star + 1).some((i) => i.op !== CHAR)) return undefined;
  const literal = star === 0
    ? text(1, program.length)
    : star === program.length - 1
    ? text(0, star)
    : undefined;
  if (literal === undefined) return undefined;
  return new Simple(star === 0 ? "suffix" : "prefix", literal);
}

/**
 * Compiles a pattern.
 *
 * @param pattern The pattern (for `gitignore`, its UTF-8 byte string: {@linkcode utf8Bytes})
 * @param options The syntax, the budget charged, where notes go
 * @returns The automaton
 * @throws {PatternError} When the pattern is too long or cannot be valid
 * @throws {BudgetExceededError} When the budget is spent
 */
export function compilePattern(pattern: string, options: CompileOptions): CompiledPattern {
  const program = compile(pattern, options);
  return simpleForm(program, options.syntax === "glob") ?? new Automaton(program);
}

const encoder = new TextEncoder();

/**
 * A string's UTF-8 encoding as a byte string (one character per byte, 0–255): what `.gitignore`
 * patterns are compiled from and matched against, as git compares bytes.
 *
 * @param text Any string
 * @returns The byte string (the same string when it is ASCII)
 */
export function utf8Bytes(text: string): string {
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  return ascii ? text : byteString(encoder.encode(text));
}

/** Bytes as a byte string (one character per byte). */
function byteString(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, Math.min(i + 8192, bytes.length)));
  }
  return out;
}
