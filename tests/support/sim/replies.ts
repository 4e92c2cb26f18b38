/**
 * The simulator's replies, shaped as LM Studio's: JSON bodies, native errors (`{error: {type, message}}`
 * plus documented extras), OpenAI-style errors, and a body that drops mid-way.
 *
 * @module
 */

/** Encodes SSE and JSON text. */
export const encoder: TextEncoder = new TextEncoder();

/**
 * What a dropped body errors with. Deno's HTTP server prints a failed response body; a plain string
 * (not an Error) prints as this one line instead of a stack trace, so a passing run reads clean.
 */
export const SIMULATED_DROP = "[LM Studio simulator] connection dropped on purpose (injected fault)";

/** A request body as a record (anything else as an empty one). */
export function rec(body: unknown): Record<string, unknown> {
  return typeof body === "object" && body !== null && !Array.isArray(body)
    ? body as Record<string, unknown>
    : {};
}

/** A JSON reply. */
export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/** A native `/api/v1/*` error, as LM Studio words it. */
export function nativeError(status: number, type: string, message: string, extra = {}): Response {
  return json({ error: { type, message, ...extra } }, status);
}

/** An OpenAI-compatible error. */
export function openAiError(status: number, message: string, code: string | null = null): Response {
  return json({ error: { message, type: "invalid_request_error", param: "model", code } }, status);
}

/** A 200 reply whose body sends `first` and then drops the connection. */
export function droppedResponse(contentType = "application/json", first = '{"partial":'): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(first));
    },
    pull(controller) {
      controller.error(SIMULATED_DROP);
    },
  });
  return new Response(body, { status: 200, headers: { "content-type": contentType } });
}

/** A field of a JSON body, when the body is an object. */
export function field(body: unknown, name: string): unknown {
  return typeof body === "object" && body !== null ? (body as Record<string, unknown>)[name] : undefined;
}
