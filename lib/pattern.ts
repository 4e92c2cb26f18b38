/**
 * Wildcard patterns compiled to automata, the engine under globs (`lib/glob.ts`) and `.gitignore` rules
 * (`lib/ignore_rules.ts`). Patterns come from clients and from the files of any repository the server
 * reads, so they are hostile input. They are never turned into regular expressions (a backtracking engine
 * takes exponential time on `*a*a*a*a*b`): each compiles to a small automaton that is run over the path
 * one code point at a time with the set of live states (Thompson's construction), so a match costs at
 * most the path's length times the pattern's. A {@linkcode MatchBudget} bounds the work of many matches.
 *
 * Syntax: `*` (not across `/`), `?`, `**` (across `/`; `**\/` is zero or more folders), `[...]` with
 * ranges, `!`/`^` negation and POSIX classes, `\` escapes, and `{a,b}` alternation when asked for.
 *
 * Over 350 lines on purpose: the compiler and the runner share one private instruction set, and keeping
 * them in one file keeps that set private (no module can build an automaton by hand).
 *
 * @module
 */

/** Longest pattern accepted, in characters: bounds the automaton and so the cost of one match. */
export const MAX_PATTERN_CHARS = 1024;
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
 * Work allowed to a set of matches, counted in automaton steps (one live state advanced by one
 * character). Matching throws {@linkcode BudgetExceededError} once `steps` falls below zero.
 */
export interface MatchBudget {
  /** Steps left. */
  steps: number;
}

// The automaton. Consuming instructions read one code point; SPLIT and JUMP move without reading.
const CHAR = 0; // the code point `a`
const ANY = 1; // any code point but `/`
const CLASS = 2; // one of `ranges` (or none of them when `negate`), never `/`
const STAR = 3; // any run of code points but `/`: loops on itself, may also move on without reading
const ANYTHING = 4; // any run of code points, `/` included
const SPLIT = 5; // move to every one of `to`
const JUMP = 6; // move to `to[0]`
const ACCEPT = 7; // the end of the pattern (a state, not an instruction)

interface Instruction {
  readonly op: number;
  /** CHAR: the code point. */
  readonly a?: number;
  /** CLASS: pairs of inclusive bounds. */
  readonly ranges?: readonly number[];
  /** CLASS: matches what is outside the ranges. */
  readonly negate?: boolean;
  /** SPLIT, JUMP: targets (filled in once the targets are known). */
  to?: number[];
}

const SLASH = 0x2f;

/** POSIX classes git accepts inside brackets, as inclusive code point ranges. */
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
  space: [0x09, 0x0d, 0x20, 0x20],
  upper: [0x41, 0x5a],
  xdigit: [0x30, 0x39, 0x41, 0x46, 0x61, 0x66],
};

/**
 * Parses a bracket expression starting at `chars[start]` (the `[`).
 *
 * @returns The instruction and the index of its `]`, or undefined when there is no closing `]`
 * @throws {PatternError} On a reversed range or an unknown `[:class:]`
 */
function parseClass(
  chars: readonly string[],
  start: number,
  pattern: string,
): { instruction: Instruction; end: number } | undefined {
  let i = start + 1;
  let negate = false;
  if (chars[i] === "!" || chars[i] === "^") {
    negate = true;
    i++;
  }
  const ranges: number[] = [];
  let first = true;
  for (; i < chars.length; i++) {
    let c = chars[i]!;
    if (c === "]" && !first) return { instruction: { op: CLASS, ranges, negate }, end: i };
    first = false;
    if (c === "[" && chars[i + 1] === ":") {
      const close = chars.indexOf(":", i + 2);
      if (close > 0 && chars[close + 1] === "]") {
        const name = chars.slice(i + 2, close).join("");
        const set = POSIX[name];
        if (!set) throw new PatternError(pattern, `[:${name}:] is not a character class`);
        ranges.push(...set);
        i = close + 1;
        continue;
      }
    }
    if (c === "\\" && i + 1 < chars.length) c = chars[++i]!;
    const low = c.codePointAt(0)!;
    if (chars[i + 1] === "-" && i + 2 < chars.length && chars[i + 2] !== "]") {
      let upper = chars[i + 2]!;
      i += 2;
      if (upper === "\\" && i + 1 < chars.length) upper = chars[++i]!;
      const high = upper.codePointAt(0)!;
      if (high < low) throw new PatternError(pattern, `the range ${c}-${upper} is reversed`);
      ranges.push(low, high);
    } else ranges.push(low, low);
  }
  return undefined;
}

/**
 * Compiles a pattern to an automaton.
 *
 * @param pattern The pattern
 * @param braces Whether `{a,b}` means alternation (globs: yes; `.gitignore`: no)
 * @throws {PatternError} When the pattern is too long or holds an invalid bracket expression
 */
function compile(pattern: string, braces: boolean): Instruction[] {
  const chars = Array.from(pattern);
  if (chars.length > MAX_PATTERN_CHARS) {
    throw new PatternError(
      pattern.slice(0, 40) + "…",
      `${chars.length} characters; the limit is ${MAX_PATTERN_CHARS}`,
    );
  }
  const program: Instruction[] = [];
  // Open `{`: the SPLIT that starts it and the JUMPs that end each finished alternative.
  const groups: { split: Instruction; starts: number[]; ends: Instruction[] }[] = [];
  let alternatives = 0;
  const literal = (c: string) => program.push({ op: CHAR, a: c.codePointAt(0)! });
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === "*") {
      if (chars[i + 1] === "*") {
        const atStart = i === 0 || chars[i - 1] === "/";
        if (atStart && chars[i + 2] === "/") {
          // `**/`: zero or more whole directories — either skip it, or anything then `/`.
          const split: Instruction = { op: SPLIT };
          program.push(split);
          const body = program.length;
          program.push({ op: ANYTHING }, { op: CHAR, a: SLASH });
          split.to = [body, program.length];
          i += 2;
        } else {
          program.push({ op: ANYTHING }); // `/**` at the end, or `**` inside a segment
          i += 1;
        }
      } else if (program.at(-1)?.op !== STAR) program.push({ op: STAR });
    } else if (c === "?") program.push({ op: ANY });
    else if (c === "[") {
      const parsed = parseClass(chars, i, pattern);
      if (!parsed) literal(c); // No closing `]`: a plain `[`, as shells do.
      else {
        program.push(parsed.instruction);
        i = parsed.end;
      }
    } else if (braces && c === "{") {
      const split: Instruction = { op: SPLIT, to: [] };
      program.push(split);
      groups.push({ split, starts: [program.length], ends: [] });
    } else if (braces && (c === "," || c === "}") && groups.length) {
      const group = groups.at(-1)!;
      if (++alternatives > MAX_ALTERNATIVES) {
        throw new PatternError(pattern, `more than ${MAX_ALTERNATIVES} {…} alternatives`);
      }
      const jump: Instruction = { op: JUMP };
      program.push(jump);
      group.ends.push(jump);
      if (c === ",") group.starts.push(program.length);
      else closeGroup(groups.pop()!, program.length);
    } else if (c === "\\" && i + 1 < chars.length) literal(chars[++i]!);
    else literal(c);
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

/** A compiled pattern. */
export interface CompiledPattern {
  /**
   * Whether the pattern matches the whole text, in time linear in the text's length.
   *
   * @param text A path or name
   * @param budget Work allowed, shared by many matches
   * @returns True on a match
   * @throws {BudgetExceededError} When the budget is spent
   */
  test(text: string, budget?: MatchBudget): boolean;
}

/** A compiled pattern, matched in time linear in the path's length. */
class Automaton implements CompiledPattern {
  readonly #program: readonly Instruction[];
  /** Per state: its consuming instruction's opcode (`ACCEPT` for the end). */
  readonly #ops: Int8Array;
  /** Per state: the code point of a CHAR. */
  readonly #args: Int32Array;
  /** Per state: the consuming states (and accept) it reaches without reading, as `#flat[#starts[s]…#starts[s+1]]`. */
  readonly #starts: Int32Array;
  readonly #flat: Int32Array;
  /** A plain comparison when the pattern is literal, `*literal` or `literal*` (no `/` in the literal). */
  readonly #simple: { kind: "equal" | "suffix" | "prefix"; text: string } | undefined;
  /** Per-state marks of the step that last added it (no clearing between steps). */
  readonly #marks: Uint32Array;
  #current: Int32Array;
  #next: Int32Array;
  #step = 0;

  constructor(program: Instruction[]) {
    this.#program = program;
    const size = program.length + 1;
    this.#ops = new Int8Array(size);
    this.#args = new Int32Array(size);
    for (let s = 0; s < program.length; s++) {
      this.#ops[s] = program[s]!.op;
      this.#args[s] = program[s]!.a ?? -1;
    }
    this.#ops[program.length] = ACCEPT;
    const closures = Array.from({ length: size }, (_, s) => this.#closure(s));
    this.#starts = new Int32Array(size + 1);
    for (let s = 0; s < size; s++) this.#starts[s + 1] = this.#starts[s]! + closures[s]!.length;
    this.#flat = new Int32Array(this.#starts[size]!);
    closures.forEach((closure, s) => this.#flat.set(closure, this.#starts[s]!));
    this.#simple = simpleForm(program);
    this.#marks = new Uint32Array(size);
    this.#current = new Int32Array(size);
    this.#next = new Int32Array(size);
  }

  test(text: string, budget?: MatchBudget): boolean {
    const simple = this.#simple;
    if (simple !== undefined) {
      if (budget && (budget.steps -= 1) < 0) throw new BudgetExceededError();
      if (simple.kind === "equal") return text === simple.text;
      if (text.includes("/")) return false;
      return simple.kind === "suffix" ? text.endsWith(simple.text) : text.startsWith(simple.text);
    }
    const program = this.#program;
    const ops = this.#ops;
    const args = this.#args;
    let current = this.#current;
    let next = this.#next;
    this.#mark();
    let count = this.#add(current, 0, 0);
    for (let i = 0; i < text.length; i++) {
      if (count === 0) return false;
      if (budget && (budget.steps -= count) < 0) throw new BudgetExceededError();
      let code = text.charCodeAt(i);
      if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
        const low = text.charCodeAt(i + 1);
        if (low >= 0xdc00 && low <= 0xdfff) {
          code = (code - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
          i++;
        }
      }
      this.#mark();
      let nextCount = 0;
      for (let k = 0; k < count; k++) {
        const state = current[k]!;
        switch (ops[state]) {
          case CHAR:
            if (code === args[state]) nextCount = this.#add(next, state + 1, nextCount);
            break;
          case ANY:
            if (code !== SLASH) nextCount = this.#add(next, state + 1, nextCount);
            break;
          case CLASS: {
            const instruction = program[state]!;
            if (code !== SLASH && inRanges(code, instruction.ranges!) !== instruction.negate) {
              nextCount = this.#add(next, state + 1, nextCount);
            }
            break;
          }
          case STAR:
            if (code !== SLASH) nextCount = this.#add(next, state, nextCount);
            break;
          case ANYTHING:
            nextCount = this.#add(next, state, nextCount);
            break;
        }
      }
      [current, next] = [next, current];
      count = nextCount;
    }
    for (let k = 0; k < count; k++) if (ops[current[k]!] === ACCEPT) return true;
    return false;
  }

  #mark(): void {
    if (++this.#step === 0xffffffff) {
      this.#marks.fill(0);
      this.#step = 1;
    }
  }

  /** Adds the states `state` reaches without reading to `list` (from index `count`); returns the new count. */
  #add(list: Int32Array, state: number, count: number): number {
    const marks = this.#marks;
    const step = this.#step;
    const flat = this.#flat;
    const end = this.#starts[state + 1]!;
    for (let k = this.#starts[state]!; k < end; k++) {
      const target = flat[k]!;
      if (marks[target] === step) continue;
      marks[target] = step;
      list[count++] = target;
    }
    return count;
  }

  /** The consuming states and accept reachable from `state` through SPLIT, JUMP, STAR and ANYTHING. */
  #closure(state: number): Int32Array {
    const seen = new Set<number>();
    const out: number[] = [];
    const stack = [state];
    while (stack.length) {
      const s = stack.pop()!;
      if (seen.has(s)) continue;
      seen.add(s);
      const instruction = this.#program[s];
      if (instruction === undefined) out.push(s); // accept
      else if (instruction.op === SPLIT || instruction.op === JUMP) {
        for (let k = instruction.to!.length - 1; k >= 0; k--) stack.push(instruction.to![k]!);
      } else {
        out.push(s);
        if (instruction.op === STAR || instruction.op === ANYTHING) stack.push(s + 1);
      }
    }
    return Int32Array.from(out);
  }
}

/** `literal`, `*literal` or `literal*` (with no `/` in the literal): matched by a string comparison. */
function simpleForm(
  program: readonly Instruction[],
): { kind: "equal" | "suffix" | "prefix"; text: string } | undefined {
  const star = program.findIndex((i) => i.op !== CHAR);
  const literal = (from: number, to: number) => {
    const codes = program.slice(from, to).map((i) => i.a!);
    return codes.includes(SLASH) ? undefined : String.fromCodePoint(...codes);
  };
  if (star < 0) return { kind: "equal", text: String.fromCodePoint(...program.map((i) => i.a!)) };
  if (program[star]!.op !== STAR || program.slice(star + 1).some((i) => i.op !== CHAR)) return undefined;
  if (star === 0) {
    const text = literal(1, program.length);
    return text === undefined ? undefined : { kind: "suffix", text };
  }
  if (star === program.length - 1) {
    const text = literal(0, star);
    return text === undefined ? undefined : { kind: "prefix", text };
  }
  return undefined;
}

function inRanges(code: number, ranges: readonly number[]): boolean {
  for (let i = 0; i < ranges.length; i += 2) {
    if (code >= ranges[i]! && code <= ranges[i + 1]!) return true;
  }
  return false;
}

/**
 * Compiles a pattern.
 *
 * @param pattern The pattern
 * @param braces Whether `{a,b}` means alternation (globs: yes; `.gitignore`: no)
 * @returns The automaton
 * @throws {PatternError} When the pattern is too long or holds an invalid bracket expression
 */
export function compilePattern(pattern: string, braces: boolean): CompiledPattern {
  return new Automaton(compile(pattern, braces));
}
