/**
 * Files as model input: paths, folders and globs resolved to UTF-8 text files, read by the server so the
 * orchestrating model never has to hold them. Folders skip hidden and `.gitignore`d paths; binary and
 * non-UTF-8 files are skipped and listed; every file is checked against the client's roots (when it
 * declared any) after symlinks are resolved; per-file and total sizes are capped by the caller (from the
 * model's loaded context). Walks are bounded.
 *
 * @module
 */
import { isAbsolute, join, relative, resolve } from "node:path";
import { openForRead, readAtMost, sameFile } from "./bounded_read.ts";
import { InputError } from "../errors.ts";
import { isInside, resolveReal } from "./is_inside.ts";
import { globMatcher, isGlob, splitGlob } from "./glob.ts";
import { type MatchBudget, PatternError } from "./pattern.ts";
import { describe, type FileWarning, toSlash, Walker } from "./walk.ts";

/** Where and how much may be read. */
export interface GatherOptions {
  /** The folder relative paths resolve against. */
  readonly base: string;
  /**
   * Absolute folders every file must be inside (the allow-list and the client's MCP roots); undefined
   * when unbounded (Deno's flags then decide).
   */
  readonly roots: readonly string[] | undefined;
  /** What the error for a path outside `roots` says next (where they come from, how to add one). */
  readonly hint?: string | undefined;
  /** The home folder, for `~/`. */
  readonly home?: string | undefined;
  /** Most characters of one file. */
  readonly maxFileChars: number;
  /** Most characters of all files together. */
  readonly maxTotalChars: number;
  /** Most files. @default 200 */
  readonly maxFiles?: number;
  /**
   * Most files opened in one call, read or skipped (empty, binary, too large): each open costs a few
   * system calls, so a folder of 50,000 empty or binary files is not opened whole. @default 5000
   */
  readonly maxExamined?: number;
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
  /** Problems met on the way that did not stop the read, e.g. a `.gitignore` line that was skipped. */
  readonly warnings: readonly FileWarning[];
}

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
 * Frames files for a prompt, each with its path so the model can cite it. A file's text cannot forge a
 * tag: `<file` and `</file` inside it (in any case) are written `&lt;file` and `&lt;/file`, so the only
 * tags are the framing's own, and each file's path is escaped ({@linkcode escapeAttribute}).
 *
 * @param files The files
 * @returns The text to append to the prompt
 */
export function frameFiles(files: readonly TextFile[]): string {
  return files.map((file) =>
    `<file path="${escapeAttribute(file.path)}">\n${neutraliseTags(file.text)}\n</file>`
  ).join("\n\n");
}

/**
 * File text with every `<file` and `</file` (any case) written `&lt;file`, `&lt;/file`: text that
 * cannot open or close a framing tag.
 *
 * @param text The file's text
 * @returns The same text, tags neutralised
 */
export function neutraliseTags(text: string): string {
  return text.replace(/<(\/?file)/gi, "&lt;$1");
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
  const maxExamined = options.maxExamined ?? 5_000;
  let examined = 0;
  const candidates: { absolute: string; explicit: boolean }[] = [];
  const skipped: SkippedFile[] = [];
  const seen = new Set<string>();
  const show = (absolute: string) => displayPath(absolute, options.base);
  const walker = new Walker(
    options.signal,
    show,
    (path, reason) => skipped.push({ path: show(path), reason }),
    roots,
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
        `files: ${pattern} is outside the folders files may be read from (${roots.join(", ")}). ` +
          (options.hint || "Pass a path inside one of them"),
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
    const costlyBefore = walker.costly;
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
      for (const path of await walker.walk(start, match)) {
        add(path, false);
        await walker.pause();
      }
    }
    if (!matched && skipped.length === skippedBefore && walker.costly === costlyBefore) {
      throw new InputError(`files: ${pattern} matches no file (hidden and .gitignored paths are skipped)`);
    }
  }
  const files: TextFile[] = [];
  let chars = 0;
  for (const { absolute } of candidates) {
    await walker.pause();
    const path = show(absolute);
    if (files.length >= maxFiles) {
      skipped.push({ path, reason: `over the limit of ${maxFiles} files per call` });
      continue;
    }
    if (examined++ >= maxExamined) {
      skipped.push({
        path,
        reason:
          `not opened: ${maxExamined} files were already looked at in this call; pass a narrower folder or glob`,
      });
      continue;
    }
    const read = await readText(absolute, roots, options.maxFileChars, options.signal);
    if ("reason" in read) {
      skipped.push({ path, reason: read.reason, ...(read.size === undefined ? {} : { chars: read.size }) });
      continue;
    }
    if (chars + read.text.length > options.maxTotalChars) {
      skipped.push({
        path,
        reason:
          `${read.text.length} characters would pass the total of ${options.maxTotalChars} for this call; pass a narrower folder or glob`,
        chars: read.text.length,
      });
      continue;
    }
    files.push({ path, text: read.text, chars: read.text.length });
    chars += read.text.length;
  }
  options.signal?.throwIfAborted();
  if (!files.length) {
    const why = [
      ...skipped.slice(0, 10).map((s) => `${s.path} (${s.reason})`),
      ...(skipped.length ? [] : walker.warnings.slice(0, 3).map((w) => `${w.path} (${w.message})`)),
    ].join(", ");
    throw new InputError(`files: nothing could be read as text${why ? `: ${why}` : ""}`);
  }
  return { files, skipped, chars, warnings: walker.warnings };
}

/**
 * Reads a text file through one open handle: it must be a regular file (checked before opening, so a FIFO
 * is never waited on, and on the handle), and once it is open, its path must lead inside the roots (links
 * resolved) and to the very file opened (a folder above it swapped for a link in between would make it
 * another file); at most `maxChars * 4 + 1` bytes are read whatever its reported size (procfs files say 0).
 *
 * @param path The file's absolute path
 * @param roots The client's roots (real paths), if any
 * @param maxChars Most characters read
 * @param signal Cancels the read (and a blocked open)
 * @returns The text, or why it was not read (with its size when it was too large)
 */
export async function readText(
  path: string,
  roots: readonly string[] | undefined,
  maxChars: number,
  signal?: AbortSignal,
): Promise<{ text: string } | { reason: string; size?: number }> {
  // A UTF-8 character is at most four bytes: a file with more bytes has more characters than allowed.
  const maxBytes = maxChars * 4;
  let bytes: Uint8Array;
  let size: number;
  try {
    // Opening a FIFO would wait for a writer: check first, then check the handle is that same file.
    const checked = await Deno.stat(path);
    if (!checked.isFile) return { reason: "not a regular file" };
    using file = await openForRead(path, signal);
    const info = await file.stat();
    if (!info.isFile || !sameFile(info, checked)) {
      return { reason: "changed while it was read; pass it again" };
    }
    // Where the path leads now, after the open: inside the roots, and to the very file that was opened.
    const real = await Deno.realPath(path);
    if (roots && !isInside(real, roots)) return { reason: "a link to outside the allowed folders" };
    if (!sameFile(await Deno.stat(real), info)) return { reason: "changed while it was read; pass it again" };
    size = info.size;
    if (size > maxBytes) return { reason: tooLarge(size, "bytes", maxChars), size };
    bytes = await readAtMost(file, maxBytes + 1, signal, size);
  } catch (error) {
    signal?.throwIfAborted();
    return { reason: `not readable (${describe(error)})` };
  }
  if (bytes.length > maxBytes) {
    // It grew, or its size was wrong (procfs files say 0): only the bytes read are known.
    return { reason: tooLarge(`over ${maxBytes}`, "bytes", maxChars), size: Math.max(size, bytes.length) };
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

function tooLarge(size: number | string, unit: string, max: number): string {
  return `too large (${size} ${unit}; the limit per file for this model is ${max} characters)`;
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
