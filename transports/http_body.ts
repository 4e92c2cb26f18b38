/**
 * The small pieces of an HTTP exchange every leg shares: reading a POST's JSON body within its size and
 * time bounds, and the JSON and JSON-RPC error replies (never a stack trace).
 *
 * @module
 */

/** A request body: the parsed JSON of a POST, or nothing to parse. */
export interface ParsedBody {
  /** The parsed JSON, or undefined (not a JSON POST: the transport answers it). */
  readonly parsed: unknown;
}

/**
 * Reads a POST's JSON body within the size and time bounds; other methods, and bodies the transport
 * refuses on sight (a `Content-Type` other than JSON), are left to the transport.
 *
 * @param request The request
 * @param maxBytes Largest body
 * @param timeoutMs How long the whole body may take to arrive
 * @returns The parsed body, or the error reply (413, 408, 400 with a JSON-RPC error)
 */
export async function readJsonBody(
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

/**
 * Whether a response is an open SSE stream (a call's, or a resumed one).
 *
 * @param response The response
 * @returns True for `200 text/event-stream`
 */
export function isEventStream(response: Response): boolean {
  return response.status === 200 &&
    (response.headers.get("content-type") ?? "").startsWith("text/event-stream");
}

/**
 * A JSON reply.
 *
 * @param status The HTTP status
 * @param body Serialised as JSON
 * @param headers More headers
 * @returns The response
 */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * A JSON-RPC error reply without an id (the request's could not be read, or it has none).
 *
 * @param status The HTTP status
 * @param code The JSON-RPC error code
 * @param message What failed and what to do
 * @param headers More headers (say, `retry-after`)
 * @returns The response
 */
export function rpcError(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return json(status, { jsonrpc: "2.0", error: { code, message }, id: null }, headers);
}

/**
 * A JSON-RPC id as a reply may carry it: a string or number, else null.
 *
 * @param id What the request said
 * @returns The id to reply with
 */
export function validId(id: unknown): string | number | null {
  return typeof id === "string" || typeof id === "number" ? id : null;
}
