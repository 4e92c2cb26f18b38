/**
 * The `files` parameter of `ask` and `chat`: where files may be read (file_scope.ts: the allow-list,
 * the client's roots, else Deno's permissions), how much fits (from the model's loaded context), and what the result says was read.
 *
 * @module
 */
import { z } from "zod";
import { InputError } from "../../lib/errors.ts";
import {
  estimateTokens,
  type FileSet,
  gatherFiles,
  type SkippedFile,
  type TextFile,
} from "../../lib/files/files.ts";
import { fittingContext } from "../../lib/lmstudio/inference.ts";
import { fileScope } from "./file_scope.ts";
import type { NativeModel } from "../../lib/lmstudio/schemas.ts";
import type { ToolContext, ToolDeps } from "../tool.ts";
import {
  charBudget,
  CHARS_PER_TOKEN,
  loadedContextLength,
  MARGIN_TOKENS,
  tokensNeeded,
} from "../../lib/inference/context_budget.ts";
import { estimateTokens as estimateTextTokens } from "../../lib/inference/tokens.ts";

/** The input field. */
export const FilesField = (): z.ZodType<string[]> => z.array(z.string().min(1).max(4096)).min(1).max(100);

/** Context assumed for a model that is not loaded (LM Studio's usual default load length). */
export const DEFAULT_CONTEXT = 4096;

/** `structuredContent.files`. */
export const FilesReportSchema = (): z.ZodType<FilesReport> =>
  z.object({
    read: z.array(z.object({ path: z.string(), chars: z.number() })),
    skipped: z.array(
      z.object({ path: z.string(), reason: z.string(), context_length: z.number().optional() }),
    ),
    chars: z.number(),
    estimated_tokens: z.number(),
    include: z.object({
      files: z.number(),
      context_length: z.number().nullable(),
      max_context_length: z.number().nullable(),
      beyond_max: z.number(),
      how: z.string(),
    }).optional(),
  });

/** What was read, for the result. */
export interface FilesReport {
  /** Files read. */
  read: { path: string; chars: number }[];
  /** Files skipped, and why; one skipped for its size names the context length that would read it. */
  skipped: { path: string; reason: string; context_length?: number | undefined }[];
  /** Characters sent. */
  chars: number;
  /** Tokens sent, estimated at four characters per token. */
  estimated_tokens: number;
  /** How to read the files skipped for their size, when some were. */
  include?: Include | undefined;
}

/** How to read the files a call skipped for their size. */
export interface Include {
  /** Files a larger context would read. */
  files: number;
  /** The context length that reads them, or null when none within the model's maximum does. */
  context_length: number | null;
  /** The model's largest context, if LM Studio says. */
  max_context_length: number | null;
  /** Files too large even at the model's maximum. */
  beyond_max: number;
  /** What to do, in words. */
  how: string;
}

/** How a call can read more: the model's limit, and what to do for a given context length. */
export interface FitAdvice {
  /** The model's `max_context_length`, if known. */
  readonly max: number | null | undefined;
  /** Whether the files go in one prompt together (ask, chat) or each in its own request (each). */
  readonly together: boolean;
  /** The action for a context length, e.g. "pass context_length: 16384". */
  readonly how: (contextLength: number) => string;
}

/** Files read for a call, with the advice for those skipped for their size. */
export interface ReadFiles extends FileSet {
  /** Skipped files; one skipped for its size names the context length that would read it. */
  readonly skipped: readonly (SkippedFile & { readonly context_length?: number })[];
  /** How to read the files skipped for their size. */
  readonly include?: Include;
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
  return requested ?? loadedContextLength(catalog, model) ?? DEFAULT_CONTEXT;
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
  deps: ToolDeps,
  context: ToolContext,
  size: {
    readonly window: number;
    readonly maxTokens: number;
    readonly fixedChars: number;
    readonly total?: number;
    readonly advice?: FitAdvice;
  },
): Promise<ReadFiles> {
  const perFile = charBudget(size.window, size.maxTokens, size.fixedChars);
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
  const sized = withinTokens(set, size);
  return size.advice ? withAdvice(sized, size, size.advice, perFile) : sized;
}

/**
 * The characters cap errs for dense scripts (Chinese, Japanese, Korean: about a token per character), so
 * the files read are also held to the context's tokens as lib/inference/tokens.ts counts them; one that does not fit
 * is skipped, its size given in characters at 3 per token so that the advice names a context that holds it.
 */
function withinTokens(
  set: FileSet,
  size: { readonly window: number; readonly maxTokens: number; readonly fixedChars: number },
): FileSet {
  const room = size.window - size.maxTokens - MARGIN_TOKENS - Math.ceil(size.fixedChars / CHARS_PER_TOKEN);
  const files: TextFile[] = [];
  const skipped: SkippedFile[] = [];
  let used = 0;
  for (const file of set.files) {
    const tokens = estimateTextTokens(file.text) + Math.ceil((file.path.length + 30) / CHARS_PER_TOKEN);
    if (used + tokens <= room) {
      files.push(file);
      used += tokens;
      continue;
    }
    skipped.push({
      path: file.path,
      reason: `~${tokens} tokens would pass the ${Math.max(0, room - used)} this model's context leaves`,
      chars: tokens * CHARS_PER_TOKEN,
    });
  }
  if (!skipped.length) return set;
  if (!files.length) {
    throw new InputError(
      `files: nothing fits this model's context: ${
        skipped.slice(0, 5).map((s) => `${s.path} (${s.reason})`).join(", ")
      }` +
        ". Load the model with a larger context_length (model_load), or lower max_tokens",
    );
  }
  return {
    ...set,
    files,
    skipped: [...set.skipped, ...skipped],
    chars: files.reduce((n, f) => n + f.chars, 0),
  };
}

/** Most characters of one file read for delegated work (a larger one is skipped, named with its size). */
export const MAX_FILE_CHARS = 2 * 1024 * 1024;
/** Most characters one delegated call reads in all (the per-call cap). */
export const MAX_CALL_CHARS = 4 * 1024 * 1024;

/**
 * Reads `files` for delegated work that packs them into as many requests as needed: nothing is skipped
 * for the model's context, only what cannot be read at all (binary, not UTF-8, over the per-file or
 * per-call cap, ignored, outside the allowed folders), each with its reason.
 *
 * @param patterns Paths, folders, globs
 * @param deps Home folder, allow-list
 * @param context Roots and cancellation
 * @returns The files
 * @throws {InputError} When a path is outside the roots, or nothing is readable
 */
export async function readAllFiles(
  patterns: readonly string[],
  deps: ToolDeps,
  context: ToolContext,
): Promise<ReadFiles> {
  context.progress.update(`Reading ${patterns.length === 1 ? patterns[0] : `${patterns.length} paths`}`);
  const scope = await fileScope(deps, context);
  const set = await gatherFiles(patterns, {
    base: scope.base,
    roots: scope.roots,
    hint: scope.hint,
    home: deps.config.home,
    maxFileChars: MAX_FILE_CHARS,
    maxTotalChars: MAX_CALL_CHARS,
    signal: context.signal,
  });
  for (const warning of set.warnings) deps.log.warn(`files: ${warning.path}: ${warning.message}`);
  return set;
}

/**
 * Names, for the files skipped for their size, the context length that would read them (a power of two,
 * bounded by the model's maximum): each one's, and one for all (all files in one prompt when they go
 * together, the largest file when each goes alone).
 */
function withAdvice(
  set: FileSet,
  size: { readonly maxTokens: number; readonly fixedChars: number },
  advice: FitAdvice,
  perFile: number,
): ReadFiles {
  const need = (chars: number) => tokensNeeded(size.fixedChars + chars, size.maxTokens);
  // Alone, a file only needs more context when it is larger than one request holds; together, the
  // files over the total need it too.
  const sized = set.skipped.filter((s) => s.chars !== undefined && (advice.together || s.chars > perFile));
  if (!sized.length) return set;
  const fits = new Map(sized.map((s) => [s, fittingContext(need(s.chars!), advice.max)]));
  const within = sized.filter((s) => fits.get(s) !== undefined);
  const all = advice.together
    ? fittingContext(need(set.chars + within.reduce((n, s) => n + s.chars!, 0)), advice.max)
    : Math.max(0, ...within.map((s) => fits.get(s)!));
  const contextLength = within.length && all ? all : null;
  const max = advice.max ?? null;
  const beyond = sized.length - within.length;
  const how = contextLength
    ? advice.how(contextLength)
    : `split ${sized.length === 1 ? "it" : "them"} or use a model with a larger context` +
      (max ? ` (this one holds at most ${max} tokens)` : "");
  return {
    ...set,
    skipped: set.skipped.map((s) => {
      const fit = fits.get(s);
      return fit === undefined ? s : { ...s, context_length: fit };
    }),
    include: {
      files: within.length,
      context_length: contextLength,
      max_context_length: max,
      beyond_max: beyond,
      how,
    },
  };
}

/**
 * The result's account of what was read.
 *
 * @param set The files
 * @returns For `structuredContent.files`
 */
export function filesReport(set: ReadFiles): FilesReport {
  return {
    read: set.files.map((f) => ({ path: f.path, chars: f.chars })),
    skipped: [
      ...set.skipped.map((s) => ({
        path: s.path,
        reason: s.reason,
        ...(s.context_length === undefined ? {} : { context_length: s.context_length }),
      })),
      ...set.warnings.map((w) => ({ path: w.path, reason: w.message })),
    ],
    chars: set.chars,
    estimated_tokens: estimateTokens(set.chars),
    ...(set.include ? { include: { ...set.include } } : {}),
  };
}

/**
 * One line for the text result.
 *
 * @param set The files
 * @returns e.g. `Read 3 files (12,345 characters, ~3,087 tokens); skipped 1: logo.png (binary).`
 */
export function filesLine(set: ReadFiles): string {
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
  const line = `Read ${n} file${n === 1 ? "" : "s"} (${set.chars.toLocaleString("en-US")} characters, ~${
    estimateTokens(set.chars).toLocaleString("en-US")
  } tokens)${skipped}.${warnings}`;
  const include = set.include;
  if (!include) return line;
  const total = include.files + include.beyond_max;
  const these = total === 1 ? "the file skipped for its size" : `the ${total} files skipped for their size`;
  if (include.context_length === null) return `${line} To read ${these}: ${include.how}.`;
  const beyond = include.beyond_max
    ? ` (${include.beyond_max} of them ${include.beyond_max === 1 ? "is" : "are"} too large even at the ` +
      `model's maximum of ${include.max_context_length}: split ${include.beyond_max === 1 ? "it" : "them"})`
    : "";
  return `${line} To read ${these}${beyond}: ${include.how}.`;
}
