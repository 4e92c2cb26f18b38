/**
 * The `files` parameter of `ask` and `chat`: where files may be read (file_scope.ts: the allow-list,
 * the client's roots, else Deno's permissions), how much fits (from the model's loaded context), and what the result says was read.
 *
 * @module
 */
import { z } from "zod";
import { InputError } from "../lib/errors.ts";
import { estimateTokens, type FileSet, gatherFiles } from "../lib/files.ts";
import { findModel } from "../lib/models.ts";
import { fileScope } from "./file_scope.ts";
import type { NativeModel } from "../lib/schemas.ts";
import type { Deps, ToolContext } from "./tool.ts";

/** The input field. */
export const FilesField = (): z.ZodType<string[]> => z.array(z.string().min(1).max(4096)).min(1).max(100);

/** Context assumed for a model that is not loaded (LM Studio's usual default load length). */
export const DEFAULT_CONTEXT = 4096;
/** Characters per token when sizing what fits: lower than the 4 used for estimates, to leave margin. */
const CHARS_PER_TOKEN = 3;

/** `structuredContent.files`. */
export const FilesReportSchema = (): z.ZodType<FilesReport> =>
  z.object({
    read: z.array(z.object({ path: z.string(), chars: z.number() })),
    skipped: z.array(z.object({ path: z.string(), reason: z.string() })),
    chars: z.number(),
    estimated_tokens: z.number(),
  });

/** What was read, for the result. */
export interface FilesReport {
  /** Files read. */
  read: { path: string; chars: number }[];
  /** Files skipped, and why. */
  skipped: { path: string; reason: string }[];
  /** Characters sent. */
  chars: number;
  /** Tokens sent, estimated at four characters per token. */
  estimated_tokens: number;
}

/**
 * The context a request will have: the one asked for, else the loaded instance's, else LM Studio's default.
 *
 * @param catalog The models
 * @param model The model key
 * @param requested `context_length` from the call
 * @returns Tokens
 */
export function contextOf(catalog: readonly NativeModel[], model: string, requested?: number): number {
  return requested ?? findModel(catalog, model)?.loaded_instances?.[0]?.config?.context_length ??
    DEFAULT_CONTEXT;
}

/**
 * Reads `files` for a call. One file may take what the model's context leaves after the answer and the
 * prompt (at 3 characters per token); all files together at most `total` (default: the same).
 *
 * @param patterns Paths, folders, globs
 * @param deps Home folder
 * @param context Roots and cancellation
 * @param size The context, the tokens kept for the answer, the prompt's characters, and the total cap
 * @returns The files
 * @throws {InputError} When nothing fits, a path is outside the roots, or nothing is readable
 */
export async function readFilesFor(
  patterns: readonly string[],
  deps: Deps,
  context: ToolContext,
  size: {
    readonly window: number;
    readonly maxTokens: number;
    readonly fixedChars: number;
    readonly total?: number;
  },
): Promise<FileSet> {
  const perFile = Math.max(0, (size.window - size.maxTokens - 64) * CHARS_PER_TOKEN - size.fixedChars);
  if (perFile < 256) {
    throw new InputError(
      `files: no room for files in this request (${size.window} tokens of context, ${size.maxTokens} kept for ` +
        "the answer). Load the model with a larger context_length (model_load), or lower max_tokens",
    );
  }
  context.progress.update(`Reading ${patterns.length === 1 ? patterns[0] : `${patterns.length} paths`}`);
  const scope = await fileScope(deps, context);
  const set = await gatherFiles(patterns, {
    base: scope.base,
    roots: scope.roots,
    hint: scope.hint,
    home: deps.config.home,
    maxFileChars: perFile,
    maxTotalChars: size.total ?? perFile,
    signal: context.signal,
  });
  for (const warning of set.warnings) deps.log.warn(`files: ${warning.path}: ${warning.message}`);
  return set;
}

/**
 * The result's account of what was read.
 *
 * @param set The files
 * @returns For `structuredContent.files`
 */
export function filesReport(set: FileSet): FilesReport {
  return {
    read: set.files.map((f) => ({ path: f.path, chars: f.chars })),
    skipped: [
      ...set.skipped.map((s) => ({ path: s.path, reason: s.reason })),
      ...set.warnings.map((w) => ({ path: w.path, reason: w.message })),
    ],
    chars: set.chars,
    estimated_tokens: estimateTokens(set.chars),
  };
}

/**
 * One line for the text result.
 *
 * @param set The files
 * @returns e.g. `Read 3 files (12,345 characters, ~3,087 tokens); skipped 1: logo.png (binary).`
 */
export function filesLine(set: FileSet): string {
  const n = set.files.length;
  const skipped = set.skipped.length
    ? `; skipped ${set.skipped.length}: ${
      set.skipped.slice(0, 5).map((s) => `${s.path} (${s.reason})`).join(", ")
    }${set.skipped.length > 5 ? ", …" : ""}`
    : "";
  const warnings = set.warnings.length
    ? ` Warning: ${set.warnings.slice(0, 3).map((w) => `${w.path}: ${w.message}`).join("; ")}${
      set.warnings.length > 3 ? "; …" : ""
    }.`
    : "";
  return `Read ${n} file${n === 1 ? "" : "s"} (${set.chars.toLocaleString("en-US")} characters, ~${
    estimateTokens(set.chars).toLocaleString("en-US")
  } tokens)${skipped}.${warnings}`;
}
