/**
 * Files as model input: paths, folders and globs resolved to UTF-8 text files, read by the server so the
 * orchestrating model never has to hold them. Folders skip hidden and `.gitignore`d paths; binary and
 * non-UTF-8 files are skipped and listed; every file is checked against the client's roots (when it
 * declared any) after symlinks are resolved; per-file and total sizes are capped by the caller (from the
 * model's loaded context). Walks are bounded.
 *
 * @module
 */
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { InputError } from "./errors.ts";
import { globMatcher, IgnoreRules, isGlob, splitGlob } from "./glob.ts";

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
  /** For a file skipped for its size: its characters (its bytes when it was not read, an upper bound). */
  readonly chars?: number;
}

/** What a set of patterns resolved to. */
export interface FileSet {
  /** The files read, in a stable order (per pattern, then by path). */
  readonly files: readonly TextFile[];
  /** The files found but not read. */
  readonly skipped: readonly SkippedFile[];
  /** Characters of all files read. */
  readonly chars: number;
}

/** Entries a single walk may visit before it stops: a bound on time for huge trees. */
const MAX_ENTRIES = 50_000;
const MAX_DEPTH = 32;
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
  return files.map((file) => `<file path="${file.path}">\n${file.text}\n</file>`).join("\n\n");
}

/**
 * Resolves patterns to text files and reads them.
 *
 * @param patterns Paths, folders and globs (`src/**\/*.ts`); `~/` is the home folder
 * @param options Base folder, roots, caps
 * @returns The files read and the files skipped
 * @throws {InputError} When a pattern is outside the roots, names nothing, or nothing readable was found
 */
export async function gatherFiles(patterns: readonly string[], options: GatherOptions): Promise<FileSet> {
  const roots = options.roots === undefined ? undefined : await Promise.all(options.roots.map(realOrSelf));
  const maxFiles = options.maxFiles ?? 200;
  const candidates: { absolute: string; explicit: boolean }[] = [];
  const skipped: SkippedFile[] = [];
  const seen = new Set<string>();
  const show = (absolute: string) => displayPath(absolute, options.base);
  for (const pattern of patterns) {
    const expanded = expandHome(pattern.trim(), options.home);
    const { base, rest } = isGlob(expanded) ? splitGlob(expanded) : { base: expanded, rest: "" };
    const start = resolve(options.base, base || ".");
    if (roots && !inside(await realOrSelf(start), roots)) {
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
    const before = candidates.length;
    const add = (absolute: string, explicit: boolean) => {
      if (seen.has(absolute)) return;
      seen.add(absolute);
      candidates.push({ absolute, explicit });
    };
    if (!rest && info.isFile) add(start, true);
    else if (!info.isDirectory) {
      throw new InputError(`files: ${pattern} is not a file or folder`);
    } else {
      const match = rest ? globMatcher(rest) : () => true;
      const found = await walk(
        start,
        match,
        options.signal,
        (path, reason) => skipped.push({ path: show(path), reason }),
      );
      for (const path of found) add(path, false);
    }
    if (candidates.length === before && !skipped.length) {
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
    const real = await realOrSelf(absolute);
    if (roots && !inside(real, roots)) {
      skipped.push({ path, reason: "a link to outside the client's roots" });
      continue;
    }
    const read = await readText(real, options.maxFileChars);
    if ("reason" in read) {
      skipped.push({ path, reason: read.reason, ...(read.size === undefined ? {} : { chars: read.size }) });
      continue;
    }
    if (chars + read.text.length > options.maxTotalChars) {
      skipped.push({
        path,
        reason:
          `${read.text.length} characters would pass the total of ${options.maxTotalChars} for this model`,
        chars: read.text.length,
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
  return { files, skipped, chars };
}

async function readText(
  path: string,
  maxChars: number,
): Promise<{ text: string } | { reason: string; size?: number }> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    // A UTF-8 character is at most four bytes: a file this large has more characters than allowed.
    if (info.size > maxChars * 4) return { reason: tooLarge(info.size, "bytes", maxChars), size: info.size };
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
  if (text.length > maxChars) {
    return { reason: tooLarge(text.length, "characters", maxChars), size: text.length };
  }
  if (!text.trim()) return { reason: "empty" };
  return { text };
}

function tooLarge(size: number, unit: string, max: number): string {
  return `too large (${size} ${unit}; the limit per file for this model is ${max} characters)`;
}

/** Walks a folder: hidden entries, `.gitignore`d paths and folder symlinks are skipped; bounded. */
async function walk(
  start: string,
  match: (relative: string) => boolean,
  signal: AbortSignal | undefined,
  skip: (path: string, reason: string) => void,
): Promise<string[]> {
  const ignores = await ancestorIgnores(start);
  const found: string[] = [];
  const stack: { dir: string; depth: number; ignores: { dir: string; rules: IgnoreRules }[] }[] = [
    { dir: start, depth: 0, ignores },
  ];
  let visited = 0;
  while (stack.length) {
    signal?.throwIfAborted();
    const { dir, depth, ignores: inherited } = stack.pop()!;
    const own = await readIgnore(dir);
    const active = own ? [...inherited, { dir, rules: own }] : inherited;
    let entries: Deno.DirEntry[];
    try {
      entries = [];
      for await (const entry of Deno.readDir(dir)) entries.push(entry);
    } catch (error) {
      skip(dir, `folder not readable (${describe(error)})`);
      continue;
    }
    entries.sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
    for (const entry of entries) {
      if (++visited > MAX_ENTRIES) {
        skip(start, `stopped after ${MAX_ENTRIES} entries; pass a narrower folder or glob`);
        return found.sort();
      }
      if (entry.name.startsWith(".")) continue;
      const path = join(dir, entry.name);
      if (ignored(path, entry.isDirectory, active)) continue;
      if (entry.isDirectory) {
        if (depth < MAX_DEPTH) stack.push({ dir: path, depth: depth + 1, ignores: active });
      } else if (entry.isFile || entry.isSymlink) {
        if (entry.isSymlink && (await Deno.stat(path).catch(() => undefined))?.isFile !== true) continue;
        if (match(toSlash(relative(start, path)))) found.push(path);
      }
    }
  }
  return found.sort();
}

function ignored(
  path: string,
  isDir: boolean,
  rules: readonly { dir: string; rules: IgnoreRules }[],
): boolean {
  let verdict: boolean | undefined;
  for (const { dir, rules: set } of rules) {
    if (!path.startsWith(dir + sep)) continue;
    const said = set.verdict(toSlash(relative(dir, path)), isDir);
    if (said !== undefined) verdict = said;
  }
  return verdict === true;
}

/** The `.gitignore` rules of the folders above `start`, up to the repository's top (a `.git` entry). */
async function ancestorIgnores(start: string): Promise<{ dir: string; rules: IgnoreRules }[]> {
  const chain: { dir: string; rules: IgnoreRules }[] = [];
  let dir = resolve(start, "..");
  if (await exists(join(start, ".git"))) return chain;
  for (let i = 0; i < 32; i++) {
    const rules = await readIgnore(dir);
    if (rules) chain.unshift({ dir, rules });
    if (await exists(join(dir, ".git"))) return chain;
    const parent = resolve(dir, "..");
    if (parent === dir) break;
    dir = parent;
  }
  return []; // Not inside a repository: only the walked folders' own .gitignore files apply.
}

async function readIgnore(dir: string): Promise<IgnoreRules | undefined> {
  try {
    return new IgnoreRules(await Deno.readTextFile(join(dir, ".gitignore")));
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

async function realOrSelf(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    return resolve(path);
  }
}

function inside(path: string, roots: readonly string[]): boolean {
  return roots.some((root) => path === root || path.startsWith(root.endsWith(sep) ? root : root + sep));
}

function expandHome(path: string, home: string | undefined): string {
  if (home && (path === "~" || path.startsWith("~/"))) return join(home, path.slice(1));
  return path;
}

function displayPath(absolute: string, base: string): string {
  const rel = relative(base, absolute);
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
