/**
 * The 2026-07-28 leg of `/mcp`: stateless requests, each carrying the protocol version and the
 * client's capabilities in its `_meta`, each served by a server instance of its own (the SDK's
 * `createMcpHandler`, strict: it serves the modern era only). The 2025 leg, with sessions and
 * resumption, stays in http.ts; {@linkcode isModernRequest} tells them apart the way the SDK does.
 *
 * Before the SDK sees a request, this leg answers what the SDK would answer one problem at a time or
 * too narrowly: every missing or mismatched standard header (`MCP-Protocol-Version`, `Mcp-Method`,
 * `Mcp-Name`) in one -32020 error, and an envelope naming a revision not served with a -32022 that lists
 * every revision served (2025 ones included). A stray `Mcp-Session-Id` on a 2026-07-28 request is
 * dropped: the request is served.
 *
 * @module
 */
import type { Logger } from "../lib/config/logger.ts";
import type { InstanceScope, McpApp } from "../server/build_server.ts";
import { createMcpHandler, isLegacyRequest, type McpHttpHandler, MODERN_REVISION } from "../server/sdk.ts";
import {
  asRequest,
  CAPABILITIES_KEY,
  claimsEnvelope,
  type EnvelopeError,
  missingEnvelope,
  type RpcRequest,
  unsupportedRevision,
  VERSION_KEY,
} from "./envelope.ts";

/**
 * Whether a request to `/mcp` belongs to the 2026-07-28 era. A GET or a DELETE is a 2025 session's; a
 * POST is modern when its body carries the `_meta` envelope claim (the SDK's own classification, so the
 * two legs never disagree), whether or not a stray `Mcp-Session-Id` came with it.
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
  if (request.method !== "POST") return false;
  // With a session id, only an envelope claim makes it modern (a stray id on a 2026-07-28 request);
  // anything else is the session's, whose leg answers for it (404 for a session that ended).
  if (request.headers.has("mcp-session-id")) {
    const meta = (parsed as { params?: { _meta?: unknown } } | null)?.params?._meta;
    return typeof meta === "object" && meta !== null && VERSION_KEY in meta;
  }
  return !(await isLegacyRequest(request, parsed, { maxRequestBodySize: maxBodyBytes }));
}

/**
 * The modern leg's handler: a fresh server per request, sharing LM Studio's client, the config and
 * the stores with every other request.
 *
 * @param app Builds the instances; the log
 * @param maxBodyBytes Largest request body
 * @param scope Who the tasks started here belong to (every request passed the same token check), and
 *   the signal of the server's shutdown
 * @returns The handler (`fetch`, and `close` to abort exchanges in flight)
 */
export function modernHandler(app: McpApp, maxBodyBytes: number, scope: InstanceScope): McpHttpHandler {
  const log: Logger = app.log;
  const handler = createMcpHandler(({ era }) => app.make(era, scope), {
    legacy: "reject",
    maxRequestBodySize: maxBodyBytes,
    onerror: (error) => log.warn(`MCP (2026-07-28 request): ${error.message}`),
  });
  return {
    ...handler,
    fetch: (request: Request, options?: { parsedBody?: unknown }) => {
      const message = asRequest(options?.parsedBody);
      if (
        message && !claimsEnvelope(message) &&
        request.headers.get("mcp-protocol-version")?.trim() === MODERN_REVISION
      ) {
        const error = missingEnvelope(message, "header");
        if (error) return Promise.resolve(rpcError(message.id, error));
      }
      if (message && claimsEnvelope(message) && wellFormed(message)) {
        // The SDK's order: a version header that contradicts the envelope, then an unsupported revision,
        // then the other headers.
        const problems = headerProblems(request, message.method, options?.parsedBody);
        const clash = problems.some((p) =>
          p.header === "MCP-Protocol-Version" && !p.problem.startsWith("missing")
        );
        const error = clash
          ? mismatch(problems)
          : unsupportedRevision(message) ?? (problems.length > 0 ? mismatch(problems) : undefined);
        if (error) return Promise.resolve(rpcError(message.id, error));
      }
      return handler.fetch(withoutSessionId(request), options as never);
    },
  } as McpHttpHandler;
}

/** Which body field each method's `Mcp-Name` header mirrors (SEP-2243; tasks/* from SEP-2663). */
const NAME_SOURCE: Readonly<Record<string, string>> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
  "tasks/get": "taskId",
  "tasks/update": "taskId",
  "tasks/cancel": "taskId",
};

/** Whether the envelope is whole enough for the header checks (else the SDK's -32602 says what is wrong). */
function wellFormed(message: RpcRequest): boolean {
  const capabilities = message.meta?.[CAPABILITIES_KEY];
  return typeof message.meta?.[VERSION_KEY] === "string" && typeof capabilities === "object" &&
    capabilities !== null && !Array.isArray(capabilities);
}

/** One standard header that is missing or disagrees with the body. */
interface HeaderProblem {
  readonly header: string;
  readonly problem: string;
}

/** Every standard header of a 2026-07-28 request that is missing or disagrees with the body. */
function headerProblems(request: Request, method: string, body: unknown): HeaderProblem[] {
  const problems: HeaderProblem[] = [];
  const header = (name: string) => {
    const value = request.headers.get(name);
    return value === null ? undefined : value.trim();
  };
  const params = (body as { params?: Record<string, unknown> }).params ?? {};
  const claimed = String(
    (params._meta as Record<string, unknown>)["io.modelcontextprotocol/protocolVersion"],
  );
  const version = header("mcp-protocol-version");
  if (version === undefined) {
    problems.push({ header: "MCP-Protocol-Version", problem: `missing (send ${claimed})` });
  } else if (version !== claimed) {
    problems.push({
      header: "MCP-Protocol-Version",
      problem: `says ${JSON.stringify(version.slice(0, 100))}, the envelope ${claimed}`,
    });
  }
  const methodHeader = header("mcp-method");
  if (methodHeader === undefined) {
    problems.push({ header: "Mcp-Method", problem: `missing (send ${method})` });
  } else if (methodHeader !== method) {
    problems.push({
      header: "Mcp-Method",
      problem: `says ${JSON.stringify(methodHeader.slice(0, 100))}, the body ${method}`,
    });
  }
  const field = Object.hasOwn(NAME_SOURCE, method) ? NAME_SOURCE[method] : undefined;
  const expected = field === undefined ? undefined : params[field];
  if (typeof expected === "string") {
    const raw = header("mcp-name");
    const named = raw === undefined ? undefined : decodeSentinel(raw);
    if (raw === undefined) {
      problems.push({
        header: "Mcp-Name",
        problem: `missing (send params.${field}, ${JSON.stringify(expected)})`,
      });
    } else if (named === undefined) {
      problems.push({ header: "Mcp-Name", problem: "its =?base64?…?= value is not valid Base64" });
    } else if (named !== expected) {
      problems.push({
        header: "Mcp-Name",
        problem: `says ${JSON.stringify(named.slice(0, 200))}, the body's params.${field} ${
          JSON.stringify(expected)
        }`,
      });
    }
  }
  return problems;
}

/** The one -32020 error naming every header problem. */
function mismatch(problems: readonly HeaderProblem[]): EnvelopeError {
  return {
    code: -32020,
    message:
      `Bad Request: the request headers and body disagree: ${
        problems.map((p) => `${p.header} ${p.problem}`).join("; ")
      }. A 2026-07-28 request over HTTP sends MCP-Protocol-Version, Mcp-Method and, for ` +
      "tools/call, prompts/get, resources/read and tasks/*, Mcp-Name",
    data: { headers: problems },
  };
}

/** An `Mcp-Name` value, decoded when it is a `=?base64?…?=` sentinel; undefined when that is broken. */
function decodeSentinel(value: string): string | undefined {
  if (!value.startsWith("=?base64?") || !value.endsWith("?=")) return value;
  const encoded = value.slice(9, -2);
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(encoded)) return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0)),
    );
  } catch {
    return undefined;
  }
}

/** The request without a `Mcp-Session-Id`, which has no meaning on the 2026-07-28 path. */
function withoutSessionId(request: Request): Request {
  if (!request.headers.has("mcp-session-id")) return request;
  const headers = new Headers(request.headers);
  headers.delete("mcp-session-id");
  return new Request(request.url, { method: request.method, headers, signal: request.signal });
}

function rpcError(id: unknown, error: EnvelopeError): Response {
  const validId = typeof id === "string" || typeof id === "number" ? id : null;
  return new Response(
    JSON.stringify({ jsonrpc: "2.0", id: validId, error }),
    { status: 400, headers: { "content-type": "application/json" } },
  );
}
