/**
 * Walking a folder for `files`: hidden entries, `.gitignore`d paths and folder symlinks are skipped, and
 * every walk is bounded — in entries, in depth, in pattern-matching work (a budget shared by one call's
 * walks) and in how long it holds the event loop (it yields every few milliseconds, so other clients are
 * served meanwhile). A `.gitignore` that cannot be applied whole leaves its folder out.
 *
 * @module
 */
import { basename, join, relative, resolve, sep } from "node:path";
import { IgnoreRules } from "./ignore_rules.ts";
import { BudgetExceededError, type MatchBudget } from "./pattern.ts";

/** Entries a single walk may visit before it stops: a bound on time for huge trees. */
const MAX_ENTRIES = 50_000;
/** Folders below the walked one that are still entered. */
const MAX_DEPTH = 32;
/** Largest `.gitignore` applied; a folder with a larger one is left out (its rules cannot all be kept). */
const MAX_IGNORE_BYTES = 1024 * 1024;
/**
 * Pattern-matching work one call may do, in automaton steps (about a second of CPU): hostile globs and
 * `.gitignore` files cost linear time per path, and this bounds the sum over a whole tree.
 */
const MATCH_STEPS = 100_000_000;
/** Longest stretch of work between two turns of the event loop, so other clients are served meanwhile. */
const SLICE_MS = 10;
/** A problem with a file that was not read as input, e.g. an invalid `.gitignore` line. */
export interface FileWarning {
  /** The file's path as shown. */
  readonly path: string;
  /** What is wrong and what was done about it. */
  readonly message: string;
}

/** One call's walks: the entry count, the matching budget and the warnings are shared by all of them. */
export class Walker {
  /** Problems met that did not stop the walk (at most 20, each once). */
  readonly warnings: FileWarning[] = [];
  readonly #signal: AbortSignal | undefined;
  readonly #show: (path: string) => string;
  readonly #skip: (path: string, reason: string) => void;
  readonly #budget: MatchBudget = { steps: MATCH_STEPS };
  readonly #warned = new Set<string>();
  #visited = 0;
  #sliceStart = performance.now();
  #stopped = false;

  /**
   * Creates the walker for one call.
   *
   * @param signal Cancels the walks
   * @param show Turns an absolute path into the path shown to the user
   * @param skip Records a path that was not read, and why
   */
  constructor(
    signal: AbortSignal | undefined,
    show: (path: string) => string,
    skip: (path: string, reason: string) => void,
  ) {
    this.#signal = signal;
    this.#show = show;
    this.#skip = skip;
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
    return found.sort();
  }

  async #walk(
    start: string,
    match: ((path: string, budget?: MatchBudget) => boolean) | undefined,
    found: string[],
  ): Promise<void> {
    const stack: { dir: string; depth: number; ignores: Ignore[] }[] = [
      { dir: start, depth: 0, ignores: await this.#ancestorIgnores(start) },
    ];
    let tooDeep = 0;
    while (stack.length) {
      const { dir, depth, ignores: inherited } = stack.pop()!;
      const own = await this.#readIgnore(dir);
      if (own === "unreadable") continue;
      const active = own ? [...inherited, { dir, rules: own }] : inherited;
      const entries: Deno.DirEntry[] = [];
      try {
        for await (const entry of Deno.readDir(dir)) {
          if (this.#visited + entries.length >= MAX_ENTRIES) break;
          entries.push(entry);
        }
      } catch (error) {
        this.#skip(dir, `folder not readable (${describe(error)})`);
        continue;
      }
      entries.sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
      for (const entry of entries) {
        await this.#turn();
        if (++this.#visited >= MAX_ENTRIES) {
          this.#stopped = true;
          this.#skip(start, `stopped after ${MAX_ENTRIES} entries; pass a narrower folder or glob`);
          return;
        }
        if (entry.name.startsWith(".")) continue;
        const path = join(dir, entry.name);
        if (this.#ignored(path, entry.isDirectory, active)) continue;
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
          if (!match || match(toSlash(relative(start, path)), this.#budget)) found.push(path);
        }
      }
    }
  }

  /** Lets other work run when this call has held the event loop for a while. */
  async #turn(): Promise<void> {
    this.#signal?.throwIfAborted();
    if (performance.now() - this.#sliceStart < SLICE_MS) return;
    await new Promise((resolve) => setTimeout(resolve, 0));
    this.#sliceStart = performance.now();
    this.#signal?.throwIfAborted();
  }

  #ignored(path: string, isDir: boolean, rules: readonly Ignore[]): boolean {
    let verdict: boolean | undefined;
    for (const { dir, rules: set } of rules) {
      if (!path.startsWith(dir + sep)) continue;
      const said = set.verdict(toSlash(relative(dir, path)), isDir, this.#budget);
      if (said !== undefined) verdict = said;
    }
    return verdict === true;
  }

  /** The `.gitignore` rules of the folders above `start`, up to the repository's top (a `.git` entry). */
  async #ancestorIgnores(start: string): Promise<Ignore[]> {
    const chain: Ignore[] = [];
    let dir = resolve(start, "..");
    if (await exists(join(start, ".git"))) return chain;
    for (let i = 0; i < MAX_DEPTH; i++) {
      const rules = await this.#readIgnore(dir);
      if (rules && rules !== "unreadable") chain.unshift({ dir, rules });
      if (await exists(join(dir, ".git"))) return chain;
      const parent = resolve(dir, "..");
      if (parent === dir) break;
      dir = parent;
    }
    return []; // Not inside a repository: only the walked folders' own .gitignore files apply.
  }

  /**
   * A folder's `.gitignore`: its rules, undefined when it has none, or "unreadable" when it has one that
   * cannot be applied (too large, not a regular file, not readable) — the folder is then left out.
   */
  async #readIgnore(dir: string): Promise<IgnoreRules | undefined | "unreadable"> {
    const file = join(dir, ".gitignore");
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(file);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      this.#skip(dir, `its .gitignore cannot be read (${describe(error)}), so the folder is left out`);
      return "unreadable";
    }
    if (!info.isFile) {
      // git does not follow a .gitignore that is a link; a FIFO or device would block a read.
      this.#warn(file, "not a regular file; it was not read, as git does not read it");
      return undefined;
    }
    if (info.size > MAX_IGNORE_BYTES) {
      this.#skip(
        dir,
        `its .gitignore is ${info.size} bytes, over the ${MAX_IGNORE_BYTES}-byte limit, so the folder is left out`,
      );
      return "unreadable";
    }
    let text: string;
    try {
      text = await readBounded(file, Math.min(MAX_IGNORE_BYTES, info.size + 1));
    } catch (error) {
      this.#skip(dir, `its .gitignore cannot be read (${describe(error)}), so the folder is left out`);
      return "unreadable";
    }
    await this.#turn();
    const rules = new IgnoreRules(text);
    for (const bad of rules.invalid) {
      this.#warn(file, `line ${bad.line} "${bad.text}" was skipped (${bad.reason}); its other rules apply`);
    }
    return rules;
  }

  #warn(file: string, message: string): void {
    const key = `${file}\0${message}`;
    if (this.#warned.has(key) || this.warnings.length >= 20) return;
    this.#warned.add(key);
    this.warnings.push({ path: this.#show(file), message });
  }
}

interface Ignore {
  readonly dir: string;
  readonly rules: IgnoreRules;
}

/** Reads at most `max` bytes of a text file (a file that grew since its size was read is cut there). */
async function readBounded(path: string, max: number): Promise<string> {
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(max);
  let length = 0;
  while (length < max) {
    const n = await file.read(buffer.subarray(length));
    if (n === null) break;
    length += n;
  }
  return new TextDecoder().decode(buffer.subarray(0, length));
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
