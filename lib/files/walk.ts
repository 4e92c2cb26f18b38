/**
 * Walking a folder for `files`: hidden entries, `.gitignore`d paths and folder symlinks are skipped, and
 * every walk is bounded — in entries, in depth, in pattern-matching work (a budget shared by one call's
 * walks, of which one entry may use only a slice), in `.gitignore` bytes and rules, and in how long it
 * holds the event loop (it yields every few milliseconds, so other clients are served meanwhile). A
 * `.gitignore` that cannot be applied whole leaves its folder out; one above the walked folder, inside
 * the same repository, leaves the whole walk out. `.git/info/exclude` applies at the repository's top.
 *
 * Over 450 lines on purpose: every bound above is kept in one walk state that the folder loop, the
 * `.gitignore` stack and the event-loop yields all update; split, each part would need the whole state.
 *
 * @module
 */
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { openForRead, readAtMost, sameFile } from "./bounded_read.ts";
import { type IgnoreRemark, IgnoreRules } from "./ignore_rules.ts";
import { isInside, resolveReal } from "./is_inside.ts";
import { BudgetExceededError, type MatchBudget } from "./pattern.ts";
import { sortStrings } from "./sort_strings.ts";

/** Entries a single call may visit before it stops: a bound on time for huge trees. */
const MAX_ENTRIES = 50_000;
/** Folders below the walked one that are still entered. */
const MAX_DEPTH = 32;
/** Largest `.gitignore` applied; a folder with a larger one is left out (its rules cannot all be kept). */
const MAX_IGNORE_BYTES = 1024 * 1024;
/** `.gitignore` bytes one call reads in all; past that, a folder with one more is left out. */
const MAX_CALL_IGNORE_BYTES = 4 * 1024 * 1024;
/** `.gitignore` rules one call keeps in all (they stay in memory for the call). */
const MAX_CALL_IGNORE_RULES = 100_000;
/**
 * Pattern-matching work one call may do, in automaton steps (one state visited for one character; see
 * `lib/files/pattern.ts`): about 0.5–1 s of CPU, spread over many turns of the event loop.
 */
const MATCH_STEPS = 100_000_000;
/**
 * The slice of that work one entry may use (all its `.gitignore` rules and the glob together): about
 * 10–20 ms of CPU, so one entry never holds the event loop long. An entry that needs more is left out.
 */
const ENTRY_STEPS = 1_000_000;
/** Longest stretch of work between two turns of the event loop, so other clients are served meanwhile. */
const SLICE_MS = 10;
/** Largest `.git` file (a worktree's `gitdir:` pointer) or `commondir` file read. */
const MAX_POINTER_BYTES = 4096;

/** A problem with a file that was not read as input, e.g. an invalid `.gitignore` line. */
export interface FileWarning {
  /** The file's path as shown. */
  readonly path: string;
  /** What is wrong and what was done about it. */
  readonly message: string;
}

/** A folder's `.gitignore` (or a repository's `info/exclude`) as read once per call. */
interface IgnoreFile {
  /** The file. */
  readonly file: string;
  /** Its rules; undefined when there is no such file (or git would not read it). */
  readonly rules?: IgnoreRules;
  /** Why it cannot be applied whole, when it cannot: its folder must be left out. */
  readonly unusable?: string;
  /** A note that is not about one line (e.g. not a regular file). */
  readonly note?: string;
}

interface Ignore {
  readonly dir: string;
  readonly rules: IgnoreRules;
}

const NO_IGNORE = (file: string): IgnoreFile => ({ file });

/** One call's walks: the entry count, the matching budget and the warnings are shared by all of them. */
export class Walker {
  readonly #warnings: FileWarning[] = [];
  readonly #signal: AbortSignal | undefined;
  readonly #show: (path: string) => string;
  readonly #skip: (path: string, reason: string) => void;
  readonly #roots: readonly string[] | undefined;
  readonly #budget: MatchBudget = { steps: MATCH_STEPS };
  readonly #warned = new Set<string>();
  readonly #skippedOnce = new Set<string>();
  /** Each folder's `.gitignore`, read and compiled once per call. */
  readonly #ignores = new Map<string, IgnoreFile>();
  #ignoreBytes = 0;
  #ignoreRules = 0;
  #visited = 0;
  #sliceStart = performance.now();
  #stopped = false;
  /** Entries left out because matching them took more than their slice of the budget. */
  #costly = 0;
  #firstCostly = "";

  /**
   * Creates the walker for one call.
   *
   * @param signal Cancels the walks
   * @param show Turns an absolute path into the path shown to the user
   * @param skip Records a path that was not read, and why
   * @param roots The client's roots (real paths), if it declared any: a `.gitignore` outside them is
   *   applied but its lines are never quoted
   */
  constructor(
    signal: AbortSignal | undefined,
    show: (path: string) => string,
    skip: (path: string, reason: string) => void,
    roots?: readonly string[],
  ) {
    this.#signal = signal;
    this.#show = show;
    this.#skip = skip;
    this.#roots = roots;
  }

  /** Problems met that did not stop the walks (at most 20, each once). */
  get warnings(): FileWarning[] {
    if (!this.#costly) return this.#warnings;
    const more = this.#costly > 1 ? `, with ${this.#costly - 1} more entries` : "";
    return [{
      path: this.#show(this.#firstCostly),
      message: `left out${more}: matching the glob and .gitignore rules took over ${ENTRY_STEPS} steps for ` +
        "each; pass a simpler pattern, or simplify the .gitignore",
    }, ...this.#warnings];
  }

  /** Entries left out so far because matching them took too much work. */
  get costly(): number {
    return this.#costly;
  }

  /**
   * Walks a folder: hidden entries, `.gitignore`d paths and folder symlinks are skipped; bounded in
   * entries, depth, matching work and time between turns of the event loop.
   *
   * @param start The folder
   * @param match Which relative paths to keep (all when undefined)
   * @returns The absolute paths of the files found, sorted
   */
  async walk(
    start: string,
    match: ((path: string, budget?: MatchBudget) => boolean) | undefined,
  ): Promise<string[]> {
    const found: string[] = [];
    if (this.#stopped) return found;
    try {
      await this.#walk(start, match, found);
    } catch (error) {
      if (!(error instanceof BudgetExceededError)) throw error;
      this.#stopped = true;
      this.#skip(
        start,
        "stopped: matching the patterns (the glob or .gitignore rules) took too much work here; " +
          "pass a simpler pattern or a narrower folder",
      );
    }
    return await sortStrings(found, () => this.#turn());
  }

  async #walk(
    start: string,
    match: ((path: string, budget?: MatchBudget) => boolean) | undefined,
    found: string[],
  ): Promise<void> {
    const ancestors = await this.#ancestorIgnores(start);
    if (typeof ancestors === "string") {
      this.#skipOnce(start, ancestors);
      return;
    }
    const stack: { dir: string; depth: number; ignores: Ignore[] }[] = [
      { dir: start, depth: 0, ignores: ancestors },
    ];
    let tooDeep = 0;
    while (stack.length) {
      const { dir, depth, ignores: inherited } = stack.pop()!;
      const own = await this.#ignoreOf(dir);
      this.#publish(own, true);
      if (own.unusable !== undefined) {
        this.#skipOnce(dir, `its .gitignore ${own.unusable}, so the folder is left out`);
        continue;
      }
      const active = own.rules ? [...inherited, { dir, rules: own.rules }] : inherited;
      const entries = new Map<string, Deno.DirEntry>();
      try {
        for await (const entry of Deno.readDir(dir)) {
          if (this.#visited + entries.size >= MAX_ENTRIES) break;
          entries.set(entry.name, entry);
        }
      } catch (error) {
        this.#skip(dir, `folder not readable (${describe(error)})`);
        continue;
      }
      const names = await sortStrings([...entries.keys()], () => this.#turn());
      // From the last name down: folders go on the stack last-first, so they are walked in order.
      for (let n = names.length - 1; n >= 0; n--) {
        const entry = entries.get(names[n]!)!;
        await this.#turn();
        if (++this.#visited >= MAX_ENTRIES) {
          this.#stopped = true;
          this.#skip(start, `stopped after ${MAX_ENTRIES} entries; pass a narrower folder or glob`);
          return;
        }
        if (entry.name.startsWith(".")) continue;
        const path = join(dir, entry.name);
        const ignored = this.#measured(
          path,
          (budget) => this.#ignored(path, entry.isDirectory, active, budget),
        );
        if (ignored !== false) continue;
        if (entry.isDirectory) {
          if (depth < MAX_DEPTH) stack.push({ dir: path, depth: depth + 1, ignores: active });
          else if (++tooDeep <= 10) {
            this.#skip(
              path,
              `more than ${MAX_DEPTH} folders below ${basename(start)}; pass this folder itself to read it`,
            );
          }
        } else if (entry.isFile || entry.isSymlink) {
          if (entry.isSymlink && (await Deno.stat(path).catch(() => undefined))?.isFile !== true) continue;
          if (
            !match || this.#measured(path, (budget) => match(toSlash(relative(start, path)), budget)) === true
          ) {
            found.push(path);
          }
        }
      }
    }
  }

  /**
   * Runs one entry's matching with its slice of the call's budget. Returns "costly" (and counts the
   * entry as left out) when the slice is spent; rethrows when the call's budget is.
   */
  #measured(path: string, work: (budget: MatchBudget) => boolean): boolean | "costly" {
    const slice = Math.min(ENTRY_STEPS, this.#budget.steps);
    const budget: MatchBudget = { steps: slice };
    try {
      return work(budget);
    } catch (error) {
      if (!(error instanceof BudgetExceededError)) throw error;
      if (slice < ENTRY_STEPS) throw error; // the call's budget, not the entry's slice, ran out
      if (this.#costly++ === 0) this.#firstCostly = path;
      return "costly";
    } finally {
      this.#budget.steps -= slice - budget.steps;
    }
  }

  /**
   * Lets other work run when this call has held the event loop for a while (the walks do it themselves;
   * for the caller's own loops over what they found).
   *
   * @throws The signal's reason once it aborts
   */
  async pause(): Promise<void> {
    await this.#turn();
  }

  /** Lets other work run when this call has held the event loop for a while. */
  async #turn(): Promise<void> {
    this.#signal?.throwIfAborted();
    if (performance.now() - this.#sliceStart < SLICE_MS) return;
    await new Promise((resolve) => setTimeout(resolve, 0));
    this.#sliceStart = performance.now();
    this.#signal?.throwIfAborted();
  }

  #ignored(path: string, isDir: boolean, rules: readonly Ignore[], budget: MatchBudget): boolean {
    let verdict: boolean | undefined;
    for (const { dir, rules: set } of rules) {
      if (!path.startsWith(dir + sep)) continue;
      const said = set.verdict(toSlash(relative(dir, path)), isDir, budget);
      if (said !== undefined) verdict = said;
    }
    return verdict === true;
  }

  /**
   * The rules that apply from above `start`: the repository's `info/exclude` and the `.gitignore` of
   * every folder from the repository's top (a `.git` entry) down to `start`'s parent. A reason instead
   * when one of them cannot be applied whole (the walk is then left out); none outside a repository.
   */
  async #ancestorIgnores(start: string): Promise<Ignore[] | string> {
    if (await exists(join(start, ".git"))) return this.#withExclude(start, []);
    const chain: { dir: string; ignore: IgnoreFile }[] = [];
    let dir = resolve(start, "..");
    for (let i = 0; i < MAX_DEPTH; i++) {
      chain.unshift({ dir, ignore: await this.#ignoreOf(dir) });
      if (await exists(join(dir, ".git"))) {
        // Inside this repository: its rules apply whole, or the walk is left out. Their notes are told
        // only now (a folder outside any repository has no rules), without line text outside the roots.
        const rules: Ignore[] = [];
        for (const { dir: above, ignore } of chain) {
          const quoted = await this.#quotable(above);
          this.#publish(ignore, quoted);
          if (ignore.unusable !== undefined) {
            return unusableAbove(this.#show(ignore.file), ignore.unusable, quoted);
          }
          if (ignore.rules) rules.push({ dir: above, rules: ignore.rules });
        }
        return this.#withExclude(dir, rules);
      }
      const parent = resolve(dir, "..");
      if (parent === dir) break;
      dir = parent;
    }
    return []; // Not inside a repository: only the walked folders' own .gitignore files apply.
  }

  /** `rules` with the repository's `info/exclude` first (git gives it the lowest precedence). */
  async #withExclude(top: string, rules: Ignore[]): Promise<Ignore[] | string> {
    const file = await excludeFile(top);
    if (file === undefined) return rules;
    const exclude = await this.#ignoreOf(dirname(file), file);
    const quoted = await this.#quotable(top);
    this.#publish(exclude, quoted);
    if (exclude.unusable !== undefined) return unusableAbove(this.#show(file), exclude.unusable, quoted);
    return exclude.rules ? [{ dir: top, rules: exclude.rules }, ...rules] : rules;
  }

  /** Whether lines of a file in `dir` may be quoted: the client declared no roots, or `dir` is inside. */
  async #quotable(dir: string): Promise<boolean> {
    return this.#roots === undefined || isInside(await resolveReal(dir), this.#roots);
  }

  /**
   * A folder's `.gitignore` (or another ignore file), read and compiled once per call: its rules, none,
   * or why it cannot be applied whole (too large, not readable, changed while read, over the call's
   * bytes or rules) — the folder is then left out.
   */
  async #ignoreOf(dir: string, file = join(dir, ".gitignore")): Promise<IgnoreFile> {
    const cached = this.#ignores.get(file);
    if (cached) return cached;
    const ignore = await this.#readIgnore(file);
    this.#ignores.set(file, ignore);
    return ignore;
  }

  async #readIgnore(file: string): Promise<IgnoreFile> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(file);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return NO_IGNORE(file);
      return { file, unusable: `cannot be read (${describe(error)})` };
    }
    if (!info.isFile) {
      // git does not follow a .gitignore that is a link; a FIFO or device would block a read.
      return { file, note: "not a regular file; it was not read, as git does not read it" };
    }
    if (info.size > MAX_IGNORE_BYTES) {
      return { file, unusable: `is ${info.size} bytes, over the ${MAX_IGNORE_BYTES}-byte limit` };
    }
    if (this.#ignoreBytes + info.size > MAX_CALL_IGNORE_BYTES) {
      return {
        file,
        unusable: `would pass the ${MAX_CALL_IGNORE_BYTES} bytes of .gitignore files read per call`,
      };
    }
    let bytes: Uint8Array;
    try {
      using handle = await openForRead(file, this.#signal);
      if (!sameFile(await handle.stat(), info)) return { file, unusable: "changed while it was read" };
      bytes = await readAtMost(handle, MAX_IGNORE_BYTES + 1, this.#signal);
    } catch (error) {
      this.#signal?.throwIfAborted();
      return { file, unusable: `cannot be read (${describe(error)})` };
    }
    if (bytes.length > MAX_IGNORE_BYTES) {
      return { file, unusable: `grew past the ${MAX_IGNORE_BYTES}-byte limit while it was read` };
    }
    this.#ignoreBytes += bytes.length;
    await this.#turn();
    const rules = await IgnoreRules.parse(bytes, { budget: this.#budget, pause: () => this.#turn() });
    if (rules.unusable !== undefined) {
      return { file, unusable: `cannot be applied whole (${rules.unusable})` };
    }
    this.#ignoreRules += rules.size;
    if (this.#ignoreRules > MAX_CALL_IGNORE_RULES) {
      return { file, unusable: `would pass the ${MAX_CALL_IGNORE_RULES} .gitignore rules kept per call` };
    }
    return { file, rules };
  }

  /** Tells an ignore file's notes (each once); quotes its lines only when `quoted`. */
  #publish(ignore: IgnoreFile, quoted: boolean): void {
    if (ignore.note !== undefined) this.#warn(ignore.file, ignore.note);
    for (const remark of ignore.rules?.remarks ?? []) this.#warn(ignore.file, remarkMessage(remark, quoted));
  }

  #skipOnce(path: string, reason: string): void {
    const key = `${path}\0${reason}`;
    if (this.#skippedOnce.has(key)) return;
    this.#skippedOnce.add(key);
    this.#skip(path, reason);
  }

  #warn(file: string, message: string): void {
    const key = `${file}\0${message}`;
    if (this.#warned.has(key) || this.#warnings.length >= 20) return;
    this.#warned.add(key);
    this.#warnings.push({ path: this.#show(file), message });
  }
}

function remarkMessage(remark: IgnoreRemark, quoted: boolean): string {
  const line = quoted ? `line ${remark.line} "${remark.text}"` : `line ${remark.line}`;
  return remark.kept
    ? `${line}: ${remark.reason}; the rule applies`
    : `${line} was skipped (${remark.reason}); its other rules apply`;
}

/** Why a walk is left out: an ignore file above it (named only inside the roots) cannot be applied. */
function unusableAbove(file: string, why: string, quoted: boolean): string {
  const which = quoted
    ? `${file} (which applies here)`
    : "an ignore file above it, outside the client's roots,";
  return `${which} ${why}, so the folder is left out`;
}

/** The repository's `info/exclude` for a top folder: in `.git/`, or in a worktree's common git folder. */
async function excludeFile(top: string): Promise<string | undefined> {
  const dotGit = join(top, ".git");
  const info = await Deno.lstat(dotGit).catch(() => undefined);
  if (info?.isDirectory) return join(dotGit, "info", "exclude");
  if (!info?.isFile) return undefined;
  const pointer = await readSmall(dotGit);
  const match = pointer?.match(/^gitdir: ?(.+?)\r?\n?$/);
  if (!match) return undefined;
  const gitDir = resolve(top, match[1]!);
  const common = (await readSmall(join(gitDir, "commondir")))?.trim();
  const commonDir = common ? (isAbsolute(common) ? common : resolve(gitDir, common)) : gitDir;
  return join(commonDir, "info", "exclude");
}

/** A small regular file's text, or undefined. */
async function readSmall(path: string): Promise<string | undefined> {
  const info = await Deno.lstat(path).catch(() => undefined);
  if (!info?.isFile || info.size > MAX_POINTER_BYTES) return undefined;
  try {
    using file = await Deno.open(path, { read: true });
    return new TextDecoder().decode(await readAtMost(file, MAX_POINTER_BYTES));
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * A path with `/` separators.
 *
 * @param path A native path
 * @returns The same path with `/`
 */
export function toSlash(path: string): string {
  return sep === "/" ? path : path.replaceAll(sep, "/");
}

/**
 * A file system error in a few words.
 *
 * @param error The error
 * @returns e.g. "no such file or folder", "permission denied"
 */
export function describe(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file or folder";
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    return "permission denied";
  }
  return error instanceof Error ? error.message : String(error);
}
