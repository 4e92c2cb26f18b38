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
 * `serveHttp` wires the parts, each in a module of its own: the connection guard (http_guard), the
 * Host/Origin/token checks (http_access), the 2026-07-28 leg (http_modern), the 2025 session table
 * (http_sessions, with http_calls, http_replay and http_unread under it), and the body reading and
 * JSON-RPC error replies (http_body).
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
import { servedUntilGone } from "./http_long.ts";
import { isModernRequest, modernHandler } from "./http_modern.ts";
import { json, readJsonBody, rpcError, validId } from "./http_body.ts";
import { type SessionLimits, SessionTable } from "./http_sessions.ts";
import { asRequest, missingEnvelope } from "./envelope.ts";
import { createHash } from "node:crypto";
import type { McpApp } from "../server/build_server.ts";
import { MAX_MESSAGE_BYTES } from "./limits.ts";

/** The bounds of HTTP mode. */
export interface HttpLimits extends ConnectionLimits, SessionLimits {
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
  const sessions = new SessionTable({
    make: app.make,
    log,
    maxBodyBytes,
    idleMs: settings.sessionIdleMs,
    limits: bounds,
  });
  const started = Date.now();
  const stop = new AbortController();
  // 2026-07-28 requests (stateless, no session) go to their own leg; everything else is a 2025 session's.
  const modern = modernHandler(app, maxBodyBytes, {
    taskOwner: httpTaskOwner(settings),
    shutdown: stop.signal,
  });
  let closing = false;
  let port = settings.port;
  let accepted = acceptedHosts(settings, port);
  let guard: ConnectionGuard | undefined;

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
      if (id) return await sessions.handle(id, request, body);
      if (request.method !== "POST") {
        return rpcError(400, -32000, "Bad Request: send initialize first (no Mcp-Session-Id header)");
      }
      // A request that means 2026-07-28 but spells its envelope wrong is told the keys, not to initialize.
      const message = asRequest(body.parsed);
      const mistake = message && missingEnvelope(message);
      if (mistake) return json(400, { jsonrpc: "2.0", id: validId(message.id), error: mistake });
      return await sessions.open(request, body);
    } catch (error) {
      log.error("HTTP request failed", error);
      return rpcError(500, -32603, "Internal error; the server log has the details");
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
  const finished = httpServer.finished.then(() => sessions.stopSweeping());
  let stopping: Promise<void> | undefined;
  const shutdown = async () => {
    closing = true;
    guard?.stopAccepting();
    const deadline = Date.now() + bounds.shutdownDrainMs;
    await sessions.shutdown(-32000, "Server shutting down", deadline);
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
      calls: sessions.calls(),
      replayBytes: sessions.replayBytes,
      unreadBytes: sessions.unreadBytes,
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

/** Waits for `work`, at most `ms`. */
async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
