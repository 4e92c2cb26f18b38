/**
 * MCP over Streamable HTTP at `/mcp`, on `Deno.serve` with the SDK's web-standard transport: the same
 * tools, resources, prompts, progress and cancellation as stdio, for several clients at once, each with
 * its own MCP session (a server instance of its own, sharing LM Studio's client and the chat store).
 *
 * Safe by default, as the MCP spec asks: the `Host` and `Origin` of every request are checked (DNS
 * rebinding), a bearer token is compared in constant time when one is set (and one must be set to bind
 * beyond loopback), bodies are capped, replies never carry a stack trace. `GET /health` answers without a
 * token and says nothing secret. Idle sessions end; `DELETE /mcp` ends one at once.
 *
 * @module
 */
import type { HttpSettings } from "../lib/http_listen.ts";
import type { Logger } from "../lib/logger.ts";
import { guarded } from "./guard.ts";
import { isModernRequest, modernHandler } from "./http_modern.ts";
import { createServer, type ServerInfo } from "./mod.ts";
import { type EventStore, type McpServer, WebStandardStreamableHTTPServerTransport } from "./sdk.ts";
import { MAX_MESSAGE_BYTES } from "./stdio_transport.ts";
import type { Deps } from "./tool.ts";

/** The running HTTP server. */
export interface HttpHandle {
  /** Where it listens, e.g. `http://127.0.0.1:8765/mcp`. */
  readonly url: string;
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** Open MCP sessions. */
  sessions(): number;
  /** Ends every session (aborting calls in flight) and stops listening. */
  shutdown(): Promise<void>;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
}

interface Session {
  readonly transport: WebStandardStreamableHTTPServerTransport;
  readonly server: McpServer;
  lastSeen: number;
  active: number;
}

/** Events kept per session for clients that reconnect with `Last-Event-ID`. */
const REPLAY_EVENTS = 1_000;

/**
 * Starts serving.
 *
 * @param settings Where to listen, token, allowed hosts and origins, idle time
 * @param deps LM Studio, config, log, the chat store
 * @param info Name and version for `initialize`
 * @param maxBodyBytes Largest request body (default: the stdio transport's message limit)
 * @returns The handle
 */
export function serveHttp(
  settings: HttpSettings,
  deps: Deps,
  info: ServerInfo,
  maxBodyBytes: number = MAX_MESSAGE_BYTES,
): HttpHandle {
  const log: Logger = deps.log;
  const sessions = new Map<string, Session>();
  const started = Date.now();
  const stop = new AbortController();
  // 2026-07-28 requests (stateless, no session) go to their own leg; everything else is a 2025 session's.
  const modern = modernHandler({ ...deps, shutdown: stop.signal }, info, maxBodyBytes);
  let port = settings.port;

  const endSession = async (id: string, why: string) => {
    const session = sessions.get(id);
    if (!session) return;
    sessions.delete(id);
    log.info(`MCP session ${id.slice(0, 8)}… ended (${why})`);
    await session.transport.close().catch(() => {});
    await session.server.close().catch(() => {});
  };

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [id, session] of sessions) {
      if (session.active === 0 && now - session.lastSeen > settings.sessionIdleMs) {
        void endSession(id, "idle");
      }
    }
  }, Math.min(60_000, Math.max(250, settings.sessionIdleMs / 4)));

  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (url.pathname === "/health" && request.method === "GET") {
      return json(200, {
        status: "ok",
        name: info.name,
        version: info.version,
        sessions: sessions.size,
        uptime_seconds: Math.round((Date.now() - started) / 1000),
      });
    }
    if (url.pathname !== "/mcp") return json(404, { error: "Not found: MCP is served at /mcp" });
    const refused = await checkRequest(request, settings, port);
    if (refused) return refused;
    const declared = Number(request.headers.get("content-length") ?? "0");
    if (declared > MAX_MESSAGE_BYTES) {
      return rpcError(
        413,
        -32600,
        `Request body of ${declared} bytes is over the limit of ${MAX_MESSAGE_BYTES}`,
      );
    }
    const id = request.headers.get("mcp-session-id");
    try {
      if (await isModernRequest(request, maxBodyBytes)) return await modern.fetch(request);
      if (id) {
        const session = sessions.get(id);
        if (!session) {
          return rpcError(404, -32001, "Session not found: it ended or expired; initialize again");
        }
        session.lastSeen = Date.now();
        session.active++;
        try {
          return await session.transport.handleRequest(request);
        } finally {
          session.active--;
          session.lastSeen = Date.now();
        }
      }
      if (request.method !== "POST") {
        return rpcError(400, -32000, "Bad Request: send initialize first (no Mcp-Session-Id header)");
      }
      return await open(request);
    } catch (error) {
      log.error("HTTP request failed", error);
      return rpcError(500, -32603, "Internal error; the server log has the details");
    }
  };

  const open = async (request: Request): Promise<Response> => {
    const server = createServer(deps, info);
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      maxRequestBodySize: maxBodyBytes,
      eventStore: new ReplayStore(REPLAY_EVENTS),
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, server, lastSeen: Date.now(), active: 0 });
        log.info(`MCP session ${id.slice(0, 8)}… started (${sessions.size} open)`);
      },
      onsessionclosed: (id) => void endSession(id, "closed by the client"),
    });
    await server.connect(guarded(transport));
    const response = await transport.handleRequest(request);
    if (transport.sessionId === undefined) {
      // Not a valid initialize: nothing was opened, so nothing is kept.
      await server.close().catch(() => {});
    }
    return response;
  };

  const httpServer = Deno.serve({
    hostname: settings.hostname,
    port: settings.port,
    signal: stop.signal,
    onListen: () => {},
    onError: (error) => {
      log.error("HTTP server error", error);
      return rpcError(500, -32603, "Internal error; the server log has the details");
    },
  }, handler);
  port = httpServer.addr.port;
  const host = settings.hostname.includes(":") ? `[${settings.hostname}]` : settings.hostname;
  const finished = httpServer.finished.then(() => clearInterval(sweep));
  return {
    url: `http://${host}:${port}/mcp`,
    port,
    sessions: () => sessions.size,
    shutdown: async () => {
      clearInterval(sweep);
      await Promise.all([...sessions.keys()].map((id) => endSession(id, "server shutting down")));
      stop.abort();
      await modern.close().catch(() => {});
      await finished;
    },
    finished,
  };
}

/** Host, Origin and token checks; a response when the request is refused. */
async function checkRequest(
  request: Request,
  settings: HttpSettings,
  port: number,
): Promise<Response | undefined> {
  const hosts = acceptedHosts(settings, port);
  const host = request.headers.get("host")?.toLowerCase();
  if (hosts !== undefined && (!host || !hosts.has(host))) {
    return json(403, {
      error: `Host "${
        host ?? ""
      }" is not accepted (DNS rebinding protection). Add it to LMSTUDIO_MCP_ALLOWED_HOSTS`,
    });
  }
  const origin = request.headers.get("origin")?.toLowerCase().replace(/\/+$/, "");
  if (origin && origin !== "null") {
    let originHost: string | undefined;
    try {
      originHost = new URL(origin).host;
    } catch {
      originHost = undefined;
    }
    const sameSite = originHost !== undefined &&
      (hosts === undefined ? originHost === host : hosts.has(originHost));
    if (!sameSite && !settings.allowedOrigins.includes(origin)) {
      return json(403, { error: `Origin ${origin} is not accepted. Add it to LMSTUDIO_MCP_ALLOWED_ORIGINS` });
    }
  } else if (origin === "null") {
    return json(403, { error: "Origin null is not accepted" });
  }
  if (settings.token !== undefined) {
    const given = /^Bearer\s+(.+)$/i.exec(request.headers.get("authorization") ?? "")?.[1]?.trim();
    if (given === undefined || !(await sameSecret(given, settings.token))) {
      return new Response(
        JSON.stringify({ error: given === undefined ? "Missing bearer token" : "Invalid bearer token" }),
        {
          status: 401,
          headers: {
            "content-type": "application/json",
            "www-authenticate": `Bearer realm="lmstudio-mcp"${
              given === undefined ? "" : ', error="invalid_token"'
            }`,
          },
        },
      );
    }
  }
  return undefined;
}

/**
 * The `Host` values accepted: the bound address, localhost forms on loopback, and the configured extras.
 * Undefined (any host) when bound to every interface with no list: the token is then the protection.
 */
function acceptedHosts(settings: HttpSettings, port: number): Set<string> | undefined {
  const wildcard = settings.hostname === "0.0.0.0" || settings.hostname === "::";
  if (wildcard && settings.allowedHosts.length === 0) return undefined;
  const hosts = new Set<string>();
  const add = (name: string) => {
    const bare = name.includes(":") && !name.startsWith("[") && name.split(":").length > 2
      ? `[${name}]`
      : name;
    hosts.add(/:\d+$/.test(bare) && !bare.endsWith("]") ? bare : `${bare}:${port}`);
  };
  if (!wildcard) add(settings.hostname.toLowerCase());
  if (settings.loopback) { for (const name of ["localhost", "127.0.0.1", "[::1]"]) add(name); }
  for (const name of settings.allowedHosts) add(name);
  return hosts;
}

/** Constant-time comparison over SHA-256 digests, so neither the content nor the length leaks. */
async function sameSecret(a: string, b: string): Promise<boolean> {
  const digest = async (text: string) =>
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  const [x, y] = await Promise.all([digest(a), digest(b)]);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

function rpcError(status: number, code: number, message: string): Response {
  return json(status, { jsonrpc: "2.0", error: { code, message }, id: null });
}

/** A bounded in-memory event store, so a client that lost its stream can resume with `Last-Event-ID`. */
class ReplayStore implements EventStore {
  readonly #events: { id: string; stream: string; message: Parameters<EventStore["storeEvent"]>[1] }[] = [];
  readonly #max: number;
  #counter = 0;

  constructor(max: number) {
    this.#max = max;
  }

  storeEvent(streamId: string, message: Parameters<EventStore["storeEvent"]>[1]): Promise<string> {
    const id = `${streamId}_${++this.#counter}`;
    this.#events.push({ id, stream: streamId, message });
    if (this.#events.length > this.#max) this.#events.shift();
    return Promise.resolve(id);
  }

  getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return Promise.resolve(this.#events.find((e) => e.id === eventId)?.stream);
  }

  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (eventId: string, message: Parameters<EventStore["storeEvent"]>[1]) => Promise<void> },
  ): Promise<string> {
    const index = this.#events.findIndex((e) => e.id === lastEventId);
    if (index < 0) return "";
    const stream = this.#events[index]!.stream;
    for (const event of this.#events.slice(index + 1)) {
      if (event.stream === stream) await send(event.id, event.message);
    }
    return stream;
  }
}
