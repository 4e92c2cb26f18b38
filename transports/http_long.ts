/**
 * Noticing that the client of a 2026-07-28 request has gone, so its call is cancelled (LM Studio stops
 * generating) rather than run to the end for nobody.
 *
 * `Deno.serve` aborts a request's signal when its connection closes, but misses the close after a body
 * that arrived in a packet of its own (most clients send head and body apart), and a call answered in one
 * plain JSON reply writes nothing until its end. So:
 *
 * - behind the connection guard, the guard sees the client close and says so (its departure signal);
 * - without the guard, a reply not ready after {@linkcode KEEP_ALIVE.afterMs} becomes an SSE stream (the
 *   spec lets the server answer any request either way, and clients must take both) that sends a
 *   keep-alive comment every {@linkcode KEEP_ALIVE.everyMs}: once the client has gone a write fails, the
 *   stream is cancelled and so is the call. A client that accepts only JSON gets its JSON reply.
 *
 * @module
 */

/** When a reply without the guard turns into a kept-alive stream, and how often it says it is alive. */
export const KEEP_ALIVE: Readonly<{ afterMs: number; everyMs: number }> = Object.freeze({
  afterMs: 1_000,
  everyMs: 2_000,
});

/**
 * Serves a 2026-07-28 request so that its call ends when its client goes.
 *
 * @param request The request (its body already read into `parsed`)
 * @param parsed The parsed body (undefined: the request is passed on as it is)
 * @param departed The guard's signal for this connection, or undefined when serving without the guard
 * @param serve Serves a request (the 2026-07-28 leg)
 * @returns The response
 */
export async function servedUntilGone(
  request: Request,
  parsed: unknown,
  departed: AbortSignal | undefined,
  serve: (request: Request) => Promise<Response>,
): Promise<Response> {
  if (parsed === undefined) return await serve(request);
  const gone = new AbortController();
  const signal = AbortSignal.any([request.signal, departed ?? gone.signal]);
  const pending = serve(
    new Request(request.url, { method: request.method, headers: request.headers, signal }),
  );
  if (departed || !(request.headers.get("accept") ?? "").includes("text/event-stream")) return await pending;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((
    resolve,
  ) => (timer = setTimeout(() => resolve(undefined), KEEP_ALIVE.afterMs)));
  const first = await Promise.race([pending, late]);
  clearTimeout(timer);
  return first ?? keptAlive(pending, gone);
}

/** An SSE stream of keep-alive comments until the reply comes; then the reply, as one event. */
function keptAlive(pending: Promise<Response>, gone: AbortController): Response {
  const encoder = new TextEncoder();
  let beat: ReturnType<typeof setInterval> | undefined;
  let inner: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start: (controller) => {
      const send = (text: string) => {
        try {
          controller.enqueue(encoder.encode(text));
        } catch {
          // Closed already.
        }
      };
      send(": keepalive\n\n");
      beat = setInterval(() => send(": keepalive\n\n"), KEEP_ALIVE.everyMs);
      void pending.then(async (response) => {
        clearInterval(beat);
        const type = response.headers.get("content-type") ?? "";
        if (type.startsWith("text/event-stream") && response.body) {
          inner = response.body.getReader();
          for (;;) {
            const next = await inner.read();
            if (next.done) break;
            controller.enqueue(next.value);
          }
        } else {
          const text = await response.text();
          if (text.trim() !== "") {
            send(`event: message\n${text.split(/\r?\n/).map((line) => `data: ${line}`).join("\n")}\n\n`);
          }
        }
        controller.close();
      }).catch(() => {
        try {
          controller.close();
        } catch {
          // The client has gone already.
        }
      });
    },
    cancel: async () => {
      clearInterval(beat);
      gone.abort();
      await inner?.cancel().catch(() => {});
    },
  });
  return new Response(body, {
    status: 200,
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache, no-transform" },
  });
}
