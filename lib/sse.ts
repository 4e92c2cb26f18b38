/**
 * Server-Sent Events from a byte stream, with Web Streams only:
 * `bytes → TextDecoderStream → (final blank line) → EventSourceParserStream`.
 *
 * The parser (`npm:eventsource-parser`) implements the WHATWG rules: events split across chunks,
 * multi-line `data:`, `:` comments, CR/LF/CRLF line ends. We add one thing: a last event sent
 * without its terminating blank line is still dispatched.
 *
 * @module
 */
import { type EventSourceMessage, EventSourceParserStream } from "eventsource-parser/stream";

export type { EventSourceMessage };

/**
 * Parses a byte stream into Server-Sent Events.
 *
 * @param body The raw bytes (e.g. `response.body`)
 * @returns The events, in order
 * @example
 * ```ts
 * import { eventStream } from "./sse.ts";
 * const bytes = new Response("event: ping\ndata: {}\n\n").body!;
 * const names: (string | undefined)[] = [];
 * for await (const event of eventStream(bytes)) names.push(event.event); // ["ping"]
 * ```
 */
export function eventStream(body: ReadableStream<Uint8Array>): ReadableStream<EventSourceMessage> {
  return body
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(finalBlankLine())
    .pipeThrough(new EventSourceParserStream());
}

/**
 * Ends the text with a blank line so that a last event sent without its terminating blank line is
 * still dispatched; an extra blank line after a complete event dispatches nothing (WHATWG HTML
 * §9.2.6, "If the line is empty … dispatch the event").
 */
function finalBlankLine(): TransformStream<string, string> {
  return new TransformStream<string, string>({
    transform: (chunk, controller) => controller.enqueue(chunk),
    flush: (controller) => controller.enqueue("\n\n"),
  });
}
