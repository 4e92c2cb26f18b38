/**
 * Files as model input: paths, folders and globs resolved to UTF-8 text files, read by the server so the
 * orchestrating model never has to hold them. Folders skip hidden and `.gitignore`d paths; binary and
 * non-UTF-8 files are skipped and listed; every file is checked against the client's roots (when it
 * declared any) after symlinks are resolved; per-file and total sizes are capped by the caller (from the
 * model's loaded context). Walks are bounded.
 *
 * @module
 */
import { basename, isAbsolute, join, relative, resolve, sep } from "node:path";
import { InputError } from "./errors.ts";
import { isInside, resolveReal } from "./is_inside.ts";
import {
  BudgetExceededError,
  globMatcher,
  IgnoreRules,
  isGlob,
  type MatchBudget,
  PatternError,
  splitGlob,
} from "./glob.ts";

/** Where and how much may be read. */
export interface GatherOptions {
  /** The folder relative paths resolve against. */
  readonly base: string;
  /** Absolute folders the client allows; undefined when it declared no roots (Deno's flags then decide). */
  readonly roots: readonly string[] | undefined;
  /** The home folder, for `~/`. */
  readonly home?: string | undefined;
  /** Most characters of one file. */
  readonly maxFileChars: number;
  /** Most characters of all files together. */
  readonly maxTotalChars: number;
  /** Most files. @default 200 */
  readonly maxFiles?: number;
  /** Cancels the walk. */
  readonly signal?: AbortSignal | undefined;
}

/** A file that was read. */
export interface TextFile {
  /** Its path as shown to the model: relative to the base folder when inside it. */
  readonly path: string;
  /** The text. */
  readonly text: string;
  /** Its length in characters. */
  readonly chars: number;
}

/** A file that was not read, and why. */
export interface SkippedFile {
  /** Its path as shown. */
  readonly path: string;
  /** Why: binary, not UTF-8, too large, over the total, outside the roots, unreadable. */
  readonly reason: string;
}

/** A problem with a file that was not read as input, e.g. an invalid `.gitignore` line. */
export interface FileWarning {
  /** The file's path as shown. */
  readonly path: string;
  /** What is wrong and what was done about it. */
  readonly message: string;
}

/** What a set of patterns resolved to. */
export interface FileSet {
  /** The files read, in a stable order (per pattern, then by path). */
  readonly files: readonly TextFile[];
  /** The files found but not read. */
  readonly skipped: readonly SkippedFile[];
  /** Characters of all files read. */
  readonly chars: number;
  /** Problems met on the way that did not stop the read, e.g. a `.gitignore` line that was skipped. */
  readonly warnings: readonly FileWarning[];
}

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
/** Bytes examined for a NUL byte, as git does to call a file binary. */
const SNIFF_BYTES = 8000;

/**
 * A rough token count for text: about four characters per token for English prose and code.
 *
 * @param chars Characters
 * @returns Estimated tokens
 */
export function estimateTokens(chars: number): number {
  return Math.ceil(chars / 4);
}

/**
 * Frames files for a prompt, each with its path so the model can cite it.
 *
 * @param files The files
 * @returns The text to append to the prompt
 */
export function frameFiles(files: readonly TextFile[]): string {
  return files.map((file) => `<file path="${escapeAttribute(file.path)}">\n${file.text}\n</file>`).join(
    "\n\n",
  );
}

/**
 * Escapes a value for a double-quoted XML-style attribute: a file name with `"`, `<`, `&` or a line break
 * cannot end the attribute or the tag early.
 *
 * @param value The raw value
 * @returns The escaped value
 */
export function escapeAttribute(value: string): string {
  return value.replace(/[&"<>\r\n\t]/g, (c) => ATTRIBUTE_ESCAPES[c]!);
}

const ATTRIBUTE_ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  '"': "&quot;",
  "<": "&lt;",
  ">": "&gt;",
  "\r": "&#13;",
  "\n": "&#10;",
  "\t": "&#9;",
};

/**
 * Resolves patterns to text files and reads them.
 *
 * @param patterns Paths, folders and globs (`src/**\/*.ts`); `~/` is the home folder
 * @param options Base folder, roots, caps
 * @returns The files read and the files skipped
 * @throws {InputError} When a pattern is outside the roots, names nothing, or nothing readable was found
 */
export async function gatherFiles(patterns: readonly string[], options: GatherOptions): Promise<FileSet> {
  const roots = options.roots === undefined ? undefined : await Promise.all(options.roots.map(resolveReal));
  const maxFiles = options.maxFiles ?? 200;
  const candidates: { absolute: string; explicit: boolean }[] = [];
  const skipped: SkippedFile[] = [];
  const seen = new Set<string>();
  const show = (absolute: string) => displayPath(absolute, options.base);
  const walker = new Walker(
    options.signal,
    show,
    (path, reason) => skipped.push({ path: show(path), reason }),
  );
  for (const pattern of patterns) {
    const expanded = expandHome(pattern.trim(), options.home);
    const { base, rest } = isGlob(expanded) ? splitGlob(expanded) : { base: expanded, rest: "" };
    let match: ((path: string, budget?: MatchBudget) => boolean) | undefined;
    try {
      match = rest ? globMatcher(rest) : undefined;
    } catch (error) {
      if (!(error instanceof PatternError)) throw error;
      throw new InputError(
        `files: ${pattern} is not a valid glob (${error.reason}). Fix the pattern, e.g. [a-z] for a range ` +
          "or \\[ for a literal bracket",
      );
    }
    const start = resolve(options.base, base || ".");
    if (roots && !isInside(await resolveReal(start), roots)) {
      throw new InputError(
        `files: ${pattern} is outside the folders this client allows (its MCP roots: ${roots.join(", ")}). ` +
          "Pass a path inside one of them",
      );
    }
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(start);
    } catch (error) {
      throw new InputError(`files: ${pattern} cannot be read (${describe(error)}). Check the path`);
    }
    let matched = 0;
    const skippedBefore = skipped.length;
    const add = (absolute: string, explicit: boolean) => {
      matched++;
      if (seen.has(absolute)) return;
      seen.add(absolute);
      candidates.push({ absolute, explicit });
    };
    if (!rest && info.isFile) add(start, true);
    else if (!info.isDirectory) {
      throw new InputError(`files: ${pattern} is not a file or folder`);
    } else {
      for (const path of await walker.walk(start, match)) add(path, false);
    }
    if (!matched && skipped.length === skippedBefore) {
      throw new InputError(`files: ${pattern} matches no file (hidden and .gitignored paths are skipped)`);
    }
  }
  const files: TextFile[] = [];
  let chars = 0;
  for (const { absolute } of candidates) {
    options.signal?.throwIfAborted();
    const path = show(absolute);
    if (files.length >= maxFiles) {
      skipped.push({ path, reason: `over the limit of ${maxFiles} files per call` });
      continue;
    }
    const real = await resolveReal(absolute);
    if (roots && !isInside(real, roots)) {
      skipped.push({ path, reason: "a link to outside the client's roots" });
      continue;
    }
    const read = await readText(real, options.maxFileChars);
    if ("reason" in read) {
      skipped.push({ path, reason: read.reason });
      continue;
    }
    if (chars + read.text.length > options.maxTotalChars) {
      skipped.push({
        path,
        reason:
          `${read.text.length} characters would pass the total of ${options.maxTotalChars} for this model`,
      });
      continue;
    }
    files.push({ path, text: read.text, chars: read.text.length });
    chars += read.text.length;
  }
  if (!files.length) {
    const why = skipped.slice(0, 10).map((s) => `${s.path} (${s.reason})`).join(", ");
    throw new InputError(`files: nothing could be read as text${why ? `: ${why}` : ""}`);
  }
  return { files, skipped, chars, warnings: walker.warnings };
}

async function readText(path: string, maxChars: number): Promise<{ text: string } | { reason: string }> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    // A UTF-8 character is at most four bytes: a file this large has more characters than allowed.
    if (info.size > maxChars * 4) return { reason: tooLarge(info.size, "bytes", maxChars) };
    bytes = await Deno.readFile(path);
  } catch (error) {
    return { reason: `not readable (${describe(error)})` };
  }
  if (bytes.subarray(0, SNIFF_BYTES).includes(0)) return { reason: "binary" };
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return { reason: "not UTF-8 text" };
  }
  if (text.length > maxChars) return { reason: tooLarge(text.length, "characters", maxChars) };
  if (!text.trim()) return { reason: "empty" };
  return { text };
}

function tooLarge(size: number, unit: string, max: number): string {
  return `too large (${size} ${unit}; the limit per file for this model is ${max} characters)`;
}

/** One call's walks: the entry count, the matching budget and the warnings are shared by all of them. */
class Walker {
  readonly warnings: FileWarning[] = [];
  readonly #signal: AbortSignal | undefined;
  readonly #show: (path: string) => string;
  readonly #skip: (path: string, reason: string) => void;
  readonly #budget: MatchBudget = { steps: MATCH_STEPS };
  readonly #warned = new Set<string>();
  #visited = 0;
  #sliceStart = performance.now();
  #stopped = false;

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
   */
  async walk(start: string, match: ((path: string, budget?: MatchBudget) => boolean) | undefined) {
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

function expandHome(path: string, home: string | undefined): string {
  if (home && (path === "~" || path.startsWith("~/"))) return join(home, path.slice(1));
  return path;
}

function displayPath(absolute: string, base: string): string {
  const rel = relative(base, absolute);
  if (!rel) return ".";
  return !rel.startsWith("..") && !isAbsolute(rel) ? toSlash(rel) : toSlash(absolute);
}

function toSlash(path: string): string {
  return sep === "/" ? path : path.replaceAll(sep, "/");
}

function describe(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file or folder";
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    return "permission denied";
  }
  return error instanceof Error ? error.message : String(error);
}
