/**
 * Typed errors for everything that can go wrong between us and LM Studio.
 *
 * Every message is written for the person (or model) reading the tool result: what failed, why, and
 * what to do next. The tools layer maps these to MCP `isError` results in exactly one place.
 *
 * @module
 */
import { classifyNetFailure, type NetFailureKind } from "./lmstudio/net_failure.ts";

/** Base class of every expected failure; its message is safe to show to the user. */
export class LmStudioError extends Error {
  /**
   * Creates the error.
   *
   * @param message What failed, why, and what to do
   * @param options The underlying cause, if any
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** LM Studio's server could not be reached, or dropped the connection before replying. */
export class UnreachableError extends LmStudioError {
  /** The base URL we tried. */
  readonly url: string;
  /** Why: refused (not running), reset (running, but it closed the connection), blocked (a port fetch never uses), timeout, dns, … */
  readonly kind: NetFailureKind;
  /**
   * Creates the error.
   *
   * @param url The base URL that could not be reached
   * @param options The network error
   */
  constructor(url: string, options?: ErrorOptions) {
    const { kind, reason } = classifyNetFailure(options?.cause);
    super(unreachableMessage(url, kind, reason), options);
    this.url = url;
    this.kind = kind;
  }
}

function unreachableMessage(url: string, kind: NetFailureKind, reason: string): string {
  switch (kind) {
    case "reset":
      return `LM Studio at ${url} accepted the connection but closed it before replying (${reason}). ` +
        `Something is listening there: check LM Studio's server log (Developer tab) for a crash or a ` +
        `refused request, then try again; if another program owns that port, set LM_STUDIO_URL to LM Studio's`;
    case "dns":
      return `LM Studio is not reachable at ${url} (${reason}). Check the host name in LM_STUDIO_URL`;
    case "blocked":
      return `LM Studio cannot be reached at ${url}: ${reason} (the Fetch standard blocks it), so no ` +
        `request was sent. Set LM_STUDIO_URL to the port LM Studio listens on: 1234 unless you changed it ` +
        `(LM Studio → Developer tab → Server Settings)`;
    case "timeout":
      return `LM Studio is not reachable at ${url} (${reason}). Check that the machine is up and that ` +
        `LM Studio serves on the network ("Serve on Local Network") and no firewall blocks the port`;
    default:
      return `LM Studio is not reachable at ${url} (${reason}) — start the local server (Developer tab → ` +
        `Start Server, or \`lms server start\`) or set LM_STUDIO_URL to where it listens`;
  }
}

/** LM Studio asked for an API token, or rejected the one we sent. */
export class AuthError extends LmStudioError {
  /**
   * Creates the error.
   *
   * @param hadKey Whether LM_STUDIO_API_KEY was set
   * @param detail LM Studio's own message
   */
  constructor(hadKey: boolean, detail: string) {
    super(
      hadKey
        ? `LM Studio rejected the API token in LM_STUDIO_API_KEY (${detail}). Create a new token in ` +
          `LM Studio (Developer → Server Settings → Manage Tokens) and update LM_STUDIO_API_KEY`
        : `LM Studio requires an API token (${detail}). Create one in LM Studio (Developer → Server ` +
          `Settings → Manage Tokens) and set LM_STUDIO_API_KEY, or turn off "Require Authentication"`,
    );
  }
}

/** An HTTP error from LM Studio that has no more specific class. */
export class HttpStatusError extends LmStudioError {
  /** The HTTP status code. */
  readonly status: number;
  /** LM Studio's error type (`invalid_request`, `internal_error`, …), when it gave one. */
  readonly type: string | undefined;
  /**
   * Creates the error.
   *
   * @param status HTTP status
   * @param detail LM Studio's message
   * @param type LM Studio's error type
   */
  constructor(status: number, detail: string, type?: string) {
    super(`LM Studio answered HTTP ${status}: ${detail}`);
    this.status = status;
    this.type = type;
  }
}

/** The named model (or instance, or download job) does not exist or is not loaded. */
export class ModelNotFoundError extends LmStudioError {
  /** The model key or instance id as the caller gave it. */
  readonly model: string;
  /**
   * Creates the error.
   *
   * @param model The model name the caller used
   * @param hint What to do (defaults to suggesting `model_list`)
   * @param notLoaded LM Studio knows the model but it is not loaded (and JIT loading is off or failed)
   */
  constructor(model: string, hint?: string, notLoaded = false) {
    super(
      `Model "${model}" ${notLoaded ? "is not loaded in LM Studio" : "was not found in LM Studio"}. ${
        hint ?? "Call model_list to see the exact keys, then model_load to load one"
      }`,
    );
    this.model = model;
  }
}

/** A bounded wait ran out. The message names the variable that raises the bound. */
export class TimeoutError extends LmStudioError {
  /** The configuration variable that controls this bound. */
  readonly variable: string;
  /**
   * Creates the error.
   *
   * @param what What was being waited for
   * @param ms The bound in milliseconds
   * @param variable The environment variable that raises it
   */
  constructor(what: string, ms: number, variable: string) {
    super(`${what} timed out after ${ms} ms — raise ${variable} if this is expected`);
    this.variable = variable;
  }
}

/** A reply was larger than we are willing to buffer. */
export class TooLargeError extends LmStudioError {}

/** A streamed reply broke: dropped connection, `error` event, malformed data or missing end. */
export class StreamError extends LmStudioError {}

/** The prompt (or history) does not fit the model's loaded context. */
export class ContextOverflowError extends LmStudioError {
  /** LM Studio's own words, or what we observed. */
  readonly detail: string;

  /**
   * Creates the error.
   *
   * @param message The full message for the user
   * @param detail LM Studio's own words, or what we observed
   */
  constructor(message: string, detail: string) {
    super(message);
    this.detail = detail;
  }
}

/** LM Studio answered, but not as the API contract says (old version, wrong route, bad JSON). */
export class ProtocolError extends LmStudioError {}

/** The caller's input is invalid in a way the schema could not express. */
export class InputError extends LmStudioError {}

/** The chat history store could not be opened or written. */
export class SessionStoreError extends LmStudioError {}

/** The configuration cannot be used (for example a malformed LM_STUDIO_URL). */
export class ConfigError extends LmStudioError {}

/**
 * The model produced no answer text (only reasoning, only tool calls, or nothing). Carries the
 * reasoning so the result can still show what the model thought.
 */
export class EmptyAnswerError extends LmStudioError {
  /** The reasoning the model produced instead of an answer, if any. */
  readonly reasoning: string | null;
  /**
   * Creates the error.
   *
   * @param message What happened and what to do
   * @param reasoning The reasoning, if any
   */
  constructor(message: string, reasoning: string | null) {
    super(message);
    this.reasoning = reasoning;
  }
}

/** Raised through an abort when the client cancels; never shown, since the SDK drops the reply. */
export class CancelledError extends LmStudioError {
  constructor() {
    super("The request was cancelled by the client");
  }
}
