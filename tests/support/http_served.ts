/**
 * HTTP mode in process for tests: `serveHttp` on 127.0.0.1 port 0 against the simulator, with the
 * bounds a test chooses, plus raw helpers (an initialized session over `fetch`, a hand-written request
 * over TCP) for what an SDK client would not do.
 *
 * @module
 */
import { Client } from "@modelcontextprotocol/client";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { parseConfig } from "../../lib/config/config.ts";
import { httpSettings } from "../../transports/http_listen.ts";
import { createStderrLogger } from "../../lib/config/logger.ts";
import { openSessionStore } from "../../lib/history/sessions.ts";
import { type HttpHandle, type HttpLimits, serveHttp } from "../../transports/http.ts";
import type { LmStudioSim } from "./lmstudio_sim.ts";
import { mcpApp } from "../../server/build_server.ts";
import { buildDeps } from "../../server/deps.ts";

/** A server under test. */
export interface Served extends AsyncDisposable {
  readonly handle: HttpHandle;
  /** Its log lines. */
  readonly log: string[];
  /** Connects an SDK client (closed on dispose). */
  connect(): Promise<Client>;
}

/** Options of {@linkcode serveForTest}. */
export interface ServeOptions {
  /** HTTP-mode variables (`LMSTUDIO_MCP_*`). */
  readonly env?: Record<string, string>;
  /** Bounds to change. */
  readonly limits?: Partial<HttpLimits>;
  /** The chat history database. @default ":memory:" */
  readonly sessionsDb?: string;
}

/**
 * Starts `serveHttp` against the simulator.
 *
 * @param sim The simulator
 * @param options Variables, bounds, history database
 * @returns The server; dispose it to stop it
 */
export function serveForTest(sim: LmStudioSim, options: ServeOptions = {}): Served {
  const env = options.env ?? {};
  const db = options.sessionsDb ?? ":memory:";
  const { config } = parseConfig({ LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: db }, {});
  const log: string[] = [];
  const logger = createStderrLogger((line) => log.push(line));
  const settings = httpSettings(env.LMSTUDIO_MCP_HTTP ?? "127.0.0.1:0", env, () => "");
  const built = buildDeps(config, logger, { secrets: [settings.token] });
  const handle = serveHttp(
    settings,
    mcpApp(built.deps, { name: "lmstudio-mcp", version: "test" }),
    undefined,
    options.limits,
  );
  const clients: Client[] = [];
  return {
    handle,
    log,
    connect: async () => {
      const client = new Client({ name: "http-limits-test", version: "0" });
      await client.connect(new StreamableHTTPClientTransport(new URL(handle.url)));
      clients.push(client);
      return client;
    },
    [Symbol.asyncDispose]: async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => {})));
      await handle.shutdown();
      built.close();
    },
  };
}

/** The headers of a request in an initialized session. */
export type SessionHeaders = Record<string, string>;

const BASE_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };

/**
 * Opens an MCP session over plain `fetch` (initialize, then `notifications/initialized`).
 *
 * @param url The `/mcp` URL
 * @returns The headers to send in that session
 */
export async function openSession(url: string): Promise<SessionHeaders> {
  const init = await fetch(url, {
    method: "POST",
    headers: BASE_HEADERS,
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "0" } },
    }),
  });
  await init.body?.cancel();
  const session = init.headers.get("mcp-session-id");
  if (!session) throw new Error(`initialize failed: HTTP ${init.status}`);
  const headers = { ...BASE_HEADERS, "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" };
  await (await fetch(url, {
    method: "POST",
    headers,
    body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
  })).body?.cancel();
  return headers;
}

/**
 * POSTs one JSON-RPC message (or a batch) in a session.
 *
 * @param url The `/mcp` URL
 * @param headers From {@linkcode openSession}
 * @param body The message
 * @returns The response, body unread
 */
export function post(url: string, headers: SessionHeaders, body: unknown): Promise<Response> {
  return fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
}

/**
 * A `tools/call` request.
 *
 * @param id Its id
 * @param name The tool
 * @param args Its arguments
 * @returns The message
 */
export function toolCall(id: number | string, name: string, args: Record<string, unknown>): unknown {
  return { jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } };
}

/**
 * Reads an SSE response until a JSON-RPC reply with this id arrives (or the stream ends).
 *
 * @param response The response
 * @param id The id
 * @returns The reply, or undefined when the stream ended first
 */
export async function replyOf(
  response: Response,
  id: number | string,
): Promise<Record<string, unknown> | undefined> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      text += value;
      const lines = text.split("\n");
      text = lines.pop()!; // An incomplete line waits for the rest.
      for (const line of lines) {
        if (!line.startsWith("data: ") || line.length === 6) continue;
        const message = JSON.parse(line.slice(6)) as Record<string, unknown>;
        if (message.id === id && ("result" in message || "error" in message)) return message;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** A raw TCP connection to the server. */
export interface RawConnection extends AsyncDisposable {
  /** Writes text. Resolves false once the server has closed the connection. */
  write(text: string): Promise<boolean>;
  /** Everything the server sent so far. */
  received(): string;
  /** Whether the server closed the connection. */
  closed(): boolean;
}

/**
 * Opens a TCP connection and reads whatever the server sends, in the background.
 *
 * @param port The server's port
 * @returns The connection
 */
export async function rawConnection(port: number): Promise<RawConnection> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let text = "";
  let ended = false;
  const reading = (async () => {
    const buffer = new Uint8Array(16 * 1024);
    const decoder = new TextDecoder();
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch {
        n = null;
      }
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
    ended = true;
  })();
  return {
    write: async (data) => {
      try {
        await conn.write(new TextEncoder().encode(data));
        return true;
      } catch {
        return false;
      }
    },
    received: () => text,
    closed: () => ended,
    [Symbol.asyncDispose]: async () => {
      try {
        conn.close();
      } catch {
        // Closed by the server already.
      }
      await reading;
    },
  };
}

/**
 * Writes a chat session straight into a history database: `turns` turns of about `chars` characters in
 * all (seeded text, so runs repeat).
 *
 * @param db The database file
 * @param id The session id
 * @param chars About how many characters
 * @param turns How many turns
 */
export function writeChatSession(db: string, id: string, chars: number, turns = 3): void {
  const store = openSessionStore(db);
  try {
    const words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"];
    const half = Math.ceil(chars / turns / 2);
    const text = (seed: number) => {
      let out = "";
      for (let i = seed; out.length < half; i++) out += words[(i * 7) % words.length] + " ";
      return out.slice(0, half);
    };
    for (let turn = 0; turn < turns; turn++) {
      store.appendTurn(id, turn, null, {
        user: text(turn),
        assistant: text(turn + 1),
        reasoning: null,
        model: "qwen/qwen3-8b",
        prompt_tokens: null,
        completion_tokens: null,
      });
    }
  } finally {
    store.close();
  }
}
