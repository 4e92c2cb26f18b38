/**
 * The one HTTP path to LM Studio: auth header, timeouts, cancellation, size caps and error mapping.
 *
 * Every request combines the caller's `AbortSignal` (an MCP cancellation) with its own deadline, so
 * aborting either stops LM Studio's work at once. Streams are read with Web Streams:
 * `body → eventStream` (lib/lmstudio/sse.ts: decoding, lines and fields in one pass, bounded), with an idle
 * watchdog on the raw bytes.
 *
 * Over 350 lines on purpose: every request to LM Studio goes through this one client (origin check, timeouts,
 * redirects, error mapping), and those rules must not drift apart.
 *
 * @module
 */
import {
  CancelledError,
  ConfigError,
  LmStudioError,
  ProtocolError,
  StreamError,
  TimeoutError,
  TooLargeError,
  UnreachableError,
} from "../errors.ts";
import { type ErrorBody, errorFromReply, notLmStudio, readErrorBody } from "./http_errors.ts";
import { type EventSourceMessage, eventStream } from "./sse.ts";

export type { EventSourceMessage };

/** Options of {@linkcode HttpClient}. */
export interface HttpClientOptions {
  /** LM Studio's base URL, already normalised. */
  readonly baseUrl: string;
  /** Bearer token, sent only when set. */
  readonly apiKey?: string | undefined;
  /** The fetch to use. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Largest reply body we buffer, in bytes. @default 16 MiB */
  readonly maxBodyBytes?: number;
}

/** Per-request options. */
export interface RequestOptions {
  /** HTTP method. @default "GET" */
  readonly method?: "GET" | "POST";
  /** JSON body. */
  readonly body?: unknown;
  /** What the request does, for error messages ("Loading qwen/qwen3-8b"). */
  readonly what: string;
  /** Deadline of the whole request. */
  readonly timeoutMs: number;
  /** The variable that raises `timeoutMs`. */
  readonly timeoutVariable: string;
  /** The caller's cancellation. */
  readonly signal?: AbortSignal | undefined;
  /** The model the request names, for "not found" errors. */
  readonly model?: string | undefined;
  /** Builds the error for a "not found" that is not about a model. */
  readonly notFound?: ((body: ErrorBody) => LmStudioError) | undefined;
  /**
   * When set, LM Studio may keep the request waiting this long before it starts on it (it queues requests
   * beyond a model's parallel slots), and `timeoutMs` counts from when it starts: the reply's headers,
   * or for a stream the first event that shows work.
   */
  readonly queueMs?: number | undefined;
}

/** Options of a streamed request. */
export interface StreamOptions extends RequestOptions {
  /** Longest silence between two chunks. */
  readonly idleMs: number;
  /** The variable that raises `idleMs`. */
  readonly idleVariable: string;
  /** With `queueMs`: whether an event shows that LM Studio started on the request. @default any event */
  readonly startsWork?: ((event: EventSourceMessage) => boolean) | undefined;
}

const DEFAULT_MAX_BODY = 16 * 1024 * 1024;

/** Thin JSON and SSE client over `fetch` for LM Studio. */
export class HttpClient {
  /** The base URL requests go to. */
  readonly baseUrl: string;
  #apiKey: string | undefined;
  /** The only origin this client talks to: LM_STUDIO_URL's. */
  readonly #origin: string;
  #fetch: typeof fetch;
  #maxBody: number;

  /**
   * Creates the instance.
   *
   * @param options Base URL, key and fetch
   */
  constructor(options: HttpClientOptions) {
    this.baseUrl = options.baseUrl;
    this.#origin = new URL(options.baseUrl).origin;
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  }

  /**
   * Sends a request and returns the parsed JSON reply.
   *
   * @param path Path under the base URL, e.g. `/api/v1/models`
   * @param options Method, body, timeout and cancellation
   * @returns The parsed body
   * @throws {UnreachableError} {AuthError} {ModelNotFoundError} {HttpStatusError} {TimeoutError}
   *   {TooLargeError} {ProtocolError}
   */
  async json(path: string, options: RequestOptions): Promise<unknown> {
    const deadline = startDeadline(options);
    let received = false;
    try {
      const response = await this.#send(path, options, deadline.signal);
      received = true;
      deadline.begin();
      const text = await readLimited(response, this.#maxBody, options.what);
      if (!response.ok) throw this.#replyError(response, text, options, path);
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (cause) {
        throw this.#foreign(response, text, options, path) ?? new ProtocolError(
          `${options.what}: LM Studio's reply is not JSON (${text.slice(0, 120) || "empty body"}). ` +
            `Check that LM_STUDIO_URL points at LM Studio`,
          { cause },
        );
      }
      throwIfRoutingError(json, options, path);
      return json;
    } catch (error) {
      throw translate(error, deadline, options, this.baseUrl, received);
    } finally {
      deadline.clear();
    }
  }

  /**
   * Sends a request and yields its Server-Sent Events as they arrive.
   *
   * Stopping the iteration early aborts the HTTP request.
   *
   * @param path Path under the base URL
   * @param options As {@linkcode HttpClient.json}, plus the idle bound
   * @returns The events, in order
   * @throws {StreamError} When the connection drops mid-stream; plus the errors of `json`
   */
  async *sse(path: string, options: StreamOptions): AsyncGenerator<EventSourceMessage> {
    const deadline = startDeadline(options);
    const idle = new AbortController();
    const finished = new AbortController();
    // One timer for the idle bound, not one per chunk: each chunk only records its time, and the timer
    // re-arms itself for what is left when it finds the stream was not quiet for the whole bound.
    let lastChunkAt = performance.now();
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    const watch = () => {
      const quiet = performance.now() - lastChunkAt;
      if (quiet >= options.idleMs) {
        idle.abort(
          new TimeoutError(
            `${options.what}: waiting for the next part of the stream`,
            options.idleMs,
            options.idleVariable,
          ),
        );
      } else idleTimer = setTimeout(watch, options.idleMs - quiet);
    };
    // A request LM Studio has queued (queueMs) is silent by design: the idle bound starts with the work.
    let working = options.queueMs === undefined;
    const arm = () => {
      if (!working) return;
      lastChunkAt = performance.now();
      idleTimer ??= setTimeout(watch, options.idleMs);
    };
    const signal = AbortSignal.any([deadline.signal, idle.signal, finished.signal]);
    let received = false;
    try {
      arm();
      const response = await this.#send(path, options, signal);
      received = true;
      if (!response.ok) {
        throw this.#replyError(
          response,
          await readLimited(response, this.#maxBody, options.what),
          options,
          path,
        );
      }
      const type = response.headers.get("content-type") ?? "";
      let events: ReadableStream<EventSourceMessage>;
      if (type.includes("text/event-stream")) {
        events = eventStream(response.body ?? new Response("").body!, {
          onChunk: arm,
          maxBytes: this.#maxBody,
          tooLarge: () => tooLarge(options.what, this.#maxBody),
        });
      } else {
        // Not labelled as a stream: an error body, or events sent with the wrong content type.
        const text = await readLimited(response, this.#maxBody, options.what);
        if (readErrorBody(text)) throw this.#replyError(response, text, options, path);
        if (!/^\s*(event|data|id|retry)?:/.test(text)) {
          throw this.#foreign(response, text, options, path) ?? new ProtocolError(
            `${options.what}: LM Studio answered with ${type || "no content type"} instead of a stream`,
          );
        }
        events = eventStream(new Response(text).body!);
      }
      const reader = events.getReader();
      try {
        while (true) {
          const { done, value } = await reader.read();
          if (done) return;
          if (!working && (options.startsWork?.(value) ?? true)) {
            working = true;
            deadline.begin();
            arm();
          }
          yield value;
        }
      } finally {
        reader.releaseLock();
      }
    } catch (error) {
      if (idle.signal.aborted) throw idle.signal.reason;
      throw translate(error, deadline, options, this.baseUrl, received);
    } finally {
      clearTimeout(idleTimer);
      deadline.clear();
      finished.abort(); // Releases the connection when the consumer stopped early.
    }
  }

  async #send(path: string, options: RequestOptions, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json, text/event-stream" };
    if (this.#apiKey) headers.authorization = `Bearer ${this.#apiKey}`;
    let body: string | null = null;
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    // The network permission of the release binary is wide (LM Studio may be on another machine), so the
    // boundary is here: requests go to LM_STUDIO_URL's origin and nowhere else, whatever the path holds.
    const url = new URL(this.baseUrl + path);
    if (url.origin !== this.#origin) {
      throw new ProtocolError(
        `${options.what}: refused to send a request to ${url.origin}; this server only talks to LM Studio at ` +
          `${this.#origin} (LM_STUDIO_URL)`,
      );
    }
    // Redirects are never followed: LM Studio does not send them, and following one could carry the
    // prompt and the API key to another host.
    const response = await this.#fetch(url, {
      method: options.method ?? "GET",
      headers,
      body,
      signal,
      redirect: "manual",
    });
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel();
      const location = response.headers.get("location") ?? "(no location)";
      throw new ProtocolError(
        `${options.what}: the server at ${this.baseUrl} answered with a redirect (HTTP ${response.status} to ` +
          `${location.slice(0, 200)}), which is not followed. Set LM_STUDIO_URL to LM Studio's own address`,
      );
    }
    return response;
  }

  /** The error for a reply that another program sent, when it does not look like LM Studio's. */
  #foreign(
    response: Response,
    text: string,
    options: RequestOptions,
    path: string,
  ): LmStudioError | undefined {
    return notLmStudio(
      { status: response.status, contentType: response.headers.get("content-type") ?? "", text },
      {
        baseUrl: this.baseUrl,
        method: options.method ?? "GET",
        path,
        namesSomething: options.model !== undefined || options.notFound !== undefined,
      },
    );
  }

  #replyError(response: Response, text: string, options: RequestOptions, path: string): LmStudioError {
    return this.#foreign(response, text, options, path) ?? errorFromReply(response.status, text, {
      hadKey: this.#apiKey !== undefined,
      model: options.model,
      notFound: options.notFound,
    });
  }
}

interface Deadline {
  readonly signal: AbortSignal;
  readonly timedOut: AbortSignal;
  /** LM Studio started on the request: the wait in its queue ends and `timeoutMs` starts (once). */
  begin(): void;
  clear(): void;
}

function startDeadline(options: RequestOptions): Deadline {
  const timeout = new AbortController();
  const expire = (error: TimeoutError) => () => timeout.abort(error);
  const whole = () =>
    setTimeout(
      expire(new TimeoutError(options.what, options.timeoutMs, options.timeoutVariable)),
      options.timeoutMs,
    );
  let queued = options.queueMs !== undefined;
  let timer = queued
    ? setTimeout(
      expire(
        new TimeoutError(
          `${options.what}: waiting for LM Studio to start it (it queues requests beyond the model's parallel slots)`,
          options.queueMs!,
          options.timeoutVariable,
        ),
      ),
      options.queueMs,
    )
    : whole();
  const signal = options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal;
  return {
    signal,
    timedOut: timeout.signal,
    begin: () => {
      if (!queued || timeout.signal.aborted) return;
      queued = false;
      clearTimeout(timer);
      timer = whole();
    },
    clear: () => clearTimeout(timer),
  };
}

function translate(
  error: unknown,
  deadline: Deadline,
  options: RequestOptions,
  baseUrl: string,
  afterResponse: boolean,
): unknown {
  if (deadline.timedOut.aborted) return deadline.timedOut.reason;
  if (options.signal?.aborted) return new CancelledError();
  if (error instanceof LmStudioError) return error;
  if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
    const host = new URL(baseUrl).host;
    return new ConfigError(
      `This server may not connect to ${host}: Deno's network permission does not include it. ` +
        `Start it with --allow-net=${host} (see the README, "Permissions")`,
      { cause: error },
    );
  }
  if (afterResponse && error instanceof Error) {
    return new StreamError(
      `${options.what}: the connection to LM Studio dropped while reading its reply (${error.message}). ` +
        `Check LM Studio's server log; the model may have crashed or been unloaded`,
      { cause: error },
    );
  }
  if (error instanceof TypeError) {
    return new UnreachableError(baseUrl, { cause: error });
  }
  return error;
}

function throwIfRoutingError(json: unknown, options: RequestOptions, path: string): void {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return;
  const error = (json as Record<string, unknown>).error;
  if (typeof error === "string" && /unexpected endpoint/i.test(error)) {
    throw new ProtocolError(
      `${options.what}: LM Studio does not know ${options.method ?? "GET"} ${path} ("${error}"). ` +
        `This API needs LM Studio 0.4.0 or newer: update LM Studio`,
    );
  }
  if (error !== undefined && error !== null) {
    throw errorFromReply(200, JSON.stringify(json), { hadKey: false, model: options.model });
  }
}

async function readLimited(response: Response, max: number, what: string): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > max) {
    await response.body?.cancel();
    throw tooLarge(what, max);
  }
  if (!response.body) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body) {
    total += chunk.byteLength;
    if (total > max) throw tooLarge(what, max);
    chunks.push(chunk);
  }
  const all = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(all);
}

function tooLarge(what: string, max: number): TooLargeError {
  return new TooLargeError(
    `${what}: LM Studio's reply is larger than ${Math.round(max / 1048576)} MiB; ` +
      `ask for less (a lower max_tokens, fewer inputs)`,
  );
}
