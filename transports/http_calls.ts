/**
 * The calls in flight of one HTTP MCP session, and the response streams that carry them.
 *
 * - A call is in flight from its POST until its reply is sent (or the client cancels it), and its
 *   response stream is open until the client has taken the last byte (or left): the session counts as
 *   active until both are over. So does a session whose client holds a stream open to listen (the `GET`
 *   stream every SDK client opens after `initialize`): a connected client is in use, however long it
 *   says nothing and however slow the machine, and idle expiry is for clients that have gone.
 * - Two calls in flight may not share a JSON-RPC id: the SDK transport maps replies to streams by id
 *   (and the server its cancellations), so a second request with a live id would take over the first's
 *   stream and leave the first waiting forever. The second is refused up front.
 * - When every stream carrying a call is gone (the client disconnected) and none resumes it with
 *   `Last-Event-ID` within the grace period, the call is cancelled as if the client had sent
 *   `notifications/cancelled`, which aborts its LM Studio requests.
 * - At shutdown every call in flight has its work cancelled, then is answered with an error.
 * - What a response stream's client leaves unread is bounded (see `http_unread.ts`).
 *
 * @module
 */
import type { JSONRPCMessage, Transport } from "../server/sdk.ts";
import { validId } from "./guard.ts";
import { boundedStream, type UnreadBudget } from "./http_unread.ts";

/** Bounds and hooks of {@linkcode SessionCalls}. */
export interface CallsOptions {
  /** How long a call whose streams are all gone waits for a resume before it is cancelled. */
  readonly graceMs: number;
  /** The unread bytes of response streams, shared by all sessions. */
  readonly unread: UnreadBudget;
  /** Called when a call ends (replied, cancelled, or abandoned) and when a response stream ends. */
  readonly onSettled: () => void;
  /** Called when a call is cancelled because its client went away. */
  readonly onAbandoned: (id: string | number) => void;
}

/** One call in flight. */
export interface Call {
  /** Its JSON-RPC id. */
  readonly id: string | number;
  /** Live response streams carrying it. */
  attached: number;
  /** The grace period's timer, while no stream carries it. */
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The transport's streams it was sent on. */
  readonly streams: Set<string>;
}

const keyOf = (id: string | number) => typeof id === "number" ? `n${id}` : `s${id}`;

/** Tracks one session's calls; see the module doc. */
export class SessionCalls {
  readonly #options: CallsOptions;
  readonly #calls = new Map<string, Call>();
  readonly #byStream = new Map<string, Set<Call>>();
  readonly #streams = new Set<Promise<void>>();
  /** Open streams that carry no call of their own (a client listening). */
  #listening = 0;
  #transport: Transport | undefined;
  #closed = false;

  /**
   * Creates the tracker of one session.
   *
   * @param options The grace period, the unread budget and the hooks
   */
  constructor(options: CallsOptions) {
    this.#options = options;
  }

  /** Calls in flight. */
  inFlight(): number {
    return this.#calls.size;
  }

  /** Whether a call is in flight, a response stream that carried one is still sending, or a client listens. */
  busy(): boolean {
    return this.#calls.size > 0 || this.#streams.size > 0 || this.#listening > 0;
  }

  /**
   * Wraps the session's transport so that replies and cancellations end calls.
   *
   * @param inner The SDK transport
   * @returns The transport to hand to the server (through the guard)
   */
  track(inner: Transport): Transport {
    const outer: Transport = {
      start: () => inner.start(),
      send: async (message, options) => {
        try {
          await inner.send(message, options);
        } finally {
          const reply = message as { id?: unknown; method?: unknown };
          if (reply.method === undefined && reply.id !== undefined) this.#end(validId(reply.id));
        }
      },
      close: () => inner.close(),
    };
    inner.onclose = () => outer.onclose?.();
    inner.onerror = (error) => outer.onerror?.(error);
    inner.onmessage = (message, extra) => {
      outer.onmessage?.(message, extra);
      const note = message as { method?: unknown; id?: unknown; params?: { requestId?: unknown } };
      // A cancelled request gets no reply (MCP's cancellation rules): it ends here.
      if (note.method === "notifications/cancelled" && note.id === undefined) {
        this.#end(validId(note.params?.requestId));
      }
    };
    Object.defineProperty(outer, "sessionId", { get: () => inner.sessionId });
    if (inner.setProtocolVersion) outer.setProtocolVersion = (version) => inner.setProtocolVersion?.(version);
    this.#transport = outer;
    return outer;
  }

  /**
   * Claims the ids of a POST's requests before the transport sees them.
   *
   * @param body The parsed POST body (one message or a batch)
   * @returns The calls, or the message refusing a duplicate id
   */
  reserve(body: unknown): Call[] | string {
    const ids: (string | number)[] = [];
    for (const message of Array.isArray(body) ? body : [body]) {
      const record = typeof message === "object" && message !== null
        ? message as Record<string, unknown>
        : {};
      const id = validId(record.id);
      if (typeof record.method === "string" && id !== null) ids.push(id);
    }
    const keys = ids.map(keyOf);
    for (const [i, key] of keys.entries()) {
      if (this.#calls.has(key) || keys.indexOf(key) !== i) {
        return `Invalid Request: a request with id ${JSON.stringify(ids[i])} is already in flight in this ` +
          "session; give each request its own id";
      }
    }
    return ids.map((id, i) => {
      const call: Call = { id, attached: 0, timer: undefined, streams: new Set() };
      this.#calls.set(keys[i]!, call);
      return call;
    });
  }

  /**
   * Drops calls whose POST never reached the server (it was refused).
   *
   * @param calls The calls {@linkcode reserve} returned
   */
  release(calls: readonly Call[]): void {
    for (const call of calls) {
      if (this.#calls.get(keyOf(call.id)) === call) this.#end(call.id);
    }
  }

  /**
   * Passes a POST's SSE response through, following its event ids and noticing when its client leaves.
   *
   * @param response The transport's response
   * @param calls The calls it carries
   * @returns The response to send
   */
  watch(response: Response, calls: readonly Call[]): Response {
    return this.#pass(response, calls, true);
  }

  /**
   * Passes a resumed stream (`GET` with `Last-Event-ID`) through, re-attaching the calls it carries.
   *
   * @param response The transport's response
   * @param stream The resumed stream's id
   * @returns The response to send
   */
  resumed(response: Response, stream: string | undefined): Response {
    const calls = stream === undefined ? [] : [...this.#byStream.get(stream) ?? []];
    return this.#pass(response, calls, false);
  }

  /**
   * Cancels the work of every call in flight, then answers it with an error.
   *
   * @param code The JSON-RPC error code
   * @param message The error message
   */
  async answerAll(code: number, message: string): Promise<void> {
    const calls = [...this.#calls.values()];
    await Promise.all(calls.map(async (call) => {
      // The work stops first, so a caller told of the shutdown knows nothing of it runs on.
      this.#cancel(call.id, message);
      try {
        await this.#transport?.send(
          { jsonrpc: "2.0", id: call.id, error: { code, message } } as JSONRPCMessage,
        );
      } catch {
        // No stream and nothing to resume: the work is stopped all the same.
      }
    }));
  }

  /**
   * Waits until the response streams that carried calls have ended, at most `limitMs`.
   *
   * @param limitMs The bound
   */
  async drained(limitMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, limitMs)));
    await Promise.race([Promise.allSettled([...this.#streams]), bound]);
    clearTimeout(timer);
  }

  /** Stops every timer; the session is ending. */
  close(): void {
    this.#closed = true;
    for (const call of this.#calls.values()) clearTimeout(call.timer);
    this.#calls.clear();
    this.#byStream.clear();
  }

  #pass(response: Response, calls: readonly Call[], learn: boolean): Response {
    if (!response.body) return response;
    for (const call of calls) {
      call.attached++;
      clearTimeout(call.timer);
      call.timer = undefined;
    }
    let done: () => void = () => {};
    if (calls.length > 0) {
      const ended = new Promise<void>((resolve) => (done = resolve));
      this.#streams.add(ended);
      void ended.then(() => this.#streams.delete(ended));
    }
    let learned = !learn;
    const listening = !learn;
    if (listening) this.#listening++;
    const body = boundedStream(response.body, this.#options.unread, {
      onChunk: (chunk) => {
        if (!learned) learned = this.#learn(chunk, calls);
      },
      onEnd: (gone) => {
        if (listening) this.#listening--;
        for (const call of calls) {
          call.attached--;
          if (gone && call.attached === 0 && this.#calls.get(keyOf(call.id)) === call) this.#graceFor(call);
        }
        done();
        this.#options.onSettled();
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  }

  /** Reads the event id off a chunk (the SDK writes one whole event per chunk) to learn the stream's id. */
  #learn(chunk: Uint8Array, calls: readonly Call[]): boolean {
    const head = new TextDecoder().decode(chunk.subarray(0, 256));
    const eventId = /^id: ?([^\r\n]+)$/m.exec(head)?.[1];
    if (eventId === undefined) return false;
    const stream = eventId.slice(0, Math.max(0, eventId.lastIndexOf("_")));
    let set = this.#byStream.get(stream);
    if (!set) this.#byStream.set(stream, set = new Set());
    for (const call of calls) {
      if (this.#calls.get(keyOf(call.id)) !== call) continue;
      set.add(call);
      call.streams.add(stream);
    }
    if (set.size === 0) this.#byStream.delete(stream);
    return true;
  }

  #graceFor(call: Call): void {
    if (this.#closed) return;
    clearTimeout(call.timer);
    call.timer = setTimeout(() => {
      if (this.#calls.get(keyOf(call.id)) !== call || call.attached > 0) return;
      this.#cancel(call.id, "The client disconnected and did not resume the stream");
      this.#options.onAbandoned(call.id);
    }, this.#options.graceMs);
  }

  /** Cancels a call's work as the client's `notifications/cancelled` would. */
  #cancel(id: string | number, reason: string): void {
    this.#transport?.onmessage?.({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: id, reason },
    } as JSONRPCMessage);
    this.#end(id);
  }

  #end(id: string | number | null): void {
    if (id === null) return;
    const key = keyOf(id);
    const call = this.#calls.get(key);
    if (!call) return;
    this.#calls.delete(key);
    clearTimeout(call.timer);
    for (const stream of call.streams) {
      const set = this.#byStream.get(stream);
      set?.delete(call);
      if (set?.size === 0) this.#byStream.delete(stream);
    }
    this.#options.onSettled();
  }
}
