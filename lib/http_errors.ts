/**
 * The one mapping from LM Studio's error replies to our typed errors.
 *
 * LM Studio has three error envelopes (native `{error:{type,message,code,param}}`, OpenAI
 * `{error:{message,type,code,param}}`, and old builds' `{error:"text"}`), and the HTTP status of a
 * given error type is not documented, so we branch on the body first and the status second.
 *
 * @module
 */
import {
  AuthError,
  ContextOverflowError,
  HttpStatusError,
  type LmStudioError,
  ModelNotFoundError,
} from "./errors.ts";

/** What we know about LM Studio's error body, whatever its envelope. */
export interface ErrorBody {
  /** The human message. */
  readonly message: string;
  /** `error.type`, when present. */
  readonly type?: string | undefined;
  /** `error.code`, when present. */
  readonly code?: string | undefined;
  /** `error.param`, when present. */
  readonly param?: string | undefined;
}

/** What the caller was doing, so the error can name it. */
export interface ErrorContext {
  /** Whether an API key was sent. */
  readonly hadKey: boolean;
  /** The model the request named, if any. */
  readonly model?: string | undefined;
  /** Builds the error for a "not found" reply that is not about a model (e.g. a download job). */
  readonly notFound?: ((body: ErrorBody) => LmStudioError) | undefined;
}

// GGUF (llama.cpp): "…greater than the context length…" (older: "…when context the overflows…");
// MLX, and parallel predictions that together outgrow the shared KV cache: "Context size has been
// exceeded." (lmstudio-bug-tracker#1757, #2339); current servers on /v1/chat/completions: "Input does not
// fit in context length. The input has N tokens, but the context length only supports M tokens." (#2322).
const CONTEXT_OVERFLOW =
  /greater than the context length|context the overflows|context overflow|context size has been exceeded|does not fit in (the )?context|exceeds? (the )?(loaded )?context|context window/i;
const NO_MODELS_LOADED = /no models loaded|not loaded/i;

/**
 * Extracts LM Studio's error object from a reply body of any envelope.
 *
 * @param text The raw body
 * @returns The error, or undefined when the body holds none
 * @example
 * ```ts
 * import { readErrorBody } from "./http_errors.ts";
 * readErrorBody('{"error":"Unexpected endpoint or method. (GET /x)"}')?.message;
 * // "Unexpected endpoint or method. (GET /x)"
 * ```
 */
export function readErrorBody(text: string): ErrorBody | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined; // Not JSON: the caller falls back to the raw text.
  }
  return errorBodyOf(json);
}

/**
 * Extracts LM Studio's error object from an already parsed body or stream chunk.
 *
 * @param json The parsed JSON
 * @returns The error, or undefined when it holds none
 */
export function errorBodyOf(json: unknown): ErrorBody | undefined {
  if (!isRecord(json)) return undefined;
  const error = json.error;
  if (typeof error === "string") return { message: error };
  if (isRecord(error)) {
    return {
      message: str(error.message) ?? str(json.message) ?? JSON.stringify(error),
      type: str(error.type),
      code: str(error.code),
      param: str(error.param),
    };
  }
  return undefined;
}

/**
 * Maps an HTTP error reply to a typed error.
 *
 * @param status The HTTP status
 * @param text The raw body (may be empty or not JSON)
 * @param context What the caller was doing
 * @returns The error to throw
 * @example
 * ```ts
 * import { errorFromReply } from "./http_errors.ts";
 * errorFromReply(401, "", { hadKey: false }).name; // "AuthError"
 * ```
 */
export function errorFromReply(status: number, text: string, context: ErrorContext): LmStudioError {
  const body = readErrorBody(text) ??
    { message: text.trim().slice(0, 500) || `empty reply with status ${status}` };
  return errorFromBody(status, body, context);
}

/**
 * Maps an error object (from a reply body or an in-stream `error` event) to a typed error.
 *
 * @param status The HTTP status, or 200 for an in-stream error
 * @param body The parsed error object
 * @param context What the caller was doing
 * @returns The error to throw
 */
export function errorFromBody(status: number, body: ErrorBody, context: ErrorContext): LmStudioError {
  if (status === 401 || status === 403 || body.code === "invalid_api_key") {
    return new AuthError(context.hadKey, body.message);
  }
  if (CONTEXT_OVERFLOW.test(body.message)) {
    return new ContextOverflowError(
      `The prompt does not fit the model's loaded context (LM Studio: ${body.message}). Shorten the ` +
        `input, or reload the model with a larger context: model_load with context_length`,
      body.message,
    );
  }
  const modelMissing = body.type === "model_not_found" || body.code === "model_not_found" ||
    NO_MODELS_LOADED.test(body.message);
  const notFound = status === 404 || modelMissing || body.type === "job_not_found";
  if (notFound && context.notFound) return context.notFound(body);
  if (modelMissing && context.model !== undefined) {
    const notLoaded = NO_MODELS_LOADED.test(body.message);
    const said = `LM Studio said: ${body.message.replace(/[.\s]+$/, "")}. `;
    return new ModelNotFoundError(
      context.model,
      said +
        (notLoaded
          ? "Load it with model_load (model_list shows what is downloaded and loaded)"
          : "Call model_list to see what is downloaded and loaded, then model_load to load it (or " +
            "model_download to fetch it)"),
      notLoaded,
    );
  }
  if (notFound && context.model !== undefined) return new ModelNotFoundError(context.model);
  return new HttpStatusError(status, body.message, body.type);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}
