/**
 * The edge every transport's messages pass before the SDK sees them: a request whose shape the MCP
 * schemas reject gets the JSON-RPC error the spec names (-32600 invalid request, -32602 invalid params)
 * with its id. Without it the SDK answers a malformed `tools/call` (say, `arguments: "text"`) with
 * -32603 internal error, and a message that is not JSON-RPC at all goes unanswered.
 *
 * @module
 */
import {
  ClientRequestSchema,
  type JSONRPCMessage,
  JSONRPCMessageSchema,
  ProtocolErrorCode as ErrorCode,
  type Transport,
} from "../server/sdk.ts";

/** A JSON-RPC id, or null when a message has none we can read. */
export type Id = string | number | null;

const KNOWN_METHODS: ReadonlySet<string> = new Set(
  ClientRequestSchema.options.map((option: { shape: { method: { value: string } } }) =>
    option.shape.method.value
  ),
);

/**
 * Wraps a transport so that malformed messages are answered here and only valid ones reach the server.
 *
 * @param inner The transport (stdio, in-memory, HTTP)
 * @returns A transport to pass to `server.connect`
 */
export function guarded(inner: Transport): Transport {
  const outer: Transport = {
    start: () => inner.start(),
    send: (message, options) => inner.send(message, options),
    close: () => inner.close(),
  };
  inner.onclose = () => outer.onclose?.();
  inner.onerror = (error) => outer.onerror?.(error);
  inner.onmessage = (value, extra) => {
    const problem = check(value);
    if (problem) {
      if (problem.reply) {
        void inner.send(
          {
            jsonrpc: "2.0",
            id: problem.id,
            error: { code: problem.code, message: problem.message },
          } as unknown as JSONRPCMessage,
        );
      }
      return;
    }
    outer.onmessage?.(value, extra);
  };
  Object.defineProperty(outer, "sessionId", { get: () => inner.sessionId });
  if (inner.setProtocolVersion) outer.setProtocolVersion = (version) => inner.setProtocolVersion?.(version);
  if (inner.setSupportedProtocolVersions) {
    outer.setSupportedProtocolVersions = (versions) => inner.setSupportedProtocolVersions?.(versions);
  }
  return outer;
}

interface Problem {
  readonly reply: boolean;
  readonly id: Id;
  readonly code: number;
  readonly message: string;
}

function check(value: unknown): Problem | undefined {
  const record = typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
  const id = validId(record?.id);
  const parsed = JSONRPCMessageSchema.safeParse(value);
  if (!parsed.success) {
    // A notification (no id) that does not parse gets no reply, as JSON-RPC says; anything else does.
    const notification = record !== undefined && !("id" in record) && typeof record.method === "string";
    return {
      reply: !notification,
      id,
      code: ErrorCode.InvalidRequest,
      message: record && "id" in record
        ? `Invalid Request: ${firstIssue(parsed.error)}`
        : "Invalid Request: not a JSON-RPC 2.0 message",
    };
  }
  const message = parsed.data as JSONRPCMessage;
  if ("method" in message && "id" in message && KNOWN_METHODS.has(message.method)) {
    const checked = ClientRequestSchema.safeParse({ method: message.method, params: message.params });
    if (!checked.success) {
      return {
        reply: true,
        id: message.id,
        code: ErrorCode.InvalidParams,
        message: `Invalid params for ${message.method}: ${firstIssue(checked.error)}`,
      };
    }
  }
  return undefined;
}

/**
 * The message's id when it is one JSON-RPC allows, else null.
 *
 * @param value The `id` field as it arrived
 * @returns The id, or null
 */
export function validId(value: unknown): Id {
  return typeof value === "string" || (typeof value === "number" && Number.isFinite(value)) ? value : null;
}

function firstIssue(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  const issue = error.issues[0];
  if (!issue) return "it does not match the schema";
  const where = issue.path.length ? ` at ${issue.path.map(String).join(".")}` : "";
  return `${issue.message}${where}`;
}
