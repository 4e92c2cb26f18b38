/**
 * The front door of HTTP mode: a TCP listener that relays each connection, byte for byte, to the HTTP
 * server behind it on loopback, and bounds what `Deno.serve` alone cannot: how many connections are open
 * at once, how long a request head and a request body may take to arrive, and how long a connection may
 * sit with nothing moving either way.
 *
 * `Deno.serve` has no header, body or idle timeout and no connection limit, and takes no listener of
 * ours: a client sending its head a byte at a time, or stopping mid-body, holds its connection forever.
 * The guard follows each client's requests with {@linkcode RequestFraming} (it reads, never rewrites)
 * and closes a connection whose head or body is late; the first request on a connection that timed out
 * before any reply gets `408`. A connection whose requests it cannot follow (h2c, an impossible
 * `Content-Length`, broken chunks) is answered (`400`, `413`, `431`; an HTTP/2 `GOAWAY` for h2c) and
 * closed, so no connection ever goes on without its timers.
 *
 * A connection is idle only when no request on it awaits its reply and no byte moves: a call answered
 * after minutes in one plain JSON reply is never cut. When the client closes its side, the server behind
 * learns it at once ({@linkcode ConnectionGuard.departure}), so the call it was waiting for is cancelled.
 *
 * At the connection limit a new connection is not simply refused: the guard makes room by closing the
 * connection that matters least (one no request has vouched for, i.e. none has passed the token check,
 * oldest first; then the one idle longest), and refuses with `503` and `Retry-After` only when every
 * connection is vouched for and busy. One client that opens every connection and sends nothing (or only
 * requests without the token) cannot lock out the others.
 *
 * Over 450 lines on purpose: the relay, the timers and making room at the limit all read and change one
 * table of connections; the request framing it follows lives apart (http_framing.ts).
 *
 * @module
 */
import { type FramingPhase, RequestFraming } from "./http_framing.ts";

/** The guard's bounds. */
export interface ConnectionLimits {
  /** Most client connections open at once (see the module doc for who makes room). @default 512 */
  readonly maxConnections: number;
  /** Longest a request head may take, from its first byte (from the connection's start for the first). */
  readonly headerTimeoutMs: number;
  /** Longest a request body may take, from the end of its head. */
  readonly bodyTimeoutMs: number;
  /**
   * Longest a connection may see no byte in either direction while no request on it awaits its reply
   * (SSE streams send keep-alives).
   */
  readonly idleTimeoutMs: number;
}

/** The defaults: 512 connections, 10 s for a head, 60 s for a body, 60 s idle. */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = Object.freeze({
  maxConnections: 512,
  headerTimeoutMs: 10_000,
  bodyTimeoutMs: 60_000,
  idleTimeoutMs: 60_000,
});

/** Options of {@linkcode guardConnections}. */
export interface GuardOptions {
  /** The interface to listen on. */
  readonly hostname: string;
  /** The port (0: any free one). */
  readonly port: number;
  /** The loopback port of the HTTP server behind. */
  readonly upstreamPort: number;
  /** The bounds. */
  readonly limits: ConnectionLimits;
}

/** A running guard. */
export interface ConnectionGuard {
  /** Where it listens. */
  readonly addr: Deno.NetAddr;
  /**
   * Whether a connection the server behind received came from this guard.
   *
   * @param remote The connection's remote address as the server behind sees it
   * @returns True when it is one of the guard's own
   */
  owns(remote: Deno.Addr): boolean;
  /**
   * Marks the client connection behind `remote` as vouched for: a request on it passed the access
   * checks (with the token, when one is set). Vouched connections are the last to make room.
   *
   * @param remote The connection's remote address as the server behind sees it
   */
  vouch(remote: Deno.Addr): void;
  /**
   * A signal that aborts when the client behind `remote` has gone (it closed its side, or the guard
   * closed the connection): the server behind cancels what it was doing for it.
   *
   * @param remote The connection's remote address as the server behind sees it
   * @returns The signal, or undefined for a connection that is not the guard's
   */
  departure(remote: Deno.Addr): AbortSignal | undefined;
  /**
   * Closes the client connection behind `remote` once the reply now being sent on it (a refusal, with
   * a `Content-Length`) has been relayed: `Deno.serve` keeps a connection open after a reply that says
   * `Connection: close`.
   *
   * @param remote The connection's remote address as the server behind sees it
   */
  closeAfterReply(remote: Deno.Addr): void;
  /** Client connections open now. */
  open(): number;
  /** Stops accepting connections (the open ones carry on). */
  stopAccepting(): void;
  /**
   * Stops accepting, waits up to `graceMs` for the connections to end (each ends once the server behind
   * closes its side and everything it sent is relayed), then closes the rest.
   *
   * @param graceMs How long to wait. @default 0
   */
  close(graceMs?: number): Promise<void>;
}

const INBOUND_BUFFER = 16 * 1024;
const OUTBOUND_BUFFER = 64 * 1024;

/**
 * Listens and relays.
 *
 * @param options Where to listen, the server behind, the bounds
 * @returns The guard
 * @throws {Deno.errors.AddrInUse} And the other errors of `Deno.listen`
 * @example
 * ```ts ignore
 * import { DEFAULT_CONNECTION_LIMITS, guardConnections } from "./http_guard.ts";
 * const inner = Deno.serve({ hostname: "127.0.0.1", port: 0 }, () => new Response("ok"));
 * const guard = guardConnections({
 *   hostname: "127.0.0.1", port: 8765, upstreamPort: inner.addr.port, limits: DEFAULT_CONNECTION_LIMITS,
 * });
 * ```
 */
export function guardConnections(options: GuardOptions): ConnectionGuard {
  const { limits } = options;
  const listener = Deno.listen({ hostname: options.hostname, port: options.port, transport: "tcp" });
  const relays = new Set<Relay>();
  const ports = new Map<number, Relay>();
  const pending = new Set<Promise<void>>();
  let accepting = true;
  const track = (work: Promise<void>) => {
    pending.add(work);
    void work.finally(() => pending.delete(work));
  };
  const tick = Math.min(1000, Math.max(20, Math.min(limits.headerTimeoutMs, limits.idleTimeoutMs) / 4));
  const sweep = setInterval(() => {
    const now = performance.now();
    for (const relay of relays) relay.check(now);
  }, tick);
  const accepted = (async () => {
    for (;;) {
      let client: Deno.TcpConn;
      try {
        client = await listener.accept();
      } catch {
        return; // The listener was closed.
      }
      if (relays.size >= limits.maxConnections) {
        const victim = leastNeeded(relays);
        if (!victim) {
          track(refuse(client, limits.maxConnections));
          continue;
        }
        victim.evict();
        relays.delete(victim);
      }
      const relay = new Relay(client, limits, ports);
      relays.add(relay);
      track(relay.run(options.upstreamPort).finally(() => relays.delete(relay)));
    }
  })();
  const stopAccepting = () => {
    if (!accepting) return;
    accepting = false;
    try {
      listener.close();
    } catch {
      // Already closed.
    }
  };
  return {
    addr: listener.addr,
    owns: (remote) => remote.transport === "tcp" && ports.has(remote.port),
    vouch: (remote) => {
      if (remote.transport === "tcp") ports.get(remote.port)?.vouch();
    },
    departure: (remote) => remote.transport === "tcp" ? ports.get(remote.port)?.departed : undefined,
    closeAfterReply: (remote) => {
      if (remote.transport === "tcp") ports.get(remote.port)?.closeAfterReply();
    },
    open: () => relays.size,
    stopAccepting,
    close: async (graceMs = 0) => {
      stopAccepting();
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled([...pending]),
        new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
      clearInterval(sweep);
      for (const relay of relays) relay.close();
      await accepted;
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}

/**
 * The connection to close to make room for a new one: of those no request has vouched for, the oldest
 * (a request of its own awaiting its reply protects it); else the vouched one idle longest; none while
 * every one awaits a reply or is sending.
 */
function leastNeeded(relays: ReadonlySet<Relay>): Relay | undefined {
  let stranger: Relay | undefined;
  let idle: Relay | undefined;
  for (const relay of relays) {
    if (relay.busy) continue;
    if (!relay.vouched) {
      if (!stranger || relay.openedAt < stranger.openedAt) stranger = relay;
    } else if (relay.quiet && (!idle || relay.lastActivity < idle.lastActivity)) {
      idle = relay;
    }
  }
  return stranger ?? idle;
}

/** Answers a connection over the limit with `503` and closes it. */
async function refuse(client: Deno.TcpConn, max: number): Promise<void> {
  const body = JSON.stringify({
    error: `Too many connections (the limit is ${max}); retry in a moment`,
  });
  try {
    await client.write(new TextEncoder().encode(
      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\n" +
        `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    ));
  } catch {
    // The client is gone already.
  }
  try {
    client.close();
  } catch {
    // Already closed.
  }
}

/** One client connection and its twin to the server behind. */
class Relay {
  readonly #client: Deno.TcpConn;
  readonly #limits: ConnectionLimits;
  readonly #ports: Map<number, Relay>;
  readonly #framing: RequestFraming;
  readonly #departed = new AbortController();
  readonly openedAt: number;
  #upstream: Deno.TcpConn | undefined;
  #port = 0;
  #lastActivity: number;
  /** Requests whose head the guard has seen. */
  #heads = 0;
  /** Whether a request's head arrived after the last byte of reply (it awaits its reply). */
  #awaiting = false;
  #replied = false;
  #vouched = false;
  #closed = false;
  /** The reply after which to close, as relayed so far (latin1), while one is awaited. */
  #last: string | undefined;

  constructor(client: Deno.TcpConn, limits: ConnectionLimits, ports: Map<number, Relay>) {
    this.#client = client;
    this.#limits = limits;
    this.#ports = ports;
    this.#lastActivity = this.openedAt = performance.now();
    this.#framing = new RequestFraming(this.#lastActivity);
  }

  /** Aborts once the client has gone. */
  get departed(): AbortSignal {
    return this.#departed.signal;
  }

  get vouched(): boolean {
    return this.#vouched;
  }

  get lastActivity(): number {
    return this.#lastActivity;
  }

  /** Whether a request on it awaits its reply, or one is arriving. */
  get busy(): boolean {
    return this.#awaiting || this.#framing.phase === "body" ||
      (this.#framing.phase === "head" && this.#heads > 0);
  }

  /** Between requests, nothing arriving. */
  get quiet(): boolean {
    return !this.busy && this.#framing.phase !== "head";
  }

  vouch(): void {
    this.#vouched = true;
  }

  closeAfterReply(): void {
    // Only a reply not begun yet can be followed from its first byte.
    if (this.#awaiting) this.#last = "";
  }

  /** Follows the reply to close after: its head, then `Content-Length` bytes of body. */
  #followLast(bytes: Uint8Array): void {
    this.#last += String.fromCharCode(...bytes.subarray(0, Math.min(bytes.length, 8192)));
    const last = this.#last!;
    if (!last.startsWith("HTTP/1.1 ".slice(0, last.length))) return void (this.#last = undefined);
    const end = last.indexOf("\r\n\r\n");
    if (end < 0) {
      if (last.length > 8192) this.#last = undefined;
      return;
    }
    const length = /\r\ncontent-length: *(\d{1,9})\r\n/i.exec(last.slice(0, end + 2));
    if (!length) return void (this.#last = undefined);
    if (last.length >= end + 4 + Number(length[1])) this.close();
  }

  async run(upstreamPort: number): Promise<void> {
    try {
      this.#upstream = await Deno.connect({ hostname: "127.0.0.1", port: upstreamPort });
    } catch {
      this.close();
      return;
    }
    if (this.#closed) {
      closeQuietly(this.#upstream);
      return;
    }
    this.#port = this.#upstream.localAddr.port;
    this.#ports.set(this.#port, this);
    for (const conn of [this.#client, this.#upstream]) {
      try {
        conn.setNoDelay(true);
      } catch {
        // Not fatal: only latency.
      }
    }
    await Promise.allSettled([this.#inbound(this.#upstream), this.#outbound(this.#upstream)]);
    this.close();
  }

  /** Closes the connection if something is late. */
  check(now: number): void {
    if (this.#closed) return;
    const phase: FramingPhase = this.#framing.phase;
    if (phase === "head" && now - this.#framing.since > this.#limits.headerTimeoutMs) {
      return this.#timedOut();
    }
    // The server answers a late body itself (408); this closes the connection a moment later.
    if (phase === "body" && now - this.#framing.since > this.#limits.bodyTimeoutMs + 1000) {
      return this.close();
    }
    // A request awaiting its reply is not idle, however long the server takes.
    if (!this.#awaiting && now - this.#lastActivity > this.#limits.idleTimeoutMs) this.close();
  }

  /** Closes it to make room; a connection that has sent no request yet is told why. */
  evict(): void {
    if (this.#heads === 0 && !this.#replied) {
      this.#answer(503, "The server is at its connection limit; retry in a moment", "Retry-After: 1\r\n");
    } else {
      this.close();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.#client);
    if (this.#upstream) closeQuietly(this.#upstream);
    if (this.#ports.get(this.#port) === this) this.#ports.delete(this.#port);
    this.#departed.abort();
  }

  #timedOut(): void {
    // Only before anything was relayed back can a reply of ours not interleave with the server's.
    if (!this.#replied && this.#heads === 0) {
      return this.#answer(408, `The request head did not arrive within ${this.#limits.headerTimeoutMs} ms`);
    }
    this.close();
  }

  /** Answers with a status of the guard's own (when no reply of the server's is due) and closes. */
  #answer(status: number, message: string, headers = ""): void {
    if (this.#replied || this.#awaiting || this.#closed) return this.close();
    this.#replied = true;
    const body = JSON.stringify({ error: message });
    const client = this.#client;
    void client.write(new TextEncoder().encode(
      `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Error"}\r\n${headers}Content-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    )).catch(() => {}).finally(() => this.close());
  }

  /** Refuses a connection whose requests cannot be followed. */
  #refuse(): void {
    const refusal = this.#framing.refusal!;
    if (!refusal.http2) return this.#answer(refusal.status, refusal.message);
    // An h2c client reads frames, not a status line: the server's SETTINGS, then GOAWAY with
    // HTTP_1_1_REQUIRED (RFC 9113 §6.5, §6.8, §7).
    const debug = new TextEncoder().encode(refusal.message);
    const frames = new Uint8Array(9 + 9 + 8 + debug.length);
    frames.set([0, 0, 0, 4, 0, 0, 0, 0, 0], 0);
    const length = 8 + debug.length;
    frames.set([length >> 16, (length >> 8) & 255, length & 255, 7, 0, 0, 0, 0, 0], 9);
    frames.set([0, 0, 0, 0, 0, 0, 0, 0x0d], 18);
    frames.set(debug, 26);
    this.#replied = true;
    void this.#client.write(frames).catch(() => {}).finally(() => this.close());
  }

  async #inbound(upstream: Deno.TcpConn): Promise<void> {
    const buffer = new Uint8Array(INBOUND_BUFFER);
    while (!this.#closed) {
      let n: number | null;
      try {
        n = await this.#client.read(buffer);
      } catch {
        n = null;
      }
      if (n === null) {
        // The client is done sending: like the HTTP server behind (which does not keep half-closed
        // connections), the guard takes it as gone, and the work it was waiting for is cancelled. What
        // is on its way back is still relayed, for a client that only closed its sending side.
        this.#departed.abort();
        try {
          await upstream.closeWrite();
        } catch {
          this.close();
        }
        return;
      }
      const now = performance.now();
      this.#lastActivity = now;
      const chunk = buffer.subarray(0, n);
      this.#framing.feed(chunk, now);
      if (this.#framing.phase === "refused") return this.#refuse();
      if (this.#framing.requests > this.#heads) {
        this.#heads = this.#framing.requests;
        this.#awaiting = true;
      }
      if (!(await writeAll(upstream, chunk))) return this.close();
    }
  }

  async #outbound(upstream: Deno.TcpConn): Promise<void> {
    const buffer = new Uint8Array(OUTBOUND_BUFFER);
    while (!this.#closed) {
      let n: number | null;
      try {
        n = await upstream.read(buffer);
      } catch {
        n = null;
      }
      if (n === null) return this.close();
      this.#lastActivity = performance.now();
      this.#replied = true;
      this.#awaiting = false;
      if (!(await writeAll(this.#client, buffer.subarray(0, n)))) return this.close();
      this.#lastActivity = performance.now();
      if (this.#last !== undefined) this.#followLast(buffer.subarray(0, n));
    }
  }
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: "Bad Request",
  408: "Request Timeout",
  413: "Content Too Large",
  431: "Request Header Fields Too Large",
  503: "Service Unavailable",
};

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
  try {
    let written = 0;
    while (written < bytes.length) written += await conn.write(bytes.subarray(written));
    return true;
  } catch {
    return false;
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
