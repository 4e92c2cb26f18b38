/**
 * The 2025-era MCP sessions of the HTTP server: each a server instance of its own with its transport,
 * its replay store and its calls, in one table bounded by count. Sessions are opened by `initialize`,
 * handle their requests by `Mcp-Session-Id`, end when the client closes them, when they sit idle (a
 * session with a call in flight or a reply still being sent is never idle), or when the server shuts
 * down (every call in flight then gets an error reply first).
 *
 * @module
 */
import { type Call, SessionCalls } from "./http_calls.ts";
import { ReplayBudget, ReplayStore } from "./http_replay.ts";
import { UnreadBudget } from "./http_unread.ts";
import { guarded } from "./guard.ts";
import { isEventStream, type ParsedBody, rpcError } from "./http_body.ts";
import type { Logger } from "../lib/config/logger.ts";
import type { ServerFactory } from "../server/build_server.ts";
import { type McpServer, WebStandardStreamableHTTPServerTransport } from "../server/sdk.ts";

/** The bounds of the session table. */
export interface SessionLimits {
  /** Most MCP sessions open at once; more get `503` with `Retry-After`. */
  readonly maxSessions: number;
  /** Most events a session keeps for `Last-Event-ID`. */
  readonly replayEvents: number;
  /** Most bytes of events a session keeps. */
  readonly replayBytesPerSession: number;
  /** Most bytes of events all sessions keep together. */
  readonly replayBytesTotal: number;
  /** How long a call whose client disconnected waits for it to resume before it is cancelled. */
  readonly disconnectGraceMs: number;
  /** Most bytes a response stream may hold unread before it is cut (its first reply may be larger). */
  readonly unreadBytesPerStream: number;
  /** Most unread bytes of all streams whose clients stopped reading; the largest are cut first. */
  readonly unreadBytesTotal: number;
}

/** What the table needs besides its bounds. */
export interface SessionTableOptions {
  /** Builds each session's server instance. */
  readonly make: ServerFactory;
  /** Where session starts and ends are logged. */
  readonly log: Logger;
  /** Largest request body a session's transport takes. */
  readonly maxBodyBytes: number;
  /** How long a session may sit idle before it is ended. */
  readonly idleMs: number;
  /** The bounds. */
  readonly limits: SessionLimits;
}

interface Session {
  readonly transport: WebStandardStreamableHTTPServerTransport;
  readonly server: McpServer;
  readonly replay: ReplayStore;
  readonly calls: SessionCalls;
  lastSeen: number;
  /** Requests being handled now (a call in flight counts in `calls` until its reply). */
  handling: number;
}

/** The open 2025-era sessions: open, handle, end, sweep, shut down. */
export class SessionTable {
  readonly #options: SessionTableOptions;
  readonly #sessions = new Map<string, Session>();
  readonly #budget: ReplayBudget;
  readonly #unread: UnreadBudget;
  #sweep: ReturnType<typeof setInterval> | undefined;
  #stopped = false;
  #opening = 0;

  /**
   * Creates the table. Its idle sweep (every quarter of the idle time, within 250 ms…60 s) starts with
   * the first session.
   *
   * @param options The factory, the log, the bounds
   */
  constructor(options: SessionTableOptions) {
    this.#options = options;
    const { limits } = options;
    this.#budget = new ReplayBudget(limits.replayBytesTotal);
    this.#unread = new UnreadBudget(limits.unreadBytesPerStream, limits.unreadBytesTotal);
  }

  /** Open sessions. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Calls in flight, over all sessions. */
  calls(): number {
    return [...this.#sessions.values()].reduce((sum, session) => sum + session.calls.inFlight(), 0);
  }

  /** Bytes of events kept for resuming streams, over all sessions. */
  get replayBytes(): number {
    return this.#budget.bytes;
  }

  /** Bytes of replies their clients have not read yet, over all streams. */
  get unreadBytes(): number {
    return this.#unread.bytes;
  }

  /** Whether a session is open under this id. */
  has(id: string): boolean {
    return this.#sessions.has(id);
  }

  /**
   * Opens a session for an `initialize` request (503 past the session limit). A request that is not a
   * valid `initialize` gets the transport's answer and opens nothing.
   *
   * @param request The request
   * @param body Its parsed body
   * @returns The reply
   */
  async open(request: Request, body: ParsedBody): Promise<Response> {
    const { limits, log } = this.#options;
    if (this.#sessions.size + this.#opening >= limits.maxSessions) {
      return rpcError(
        503,
        -32000,
        `Too many MCP sessions (the limit is ${limits.maxSessions}): end unused ones (DELETE /mcp) or ` +
          "retry later, when idle ones have expired",
        { "retry-after": "60" },
      );
    }
    this.#opening++;
    try {
      const server = this.#options.make("legacy");
      const replay = new ReplayStore(this.#budget, {
        events: limits.replayEvents,
        bytes: limits.replayBytesPerSession,
      });
      let session: Session | undefined;
      const calls = new SessionCalls({
        graceMs: limits.disconnectGraceMs,
        unread: this.#unread,
        onSettled: () => {
          if (session) session.lastSeen = Date.now();
        },
        onAbandoned: (callId) =>
          log.info(
            `MCP session ${transport.sessionId?.slice(0, 8)}…: call ${
              JSON.stringify(callId)
            } cancelled, its ` +
              `client disconnected and did not resume within ${limits.disconnectGraceMs} ms`,
          ),
      });
      const transport: WebStandardStreamableHTTPServerTransport =
        new WebStandardStreamableHTTPServerTransport({
          sessionIdGenerator: () => crypto.randomUUID(),
          maxRequestBodySize: this.#options.maxBodyBytes,
          eventStore: replay,
          onsessioninitialized: (id) => {
            session = { transport, server, replay, calls, lastSeen: Date.now(), handling: 0 };
            this.#sessions.set(id, session);
            if (!this.#stopped) {
              this.#sweep ??= setInterval(
                () => this.sweep(),
                Math.min(60_000, Math.max(250, this.#options.idleMs / 4)),
              );
            }
            log.info(`MCP session ${id.slice(0, 8)}… started (${this.#sessions.size} open)`);
          },
          onsessionclosed: (id) => void this.end(id, "closed by the client"),
        });
      await server.connect(guarded(calls.track(transport)));
      const response = await transport.handleRequest(
        request,
        body.parsed === undefined ? undefined : { parsedBody: body.parsed },
      );
      if (transport.sessionId === undefined) {
        // Not a valid initialize: nothing was opened, so nothing is kept.
        calls.close();
        replay.close();
        await server.close().catch(() => {});
        return response;
      }
      return isEventStream(response) ? calls.resumed(response, undefined) : response;
    } finally {
      this.#opening--;
    }
  }

  /**
   * Handles a request of an open session (404 when there is none under the id: it ended or expired).
   *
   * @param id The `Mcp-Session-Id`
   * @param request The request
   * @param body Its parsed body
   * @returns The reply (a call's SSE stream is watched until its reply is read)
   */
  async handle(id: string, request: Request, body: ParsedBody): Promise<Response> {
    const session = this.#sessions.get(id);
    if (!session) return rpcError(404, -32001, "Session not found: it ended or expired; initialize again");
    let calls: Call[] = [];
    if (body.parsed !== undefined) {
      const reserved = session.calls.reserve(body.parsed);
      if (typeof reserved === "string") return rpcError(400, -32600, reserved);
      calls = reserved;
    }
    session.lastSeen = Date.now();
    session.handling++;
    let passed = false;
    try {
      const lastEventId = request.method === "GET" ? request.headers.get("last-event-id") : null;
      const stream = lastEventId ? await session.replay.getStreamIdForEventId(lastEventId) : undefined;
      const response = await session.transport.handleRequest(
        request,
        body.parsed === undefined ? undefined : { parsedBody: body.parsed },
      );
      if (!isEventStream(response)) return response;
      passed = true;
      return request.method === "POST"
        ? session.calls.watch(response, calls)
        : session.calls.resumed(response, stream);
    } finally {
      if (!passed) session.calls.release(calls);
      session.handling--;
      session.lastSeen = Date.now();
    }
  }

  /**
   * Ends a session: its calls are cancelled, its events dropped, its transport and server closed.
   *
   * @param id The session id
   * @param why What the log says
   */
  async end(id: string, why: string): Promise<void> {
    const session = this.#sessions.get(id);
    if (!session) return;
    this.#sessions.delete(id);
    this.#options.log.info(`MCP session ${id.slice(0, 8)}… ended (${why})`);
    session.calls.close();
    session.replay.close();
    await session.transport.close().catch(() => {});
    await session.server.close().catch(() => {});
  }

  /** Ends every session idle for longer than the idle time (the sweep's work, callable at once). */
  sweep(): void {
    const now = Date.now();
    for (const [id, session] of this.#sessions) {
      const busy = session.handling > 0 || session.calls.busy();
      if (!busy && now - session.lastSeen > this.#options.idleMs) void this.end(id, "idle");
    }
  }

  /** Stops the idle sweep (shutdown, or the server stopped). */
  stopSweeping(): void {
    this.#stopped = true;
    clearInterval(this.#sweep);
  }

  /**
   * Answers every call in flight with an error, waits (until `deadline`) for those replies to go out,
   * then ends every session.
   *
   * @param code The JSON-RPC error code of the replies
   * @param message Their message
   * @param deadline Epoch ms to stop waiting for the replies
   */
  async shutdown(code: number, message: string, deadline: number): Promise<void> {
    this.stopSweeping();
    const open = [...this.#sessions.values()];
    await Promise.all(open.map((session) => session.calls.answerAll(code, message)));
    await Promise.all(open.map((session) => session.calls.drained(Math.max(0, deadline - Date.now()))));
    await Promise.all([...this.#sessions.keys()].map((id) => this.end(id, "server shutting down")));
  }
}
