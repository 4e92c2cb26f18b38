/**
 * The 2026-07-28 leg of `/mcp`: stateless requests, each carrying the protocol version and the
 * client's capabilities in its `_meta`, each served by a server instance of its own (the SDK's
 * `createMcpHandler`, strict: it serves the modern era only). The 2025 leg, with sessions and
 * resumption, stays in http_server.ts; {@linkcode isModernRequest} tells them apart the way the SDK does.
 *
 * @module
 */
import type { Logger } from "../lib/logger.ts";
import { createServer, type ServerInfo } from "../server/build_server.ts";
import { createMcpHandler, isLegacyRequest, type McpHttpHandler } from "../server/sdk.ts";
import type { Deps } from "../tools/tool.ts";

/**
 * Whether a request to `/mcp` belongs to the 2026-07-28 era. A request with a `Mcp-Session-Id`, a
 * GET or a DELETE is a 2025 session's; a POST is modern when its body carries the `_meta` envelope
 * claim (the SDK's own classification, so the two legs never disagree).
 *
 * @param request The HTTP request (its body stays readable when `parsed` is not given)
 * @param maxBodyBytes The body bound of both legs
 * @param parsed The body, when it was already read and parsed
 * @returns True for the modern leg
 */
export async function isModernRequest(
  request: Request,
  maxBodyBytes: number,
  parsed?: unknown,
): Promise<boolean> {
  if (request.method !== "POST" || request.headers.has("mcp-session-id")) return false;
  return !(await isLegacyRequest(request, parsed, { maxRequestBodySize: maxBodyBytes }));
}

/**
 * The modern leg's handler: a fresh server per request, sharing LM Studio's client, the config and
 * the stores with every other request.
 *
 * @param deps LM Studio, config, log, stores, and the shutdown signal
 * @param info Name and version for `server/discover`
 * @param maxBodyBytes Largest request body
 * @returns The handler (`fetch`, and `close` to abort exchanges in flight)
 */
export function modernHandler(deps: Deps, info: ServerInfo, maxBodyBytes: number): McpHttpHandler {
  const log: Logger = deps.log;
  return createMcpHandler(({ era }) => createServer(deps, info, era), {
    legacy: "reject",
    maxRequestBodySize: maxBodyBytes,
    onerror: (error) => log.warn(`MCP (2026-07-28 request): ${error.message}`),
  });
}
