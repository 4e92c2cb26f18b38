/**
 * HTTP mode in process with the server's own settings chosen by the test (heartbeat, history database,
 * API key: what `LM_STUDIO_*` variables set), and raw 2026-07-28 requests: each carries the per-request
 * `_meta` envelope with the capabilities the test declares (the tasks extension, say).
 *
 * @module
 */
import { parseConfig } from "../../lib/config/config.ts";
import { createStderrLogger } from "../../lib/config/logger.ts";
import { httpSettings } from "../../transports/http_listen.ts";
import { type HttpHandle, type HttpLimits, serveHttp } from "../../transports/http.ts";
import { mcpApp } from "../../server/build_server.ts";
import { buildDeps } from "../../server/deps.ts";

/** A server under test. */
export interface ConfiguredServer extends AsyncDisposable {
  readonly handle: HttpHandle;
  /** Its log lines. */
  readonly log: string[];
}

/**
 * Starts `serveHttp` on 127.0.0.1 port 0 with this configuration.
 *
 * @param env The server's variables (`LM_STUDIO_URL`, `LM_STUDIO_HEARTBEAT_MS`, `MCP_SESSIONS_DB`, …)
 * @param limits Bounds to change
 * @returns The server; dispose it to stop it
 */
export function serveConfigured(
  env: Record<string, string>,
  limits: Partial<HttpLimits> = {},
): ConfiguredServer {
  const { config } = parseConfig({ MCP_SESSIONS_DB: ":memory:", ...env }, {});
  const log: string[] = [];
  const logger = createStderrLogger((line) => log.push(line));
  const settings = httpSettings("127.0.0.1:0", {}, () => "");
  const built = buildDeps(config, logger, { secrets: [settings.token] });
  const handle = serveHttp(
    settings,
    mcpApp(built.deps, { name: "lmstudio-mcp", version: "test" }),
    undefined,
    limits,
  );
  return {
    handle,
    log,
    [Symbol.asyncDispose]: async () => {
      await handle.shutdown();
      built.close();
    },
  };
}

/** The tasks extension, as a client declares it. */
export const TASKS_CAPABILITIES = { extensions: { "io.modelcontextprotocol/tasks": {} } };

let nextId = 1;

/**
 * Sends one 2026-07-28 request and reads its reply (JSON, or the reply in an SSE stream).
 *
 * @param url The `/mcp` URL
 * @param method The method
 * @param params Its params (the envelope is added to `_meta`)
 * @param capabilities The client's capabilities
 * @returns The JSON-RPC reply
 */
export async function modernRequest(
  url: string,
  method: string,
  params: Record<string, unknown> = {},
  capabilities: Record<string, unknown> = TASKS_CAPABILITIES,
): Promise<{ result?: Record<string, unknown>; error?: { code: number; message: string } }> {
  const envelope = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": { name: "raw", version: "0" },
    "io.modelcontextprotocol/clientCapabilities": capabilities,
  };
  // The Mcp-Name header repeats what the request is about: a tool's name, a task's id.
  const named = method === "tools/call"
    ? params.name
    : method.startsWith("tasks/")
    ? params.taskId
    : undefined;
  const name = typeof named === "string" ? named : undefined;
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": method,
      ...(name ? { "mcp-name": name } : {}),
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: nextId++,
      method,
      params: { ...params, _meta: { ...(params._meta as object | undefined), ...envelope } },
    }),
  });
  const text = await response.text();
  if (!text) throw new Error(`${method}: HTTP ${response.status} with no body`);
  if (!(response.headers.get("content-type") ?? "").startsWith("text/event-stream")) return JSON.parse(text);
  const replies = text.split("\n").filter((line) => line.startsWith("data: ") && line.length > 6)
    .map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>)
    .filter((message) => "result" in message || "error" in message);
  if (!replies.length) throw new Error(`${method}: no reply in the stream (HTTP ${response.status})`);
  return replies.at(-1) as never;
}
