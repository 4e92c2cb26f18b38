/**
 * MCP over stdio that answers every request, whatever arrives.
 *
 * The SDK's stdio transport closes itself, silently, on a line over 10 MiB (the server then exits 0),
 * copies the buffer on every chunk (quadratic in a line's size), and answers neither invalid JSON nor a
 * batch. This one frames lines in linear time ({@linkcode LineFramer}), answers an oversized line
 * (-32600, with its id when it has one) and invalid JSON (-32700), serves JSON-RPC batches on 2025-era
 * connections (one array of replies; see stdio_batch.ts) and refuses them otherwise (-32600), drops
 * `__proto__` keys before anything reads the message, and logs transport errors and the close on
 * stderr. Messages that parse go to the guard of `transports/guard.ts`, which checks their shape for every
 * transport.
 *
 * The connection keeps the era of its first request: `initialize` makes it 2025, a request with the
 * 2026-07-28 envelope (`server/discover` usually) makes it 2026-07-28 for good. On a 2026-07-28
 * connection a request without the envelope gets -32602 naming the keys it needs (never a 2025 answer
 * without `initialize`), and an `initialize` is refused. Before the era is set, only `initialize` and
 * `ping` may come without the envelope; a request whose `_meta` spells the envelope's keys wrong, or a
 * 2026-only method without it, gets the same -32602. An envelope naming another revision gets -32022
 * listing every revision served.
 *
 * @module
 */
import { LineFramer } from "../lib/line_framer.ts";
import { guarded, type Id, validId } from "./guard.ts";
import {
  asRequest,
  claimsEnvelope,
  type EnvelopeError,
  hasValidEnvelope,
  missingEnvelope,
  unsupportedRevision,
} from "./envelope.ts";
import { BatchReplies, type ErrorReply, MAX_BATCH_MESSAGES, MAX_PENDING_BATCHES } from "./stdio_batch.ts";
import type { Logger } from "../lib/config/logger.ts";
import {
  type JSONRPCMessage,
  ProtocolErrorCode as ErrorCode,
  serveStdio,
  type Transport,
} from "../server/sdk.ts";
import { MAX_MESSAGE_BYTES } from "./limits.ts";
import type { ServerFactory } from "../server/build_server.ts";

/** Options of {@linkcode StdioTransport}. */
export interface StdioTransportOptions {
  /** Where requests come from. @default Deno.stdin.readable */
  readonly input?: ReadableStream<Uint8Array>;
  /** Where replies go. @default Deno.stdout.writable */
  readonly output?: WritableStream<Uint8Array>;
  /** Transport errors and the close. */
  readonly log: Logger;
  /** Largest accepted message in bytes. @default MAX_MESSAGE_BYTES */
  readonly maxMessageBytes?: number;
}

/** A newline-delimited JSON-RPC transport on stdin/stdout. */
export class StdioTransport implements Transport {
  /** Set by the SDK. */
  onclose?: (() => void) | undefined;
  /** Set by the SDK. */
  onerror?: ((error: Error) => void) | undefined;
  /** Set by the SDK. */
  onmessage?: ((message: JSONRPCMessage) => void) | undefined;
  readonly #input: ReadableStream<Uint8Array>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #log: Logger;
  readonly #framer: LineFramer;
  readonly #decoder = new TextDecoder();
  readonly #encoder = new TextEncoder();
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #writes: Promise<void> = Promise.resolve();
  #closed = false;
  /** The connection's era, from its first message: `initialize` (2025) or the 2026-07-28 envelope. */
  #era: "legacy" | "modern" | undefined;
  readonly #batches = new BatchReplies((replies) => this.#writeLine(replies));

  /**
   * Creates the instance.
   *
   * @param options Streams, logger and the size bound
   */
  constructor(options: StdioTransportOptions) {
    this.#input = options.input ?? Deno.stdin.readable;
    this.#writer = (options.output ?? Deno.stdout.writable).getWriter();
    this.#log = options.log;
    this.#framer = new LineFramer(options.maxMessageBytes ?? MAX_MESSAGE_BYTES);
  }

  /** Starts reading; resolves at once, reading goes on in the background. */
  start(): Promise<void> {
    this.#reader = this.#input.getReader();
    void this.#readLoop();
    return Promise.resolve();
  }

  /**
   * Writes one message as a line. Writes are kept in order.
   *
   * @param message The JSON-RPC message
   */
  send(message: JSONRPCMessage): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return this.#batches.take(message) || this.#writeLine(message);
  }

  #writeLine(message: unknown): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const bytes = this.#encoder.encode(JSON.stringify(message) + "\n");
    this.#writes = this.#writes.then(() => this.#writer.write(bytes)).catch((error) => {
      this.#log.warn(
        `Could not write to stdout (${error instanceof Error ? error.message : error}); closing`,
      );
      void this.close();
    });
    return this.#writes;
  }

  /** Stops reading and tells the SDK. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#reader?.cancel();
    } catch {
      // Already released or errored: nothing left to cancel.
    }
    this.onclose?.();
  }

  async #readLoop(): Promise<void> {
    const reader = this.#reader!;
    try {
      while (!this.#closed) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const line of this.#framer.push(value)) {
          if (line.kind === "oversized") this.#oversized(line.head, line.size);
          else this.#line(line.bytes);
        }
      }
      if (!this.#closed) this.#log.info("stdin closed by the client; shutting down");
    } catch (error) {
      if (!this.#closed) {
        this.#log.warn(`Reading stdin failed: ${error instanceof Error ? error.message : error}`);
        this.onerror?.(error instanceof Error ? error : new Error(String(error)));
      }
    }
    await this.close();
  }

  #line(bytes: Uint8Array): void {
    const text = this.#decoder.decode(bytes).replace(/\r$/, "");
    if (!text.trim()) return;
    let value: unknown;
    try {
      // The reviver drops every "__proto__" key, which would otherwise reach the schemas as an own
      // property and stall the request.
      // (A reviver slows every parse down, so it runs only when the text could hold such a key: it
      // names "proto" or uses a \u escape, which could spell it.)
      value = text.includes("proto") || text.includes("\\u")
        ? JSON.parse(text, (key, v) => (key === "__proto__" ? undefined : v))
        : JSON.parse(text);
    } catch (error) {
      this.#reply(
        null,
        ErrorCode.ParseError,
        `Parse error: ${error instanceof Error ? error.message : error}`,
      );
      return;
    }
    this.#dispatch(value);
  }

  #dispatch(value: unknown): void {
    if (Array.isArray(value)) {
      this.#batch(value);
      return;
    }
    const refusal = this.#eraRefusal(value);
    if (refusal) {
      this.#reply(refusal.id, refusal.error.code, refusal.error.message, refusal.error.data);
      return;
    }
    this.#noteEra(value);
    const record = value as { method?: unknown; params?: { requestId?: unknown } } | null;
    if (record?.method === "notifications/cancelled") this.#batches.cancelled(record.params?.requestId);
    // Shape checks, with their JSON-RPC errors, are the guard's (transports/guard.ts), for every transport.
    try {
      this.onmessage?.(value as JSONRPCMessage);
    } catch (error) {
      this.#log.error("A message handler threw", error);
    }
  }

  /** The error a request gets instead of reaching the server, for the era rules above. */
  #eraRefusal(value: unknown): { id: Id; error: EnvelopeError } | undefined {
    const request = asRequest(value);
    if (!request || this.#era === "legacy") return undefined;
    const id = validId(request.id);
    if (claimsEnvelope(request)) {
      const error = unsupportedRevision(request);
      return error ? { id, error } : undefined;
    }
    if (this.#era === "modern" && request.method === "initialize") {
      return {
        id,
        error: {
          code: ErrorCode.InvalidRequest,
          message:
            "Invalid Request: this connection speaks 2026-07-28 (it began with a 2026-07-28 request), " +
            "and initialize opens a 2025 connection. Keep sending the _meta envelope, or start a new " +
            "connection (a new server process) for a 2025 revision",
        },
      };
    }
    if (this.#era === undefined && (request.method === "initialize" || request.method === "ping")) {
      return undefined;
    }
    const error = missingEnvelope(request, this.#era === "modern" ? "connection" : undefined) ?? {
      code: ErrorCode.InvalidParams,
      message:
        `Invalid params: ${
          request.method.slice(0, 100)
        } came before the connection chose its era. A 2025 client opens with ` +
        'initialize; a 2026-07-28 request carries params._meta with "io.modelcontextprotocol/protocolVersion": ' +
        '"2026-07-28" and "io.modelcontextprotocol/clientCapabilities": {…}',
      data: {
        envelope: {
          missing: ["io.modelcontextprotocol/protocolVersion", "io.modelcontextprotocol/clientCapabilities"],
        },
      },
    };
    return { id, error };
  }

  #noteEra(value: unknown): void {
    if (this.#era !== undefined) return;
    const request = asRequest(value);
    if (!request) return;
    if (request.method === "initialize" && !claimsEnvelope(request)) this.#era = "legacy";
    else if (hasValidEnvelope(request)) this.#era = "modern";
  }

  #batch(items: unknown[]): void {
    const refuse = (why: string) => this.#reply(null, ErrorCode.InvalidRequest, `Invalid Request: ${why}`);
    if (this.#era === "modern") {
      return refuse("the 2026-07-28 protocol has no JSON-RPC batches; send one message per line");
    }
    if (this.#era === undefined) {
      return refuse("a batch cannot open the connection; send initialize alone first");
    }
    if (items.length === 0) return refuse("an empty batch");
    if (items.length > MAX_BATCH_MESSAGES) {
      return refuse(`a batch of ${items.length} messages; the limit is ${MAX_BATCH_MESSAGES}`);
    }
    if (this.#batches.pending >= MAX_PENDING_BATCHES) {
      return refuse(`${MAX_PENDING_BATCHES} batches are still being answered; wait for their replies`);
    }
    const invalid = (id: Id, why: string): ErrorReply => ({
      jsonrpc: "2.0",
      id,
      error: { code: ErrorCode.InvalidRequest, message: `Invalid Request: ${why}` },
    });
    for (const item of this.#batches.open(items, invalid)) {
      const record = item as { method?: unknown; params?: { requestId?: unknown } };
      if (record.method === "notifications/cancelled") this.#batches.cancelled(record.params?.requestId);
      try {
        this.onmessage?.(item as JSONRPCMessage);
      } catch (error) {
        this.#log.error("A message handler threw", error);
      }
    }
  }

  #oversized(head: Uint8Array, size: number): void {
    const start = this.#decoder.decode(head);
    const id = /"id"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?\d{1,16})/.exec(start)?.[1];
    let parsedId: Id = null;
    try {
      parsedId = id === undefined ? null : validId(JSON.parse(id));
    } catch {
      parsedId = null; // An id we cannot read: answer with null, as JSON-RPC allows.
    }
    const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
    this.#log.warn(`Refused a ${mib(size)} message (the limit is ${mib(MAX_MESSAGE_BYTES)})`);
    this.#reply(
      parsedId,
      ErrorCode.InvalidRequest,
      `Invalid Request: the message is ${mib(size)}, over this server's limit of ${
        mib(MAX_MESSAGE_BYTES)
      }. ` +
        "Send large inputs as file paths instead of inline data",
    );
  }

  #reply(id: Id, code: number, message: string, data?: Record<string, unknown>): void {
    void this.send(
      {
        jsonrpc: "2.0",
        id,
        error: { code, message, ...(data ? { data } : {}) },
      } as unknown as JSONRPCMessage,
    );
  }
}

/**
 * Serves MCP on this process's stdin and stdout. The first message picks the era for the connection:
 * `initialize` (2025) or a request with the 2026-07-28 `_meta` envelope (`server/discover` first,
 * usually). When the client goes away (stdin ends, or stdout breaks) the transport closes, which aborts
 * every call in flight so LM Studio stops generating, and the process ends.
 *
 * @param make Builds the server instance for the connection's era
 * @param log The process's log (stderr)
 */
export function serveOnStdio(make: ServerFactory, log: Logger): void {
  serveStdio(({ era }) => make(era), {
    transport: guarded(new StdioTransport({ log })),
    onerror: (error) => log.warn(`MCP: ${error.message}`),
  });
}
