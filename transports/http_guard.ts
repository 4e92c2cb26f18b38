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
 * before any reply gets `408`. Connections over the limit get `503` with `Retry-After`.
 *
 * @module
 */
import { type FramingPhase, RequestFraming } from "./http_framing.ts";

/** The guard's bounds. */
export interface ConnectionLimits {
  /** Most client connections open at once; more get `503`. @default 512 */
  readonly maxConnections: number;
  /** Longest a request head may take, from its first byte (from the connection's start for the first). */
  readonly headerTimeoutMs: number;
  /** Longest a request body may take, from the end of its head. */
  readonly bodyTimeoutMs: number;
  /** Longest a connection may see no byte in either direction (SSE streams send keep-alives). */
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
  /** Called when a connection is closed for being late, with what was late. */
  readonly onTimeout?: (what: "head" | "body" | "idle" | "head-too-large") => void;
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
  const ports = new Set<number>();
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
        track(refuse(client, limits.maxConnections));
        continue;
      }
      const relay = new Relay(client, limits, ports, options.onTimeout);
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
  readonly #ports: Set<number>;
  readonly #onTimeout: GuardOptions["onTimeout"];
  readonly #framing: RequestFraming;
  #upstream: Deno.TcpConn | undefined;
  #port = 0;
  #lastActivity: number;
  #replied = false;
  #closed = false;

  constructor(
    client: Deno.TcpConn,
    limits: ConnectionLimits,
    ports: Set<number>,
    onTimeout: GuardOptions["onTimeout"],
  ) {
    this.#client = client;
    this.#limits = limits;
    this.#ports = ports;
    this.#onTimeout = onTimeout;
    this.#lastActivity = performance.now();
    this.#framing = new RequestFraming(this.#lastActivity);
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
    this.#ports.add(this.#port);
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
      return this.#timedOut("head");
    }
    // The server answers a late body itself (408); this closes the connection a moment later.
    if (phase === "body" && now - this.#framing.since > this.#limits.bodyTimeoutMs + 1000) {
      return this.#timedOut("body");
    }
    if (now - this.#lastActivity > this.#limits.idleTimeoutMs) this.#timedOut("idle");
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.#client);
    if (this.#upstream) closeQuietly(this.#upstream);
    this.#ports.delete(this.#port);
  }

  #timedOut(what: "head" | "body" | "idle" | "head-too-large"): void {
    this.#onTimeout?.(what);
    // Only before anything was relayed back can a reply of ours not interleave with the server's.
    if (what === "head" && !this.#replied && this.#framing.requests === 0) {
      const body = JSON.stringify({
        error: `The request head did not arrive within ${this.#limits.headerTimeoutMs} ms`,
      });
      this.#replied = true;
      const client = this.#client;
      void client.write(new TextEncoder().encode(
        "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n" +
          `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      )).catch(() => {}).finally(() => this.close());
      return;
    }
    this.close();
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
        // The client is done sending; it may still read the reply (a half-close).
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
      if (this.#framing.phase === "too-large") return this.#timedOut("head-too-large");
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
      if (!(await writeAll(this.#client, buffer.subarray(0, n)))) return this.close();
      this.#lastActivity = performance.now();
    }
  }
}

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
