/**
 * The one mapping from LM Studio's error replies to our typed errors.
 *
 * LM Studio has three error envelopes (native `{error:{type,message,code,param}}`, OpenAI
 * `{error:{message,type,code,param}}`, and old builds' `{error:"text"}`), and the HTTP status of a
 * given error type is not documented, so we branch on the body first and the status second.
 *
 * Before that, {@linkcode notLmStudio} asks whether the reply came from LM Studio at all: another program at
 * `LM_STUDIO_URL` (a web app, another model server, a proxy's error page) is named as such, with what
 * answered and what LM Studio would have sent, instead of being reported as LM Studio's own error.
 *
 * @module
 */
import {
  AuthError,
  ContextOverflowError,
  HttpStatusError,
  LmStudioError,
  ModelNotFoundError,
} from "../errors.ts";

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

/** A reply as it came, for {@linkcode notLmStudio}. */
export interface ReplySeen {
  /** The HTTP status. */
  readonly status: number;
  /** The `content-type` header, or "" when there was none. */
  readonly contentType: string;
  /** The body as read (bounded by the caller). */
  readonly text: string;
}

/** The request a reply answered, for {@linkcode notLmStudio}. */
export interface RequestSeen {
  /** `LM_STUDIO_URL`, normalised. */
  readonly baseUrl: string;
  /** `GET` or `POST`. */
  readonly method: string;
  /** The path under the base URL (`/api/v1/models`). */
  readonly path: string;
  /**
   * Whether the request names something that may not exist (a model, a download job), so that a 404 can be
   * LM Studio's "not found". A request that names nothing (the model lists) is a route every LM Studio has.
   */
  readonly namesSomething: boolean;
}

/**
 * The server at `LM_STUDIO_URL` answered, but not the way LM Studio answers: it is another program (or a
 * proxy's own error page). The message says what answered, what LM Studio would have sent, and what to do.
 */
export class NotLmStudioError extends LmStudioError {
  /** The address that answered (`LM_STUDIO_URL`). */
  readonly baseUrl: string;
  /** The request, as `GET /api/v1/models`. */
  readonly request: string;
  /** What answered, as `HTTP 404 (text/html): "<!DOCTYPE html>…"`. */
  readonly answered: string;
  /** Why the reply is not LM Studio's. */
  readonly reason: string;
  /**
   * Creates the error.
   *
   * @param baseUrl The address that answered
   * @param request The request, as `GET /api/v1/models`
   * @param answered What came back: status, content type and the start of the body
   * @param reason Why that is not LM Studio's reply
   */
  constructor(baseUrl: string, request: string, answered: string, reason: string) {
    super(
      `The server at ${baseUrl} does not look like LM Studio: ${request} got ${answered}, but ${reason}. ` +
        `Point LM_STUDIO_URL at LM Studio's server (the address its Developer tab shows; ` +
        `http://localhost:1234 unless you changed the port); if a proxy sits in front of LM Studio, this is ` +
        `the proxy's answer`,
    );
    this.baseUrl = baseUrl;
    this.request = request;
    this.answered = answered;
    this.reason = reason;
  }
}

/** The most of a foreign body an error quotes. */
const QUOTE_CHARS = 160;

/**
 * Whether a reply shows that something other than LM Studio answered. LM Studio answers every request with
 * JSON, its errors inside an `error` key, and an unknown route or method with HTTP 200 and
 * `{"error":"Unexpected endpoint or method. …"}` (never 404 or 405); its only 404s are about a named model or
 * download job. So a web page, a 404 or 405 that is not JSON, a JSON error without `error`, or a 404 for a
 * route every LM Studio has is another program.
 *
 * @param reply The reply as it came
 * @param request The request it answered
 * @returns The error to throw, or undefined when the reply may well be LM Studio's
 * @example
 * ```ts
 * import { notLmStudio } from "./http_errors.ts";
 * const error = notLmStudio(
 *   { status: 404, contentType: "text/html", text: "<!DOCTYPE html><p>Cannot GET /api/v1/models</p>" },
 *   { baseUrl: "http://localhost:3000", method: "GET", path: "/api/v1/models", namesSomething: false },
 * );
 * error?.message.startsWith("The server at http://localhost:3000 does not look like LM Studio"); // true
 * ```
 */
export function notLmStudio(reply: ReplySeen, request: RequestSeen): NotLmStudioError | undefined {
  const { status, contentType, text } = reply;
  let json: unknown;
  let isJson = true;
  try {
    json = JSON.parse(text);
  } catch {
    isJson = false;
  }
  const reason = foreignReason(status, text, isJson, json, request);
  if (reason === undefined) return undefined;
  const body = text.trim().replace(/\s+/g, " ");
  const quoted = body === ""
    ? "an empty body"
    : JSON.stringify(body.length > QUOTE_CHARS ? `${body.slice(0, QUOTE_CHARS)}…` : body);
  const answered = `HTTP ${status} (${contentType.split(";")[0]!.trim() || "no content type"}): ${quoted}`;
  return new NotLmStudioError(request.baseUrl, `${request.method} ${request.path}`, answered, reason);
}

function foreignReason(
  status: number,
  text: string,
  isJson: boolean,
  json: unknown,
  request: RequestSeen,
): string | undefined {
  if (/^\s*(<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])/i.test(text)) {
    return "that is a web page, and LM Studio answers with JSON";
  }
  if (status === 405 || status === 501) {
    return `LM Studio answers every method and route it does not serve with HTTP 200 and an "Unexpected ` +
      `endpoint or method" error`;
  }
  if (status === 404 && !isJson) return "LM Studio's 404 replies are JSON errors";
  if (status >= 400 && isJson && !(isRecord(json) && "error" in json)) {
    return 'LM Studio puts its errors in an "error" key';
  }
  if (status === 404 && !request.namesSomething) {
    return `every LM Studio serves ${request.method} ${request.path} (an older LM Studio answers it with ` +
      `HTTP 200 "Unexpected endpoint or method")`;
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}
