/**
 * The 2026-07-28 per-request envelope (`params._meta`), as the transports check it before the SDK sees a
 * request: which era a request belongs to, and the errors that name what a request lacks. A request of
 * that revision carries `io.modelcontextprotocol/protocolVersion` and
 * `io.modelcontextprotocol/clientCapabilities` (and, recommended, `io.modelcontextprotocol/clientInfo`);
 * guessing the keys wrong (`protocolVersion` without the prefix, say) must not quietly make it a 2025
 * request, and a request without them on a 2026-07-28 connection must say what is missing.
 *
 * @module
 */
import { MODERN_REVISION, SERVED_REVISIONS } from "../server/sdk.ts";

/** The envelope key that claims the 2026-07-28 mechanism. */
export const VERSION_KEY = "io.modelcontextprotocol/protocolVersion";
/** The envelope key of the client's capabilities (required). */
export const CAPABILITIES_KEY = "io.modelcontextprotocol/clientCapabilities";
/** The envelope key of the client's name and version (recommended). */
export const CLIENT_INFO_KEY = "io.modelcontextprotocol/clientInfo";

/** The keys a request needs, as the errors name them. */
const NEEDED = `params._meta must hold "${VERSION_KEY}": "${MODERN_REVISION}" and "${CAPABILITIES_KEY}": ` +
  `{…} (the client's capabilities, {} for none), and should hold "${CLIENT_INFO_KEY}": {"name", "version"}`;

/** Methods that exist on 2026-07-28 only: without an envelope they cannot be 2025 requests. */
const MODERN_ONLY_METHODS: ReadonlySet<string> = new Set(["server/discover", "subscriptions/listen"]);

/** Keys a client may put in `_meta` meaning the envelope, but spelled without the prefix. */
const LOOKALIKE_KEYS: readonly string[] = ["protocolVersion", "clientCapabilities", "clientInfo"];

/** A JSON-RPC error a transport answers with. */
export interface EnvelopeError {
  /** The JSON-RPC code. */
  readonly code: number;
  /** What is wrong and what to send. */
  readonly message: string;
  /** Machine-readable detail. */
  readonly data?: Record<string, unknown>;
}

/** A request as the checks read it. */
export interface RpcRequest {
  /** The method. */
  readonly method: string;
  /** The id, as sent. */
  readonly id: unknown;
  /** `params._meta`, when it is an object. */
  readonly meta: Record<string, unknown> | undefined;
}

/**
 * The request in a message, or undefined for a notification, a response or anything else.
 *
 * @param message A parsed JSON-RPC message
 * @returns Its method, id and `_meta`
 */
export function asRequest(message: unknown): RpcRequest | undefined {
  if (typeof message !== "object" || message === null || Array.isArray(message)) return undefined;
  const record = message as { method?: unknown; id?: unknown; params?: unknown };
  if (typeof record.method !== "string" || !("id" in record)) return undefined;
  const params = record.params;
  const meta = typeof params === "object" && params !== null && !Array.isArray(params)
    ? (params as { _meta?: unknown })._meta
    : undefined;
  return {
    method: record.method,
    id: record.id,
    meta: typeof meta === "object" && meta !== null && !Array.isArray(meta)
      ? meta as Record<string, unknown>
      : undefined,
  };
}

/**
 * Whether a request claims the 2026-07-28 envelope (its `_meta` names a protocol version).
 *
 * @param request The request
 * @returns True when the claim key is there
 */
export function claimsEnvelope(request: RpcRequest): boolean {
  return request.meta !== undefined && VERSION_KEY in request.meta;
}

/**
 * Whether a request carries a whole 2026-07-28 envelope: the served revision and the capabilities.
 *
 * @param request The request
 * @returns True for a request the 2026-07-28 era serves
 */
export function hasValidEnvelope(request: RpcRequest): boolean {
  const capabilities = request.meta?.[CAPABILITIES_KEY];
  return request.meta?.[VERSION_KEY] === MODERN_REVISION && typeof capabilities === "object" &&
    capabilities !== null && !Array.isArray(capabilities);
}

/**
 * The -32022 error of an envelope that names a revision this server does not serve on the 2026-07-28
 * path, listing every revision it does serve (2025 ones open with `initialize`); undefined when the
 * revision is served or the claim is not a string (the SDK's envelope check answers that).
 *
 * @param request The request
 * @returns The error, or undefined
 */
export function unsupportedRevision(request: RpcRequest): EnvelopeError | undefined {
  const requested = request.meta?.[VERSION_KEY];
  if (typeof requested !== "string" || requested === MODERN_REVISION) return undefined;
  const legacy = SERVED_REVISIONS.includes(requested);
  return {
    code: -32022,
    message: `Unsupported protocol version ${JSON.stringify(requested.slice(0, 100))}${
      legacy ? " in the _meta envelope: 2025 revisions open with initialize and carry no envelope" : ""
    }. This server speaks ${SERVED_REVISIONS.join(", ")}`,
    data: { supported: [...SERVED_REVISIONS], requested: requested.slice(0, 100) },
  };
}

/**
 * The -32602 error of a request that means the 2026-07-28 era but lacks its envelope, naming the keys it
 * needs; undefined when it does not look like one (no `_meta` lookalike keys, not a 2026-only method).
 * `already` makes every request without the claim such a request: the stdio connection already speaks
 * 2026-07-28 (`"connection"`), or the HTTP request's `MCP-Protocol-Version` header names it (`"header"`).
 *
 * @param request The request, without the claim key
 * @param already What already says the request is 2026-07-28, if anything
 * @returns The error, or undefined
 */
export function missingEnvelope(
  request: RpcRequest,
  already?: "connection" | "header",
): EnvelopeError | undefined {
  const modernConnection = already !== undefined;
  if (claimsEnvelope(request)) return undefined;
  const meta = request.meta ?? {};
  const lookalikes = LOOKALIKE_KEYS.filter((key) => key in meta);
  const partial = [CAPABILITIES_KEY, CLIENT_INFO_KEY].filter((key) => key in meta);
  if (
    !modernConnection && lookalikes.length === 0 && partial.length === 0 &&
    !MODERN_ONLY_METHODS.has(request.method)
  ) {
    return undefined;
  }
  const method = request.method.slice(0, 100);
  const why = already === "connection"
    ? `this connection speaks ${MODERN_REVISION} (it began with a ${MODERN_REVISION} request), and ${method} ` +
      "came without the envelope"
    : already === "header"
    ? `the MCP-Protocol-Version header names ${MODERN_REVISION}, and ${method} came without the envelope`
    : lookalikes.length > 0
    ? `params._meta has ${
      lookalikes.join(", ")
    }: the envelope's keys carry the io.modelcontextprotocol/ prefix`
    : partial.length > 0
    ? `params._meta has ${partial.join(", ")} but not ${VERSION_KEY}`
    : `${request.method} is a ${MODERN_REVISION} method and came without the envelope`;
  const missing = [VERSION_KEY, CAPABILITIES_KEY].filter((key) => !(key in meta));
  return {
    code: -32602,
    message: `Invalid params: ${why}. ${NEEDED}${
      modernConnection ? "" : ". A 2025 client opens with initialize instead"
    }`,
    data: { envelope: { missing } },
  };
}
