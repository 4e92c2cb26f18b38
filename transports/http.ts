/**
 * MCP over Streamable HTTP at `/mcp`, on `Deno.serve` with the SDK's web-standard transport: the same
 * tools, resources, prompts, progress and cancellation as stdio, for several clients at once, each with
 * its own MCP session (a server instance of its own, sharing LM Studio's client and the chat store).
 *
 * Safe by default, as the MCP spec asks: the `Host` and `Origin` of every request are checked (DNS
 * rebinding, `/health` included), a bearer token is compared in constant time when one is set (and one
 * must be set to bind beyond loopback), bodies are capped, replies never carry a stack trace.
 *
 * Bounded, so that no client can starve the others: connections (and how long heads, bodies and idle
 * connections may take) by the connection guard in front of `Deno.serve`; sessions by count; the events
 * kept for resuming streams by bytes, per session and in total; the unread bytes of a response stream.
 * A session lives while a call is in flight or its reply is still being sent; a call whose client left
 * and did not resume within the grace period is cancelled; at shutdown every call in flight gets an
 * error reply.
 *
 * Over 350 lines on purpose: the request handler and the session life cycle it drives (open, route, expire,
 * shut down) share one session table; what stands alone lives beside it (http_access, http_calls,
 * http_replay, http_unread, http_guard).
 *
 * @module
 */
import {
  type ConnectionGuard,
  type ConnectionLimits,
  DEFAULT_CONNECTION_LIMITS,
  guardConnections,
} from "./http_guard.ts";
import type { HttpSettings } from "./http_listen.ts";
import { acceptedHosts, checkAccess } from "./http_access.ts";
import { type Call, SessionCalls } from "./http_calls.ts";
import { ReplayBudget, ReplayStore } from "./http_replay.ts";
import { UnreadBudget } from "./http_unread.ts";
import { servedUntilGone } from "./http_long.ts";
import { guarded } from "./guard.ts";
import { isModernRequest, modernHandler } from "./http_modern.ts";
import { asRequest, missingEnvelope } from "./envelope.ts";
import { createHash } from "node:crypto";
import type { McpApp } from "../server/build_server.ts";
import { type McpServer, WebStandardStreamableHTTPServerTransport } from "../server/sdk.ts";
import { MAX_MESSAGE_BYTES } from "./limits.ts";

/** The bounds of HTTP mode. */
export interface HttpLimits extends ConnectionLimits {
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
  /** How long shutdown waits for the error replies to calls in flight to go out. */
  readonly shutdownDrainMs: number;
}

const MIB = 1024 * 1024;

/** The defaults; docs/robustness.md and docs/http.md state them. */
export const DEFAULT_HTTP_LIMITS: HttpLimits = Object.freeze({
  ...DEFAULT_CONNECTION_LIMITS,
  maxSessions: 256,
  replayEvents: 1_000,
  replayBytesPerSession: 8 * MIB,
  replayBytesTotal: 32 * MIB,
  disconnectGraceMs: 15_000,
  unreadBytesPerStream: 16 * MIB,
  unreadBytesTotal: 32 * MIB,
  shutdownDrainMs: 3_000,
});

/** What the server holds now. */
export interface HttpStats {
  /** Open MCP sessions. */
  readonly sessions: number;
  /** Open client connections (0 when serving without the guard). */
  readonly connections: number;
  /** Calls in flight, over all sessions. */
  readonly calls: number;
  /** Bytes of events kept for resuming streams, over all sessions. */
  readonly replayBytes: number;
  /** Bytes of replies their clients have not read yet, over all streams. */
  readonly unreadBytes: number;
}

/** The running HTTP server. */
export interface HttpHandle {
  /** Where it listens, e.g. `http://127.0.0.1:8765/mcp`. */
  readonly url: string;
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** Open MCP sessions. */
  sessions(): number;
  /** What the server holds now. */
  stats(): HttpStats;
  /**
   * Answers every call in flight with a "Server shutting down" error, ends every session (aborting the
   * calls' work) and stops listening, within about 5 s.
   */
  shutdown(): Promise<void>;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
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

/**
 * Starts serving.
 *
 * @param settings Where to listen, token, allowed hosts and origins, idle time
 * @param app Builds the server instances; the log; name and version
 * @param maxBodyBytes Largest request body (default: the stdio transport's message limit)
 * @param limits Bounds to change (tests make them small)
 * @returns The handle
 */
export function serveHttp(
  settings: HttpSettings,
  app: McpApp,
  maxBodyBytes: number = MAX_MESSAGE_BYTES,
  limits: Partial<HttpLimits> = {},
): HttpHandle {
  const bounds: HttpLimits = { ...DEFAULT_HTTP_LIMITS, ...limits };
  const { info, log } = app;
  const sessions = new Map<string, Session>();
  const budget = new ReplayBudget(bounds.replayBytesTotal);
  const unread = new UnreadBudget(bounds.unreadBytesPerStream, bounds.unreadBytesTotal);
  const started = Date.now();
  const stop = new AbortController();
  // 2026-07-28 requests (stateless, no session) go to their own leg; everything else is a 2025 session's.
  const modern = modernHandler(app, maxBodyBytes, {
    taskOwner: httpTaskOwner(settings),
    shutdown: stop.signal,
  });
  let opening = 0;
  let closing = false;
  let port = settings.port;
  let accepted = acceptedHosts(settings, port);
  let guard: ConnectionGuard | undefined;

  const endSession = async (id: string, why: string) => {
    const session = sessions.get(id);
    if (!session) return;
    sessions.delete(id);
    log.info(`MCP session ${id.slice(0, 8)}… ended (${why})`);
    session.calls.close();
    session.replay.close();
    await session.transport.close().catch(() => {});
    await session.server.close().catch(() => {});
  };

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [id, session] of sessions) {
      const busy = session.handling > 0 || session.calls.busy();
      if (!busy && now - session.lastSeen > settings.sessionIdleMs) void endSession(id, "idle");
    }
  }, Math.min(60_000, Math.max(250, settings.sessionIdleMs / 4)));

  const handler = async (request: Request, connection: Deno.ServeHandlerInfo): Promise<Response> => {
    if (guard && !guard.owns(connection.remoteAddr)) {
      return json(403, { error: "Connect to the server's own address" });
    }
    if (closing) return rpcError(503, -32000, "Server shutting down", { "retry-after": "5" });
    const url = new URL(request.url);
    if (url.pathname !== "/mcp" && url.pathname !== "/health") {
      return json(404, { error: "Not found: MCP is served at /mcp" });
    }
    const refused = await checkAccess(request, settings, accepted);
    if (refused) {
      guard?.closeAfterReply(connection.remoteAddr);
      return refused;
    }
    // Past the checks with the token (when one is set): this connection is among the last to make room.
    if (settings.token === undefined || url.pathname === "/mcp") guard?.vouch(connection.remoteAddr);
    if (url.pathname === "/health") {
      if (request.method !== "GET") return json(405, { error: "Use GET /health" });
      return json(200, {
        status: "ok",
        name: info.name,
        version: info.version,
        sessions: sessions.size,
        uptime_seconds: Math.round((Date.now() - started) / 1000),
      });
    }
    try {
      const body = await readJsonBody(request, maxBodyBytes, bounds.bodyTimeoutMs);
      if (body instanceof Response) return body;
      if (await isModernRequest(request, maxBodyBytes, body.parsed)) {
        // Its call ends when its client goes (see http_long.ts).
        return await servedUntilGone(
          request,
          body.parsed,
          guard?.departure(connection.remoteAddr),
          (leg) => modern.fetch(leg, body.parsed === undefined ? undefined : { parsedBody: body.parsed }),
        );
      }
      const id = request.headers.get("mcp-session-id");
      if (id) {
        const session = sessions.get(id);
        if (!session) {
          return rpcError(404, -32001, "Session not found: it ended or expired; initialize again");
        }
        return await handleInSession(session, request, body);
      }
      if (request.method !== "POST") {
        return rpcError(400, -32000, "Bad Request: send initialize first (no Mcp-Session-Id header)");
      }
      // A request that means 2026-07-28 but spells its envelope wrong is told the keys, not to initialize.
      const message = asRequest(body.parsed);
      const mistake = message && missingEnvelope(message);
      if (mistake) return json(400, { jsonrpc: "2.0", id: validId(message.id), error: mistake });
      return await open(request, body);
    } catch (error) {
      log.error("HTTP request failed", error);
      return rpcError(500, -32603, "Internal error; the server log has the details");
    }
  };

  const handleInSession = async (session: Session, request: Request, body: ParsedBody) => {
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
  };

  const open = async (request: Request, body: ParsedBody): Promise<Response> => {
    if (sessions.size + opening >= bounds.maxSessions) {
      return rpcError(
        503,
        -32000,
        `Too many MCP sessions (the limit is ${bounds.maxSessions}): end unused ones (DELETE /mcp) or ` +
          "retry later, when idle ones have expired",
        { "retry-after": "60" },
      );
    }
    opening++;
    try {
      const server = app.make("legacy");
      const replay = new ReplayStore(budget, {
        events: bounds.replayEvents,
        bytes: bounds.replayBytesPerSession,
      });
      let session: Session | undefined;
      const calls = new SessionCalls({
        graceMs: bounds.disconnectGraceMs,
        unread,
        onSettled: () => {
          if (session) session.lastSeen = Date.now();
        },
        onAbandoned: (callId) =>
          log.info(
            `MCP session ${transport.sessionId?.slice(0, 8)}…: call ${
              JSON.stringify(callId)
            } cancelled, its ` +
              `client disconnected and did not resume within ${bounds.disconnectGraceMs} ms`,
          ),
      });
      const transport: WebStandardStreamableHTTPServerTransport =
        new WebStandardStreamableHTTPServerTransport({
          sessionIdGenerator: () => crypto.randomUUID(),
          maxRequestBodySize: maxBodyBytes,
          eventStore: replay,
          onsessioninitialized: (id) => {
            session = { transport, server, replay, calls, lastSeen: Date.now(), handling: 0 };
            sessions.set(id, session);
            log.info(`MCP session ${id.slice(0, 8)}… started (${sessions.size} open)`);
          },
          onsessionclosed: (id) => void endSession(id, "closed by the client"),
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
      opening--;
    }
  };

  const serve = (hostname: string, listenPort: number) =>
    Deno.serve({
      hostname,
      port: listenPort,
      onListen: () => {},
      onError: (error) => {
        log.error("HTTP server error", error);
        return rpcError(500, -32603, "Internal error; the server log has the details");
      },
    }, handler);

  let httpServer: Deno.HttpServer<Deno.NetAddr>;
  try {
    // The real server listens on a free loopback port; the guard takes the connections.
    httpServer = serve("127.0.0.1", 0);
    try {
      guard = guardConnections({
        hostname: settings.hostname,
        port: settings.port,
        upstreamPort: httpServer.addr.port,
        limits: bounds,
      });
    } catch (error) {
      void httpServer.shutdown();
      throw error;
    }
    port = guard.addr.port;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied)) {
      throw error;
    }
    log.warn(
      "Serving without the connection guard (no limit on connections, no header, body or idle timeouts): " +
        "it listens on a free port of 127.0.0.1, which --allow-net does not grant. Add 127.0.0.1 to " +
        "--allow-net to have it",
    );
    httpServer = serve(settings.hostname, settings.port);
    port = httpServer.addr.port;
  }
  accepted = acceptedHosts(settings, port);
  const host = settings.hostname.includes(":") ? `[${settings.hostname}]` : settings.hostname;
  const finished = httpServer.finished.then(() => clearInterval(sweep));
  let stopping: Promise<void> | undefined;
  const shutdown = async () => {
    closing = true;
    clearInterval(sweep);
    guard?.stopAccepting();
    const deadline = Date.now() + bounds.shutdownDrainMs;
    const open = [...sessions.values()];
    await Promise.all(open.map((session) => session.calls.answerAll(-32000, "Server shutting down")));
    await Promise.all(open.map((session) => session.calls.drained(Math.max(0, deadline - Date.now()))));
    await Promise.all([...sessions.keys()].map((id) => endSession(id, "server shutting down")));
    // 2026-07-28 exchanges in flight end too (their calls see the shutdown signal).
    stop.abort();
    await modern.close().catch(() => {});
    // The server stops once every response has gone out; the guard then closes what is left (a client
    // that reads nothing), which lets the server finish.
    const stopped = httpServer.shutdown();
    await within(stopped, Math.max(0, deadline - Date.now()));
    await guard?.close(Math.max(500, deadline - Date.now()));
    await within(stopped.then(() => finished), 1000);
  };
  return {
    url: `http://${host}:${port}/mcp`,
    port,
    sessions: () => sessions.size,
    stats: () => ({
      sessions: sessions.size,
      connections: guard?.open() ?? 0,
      calls: [...sessions.values()].reduce((sum, session) => sum + session.calls.inFlight(), 0),
      replayBytes: budget.bytes,
      unreadBytes: unread.bytes,
    }),
    shutdown: () => stopping ??= shutdown(),
    finished,
  };
}

/**
 * Who the 2026-07-28 tasks of this HTTP server belong to: the holder of its token (a hash of it, never
 * the token), or, without a token, whoever reaches the port. Stdio tasks are the local user's, so an
 * HTTP client never sees them, nor a client with another token theirs.
 */
function httpTaskOwner(settings: HttpSettings): string {
  return settings.token
    ? `http-token:${createHash("sha256").update(settings.token).digest("hex").slice(0, 32)}`
    : "http-open";
}

function validId(id: unknown): string | number | null {
  return typeof id === "string" || typeof id === "number" ? id : null;
}

/** A request body: the parsed JSON of a POST, or nothing to parse. */
interface ParsedBody {
  readonly parsed: unknown;
}

/**
 * Reads a POST's JSON body within the size and time bounds; other methods, and bodies the transport
 * refuses on sight (a `Content-Type` other than JSON), are left to the transport.
 */
async function readJsonBody(
  request: Request,
  maxBytes: number,
  timeoutMs: number,
): Promise<ParsedBody | Response> {
  // Every JSON POST is read here, within the time bound, whatever its Accept (the legs answer a wrong one).
  const type = request.headers.get("content-type") ?? "";
  if (request.method !== "POST" || !/^application\/json\s*(;|$)/i.test(type)) {
    return { parsed: undefined };
  }
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    return rpcError(413, -32600, `Request body of ${declared} bytes is over the limit of ${maxBytes}`);
  }
  if (!request.body) return rpcError(400, -32700, "Parse error: Invalid JSON");
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), timeoutMs)));
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), late]);
      if (next === "late") {
        void reader.cancel().catch(() => {});
        return rpcError(408, -32000, `The request body did not arrive within ${timeoutMs} ms`);
      }
      if (next.done) break;
      size += next.value.byteLength;
      if (size > maxBytes) {
        void reader.cancel().catch(() => {});
        return rpcError(
          413,
          -32600,
          `Request body of more than ${maxBytes} bytes is over the limit of ${maxBytes}`,
        );
      }
      chunks.push(next.value);
    }
  } catch {
    return rpcError(400, -32700, "Parse error: the request body broke off");
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  try {
    return { parsed: JSON.parse(new TextDecoder().decode(bytes)) };
  } catch {
    return rpcError(400, -32700, "Parse error: Invalid JSON");
  }
}

/** Waits for `work`, at most `ms`. */
async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function isEventStream(response: Response): boolean {
  return response.status === 200 &&
    (response.headers.get("content-type") ?? "").startsWith("text/event-stream");
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function rpcError(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return json(status, { jsonrpc: "2.0", error: { code, message }, id: null }, headers);
}
