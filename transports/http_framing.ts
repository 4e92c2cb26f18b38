/**
 * Where a client is in its stream of HTTP/1.1 requests, read from the bytes it sends: in a request's
 * head, in its body, or between requests. The connection guard uses it to time heads and bodies; it
 * never changes a byte (the HTTP server behind the guard parses the same bytes itself), so a request it
 * cannot follow only loses its timers, never its meaning.
 *
 * The rules are RFC 9112's: a head ends at the first empty line (§2.2 allows a bare LF as a line end and
 * empty lines before the request line); a body is framed by `Transfer-Encoding: chunked` (§7.1, chunks
 * then trailers then an empty line) or else by `Content-Length` (§6.3), and has no length otherwise.
 *
 * What it cannot follow it refuses (phase `refused`, with the status to answer), so that no connection
 * ever goes on without its timers: HTTP/2 without TLS (the `PRI` preface of h2c, which would multiplex
 * streams no timer sees), a `Content-Length` that is not 1 to 15 digits or disagrees with itself, a
 * transfer coding that does not end in `chunked`, a malformed chunk, an oversized head or chunk line.
 *
 * @module
 */

/** What the client is sending now. */
export type FramingPhase =
  /** Nothing of the next request yet. */
  | "idle"
  /** Part of a request head. */
  | "head"
  /** A request body. */
  | "body"
  /** Something this reader does not follow: the connection is to be answered with `refusal` and closed. */
  | "refused";

/** Why a connection's requests cannot be followed, and what to answer. */
export interface Refusal {
  /** The HTTP status: 400 malformed framing, 413 a length no body could have, 431 an oversized head. */
  readonly status: 400 | 413 | 431;
  /** What was wrong, for the client. */
  readonly message: string;
  /** The client spoke HTTP/2 without TLS (answer with an HTTP/2 GOAWAY, not an HTTP/1.1 status). */
  readonly http2?: true;
}

/** Largest request head followed (the server behind refuses larger ones anyway). */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Longest chunk-size or trailer line followed. */
const MAX_LINE_BYTES = 8 * 1024;

type BodyState = "length" | "chunk-size" | "chunk-data" | "chunk-end" | "trailers";

/**
 * Follows one connection's requests.
 *
 * @example
 * ```ts
 * import { RequestFraming } from "./http_framing.ts";
 * const framing = new RequestFraming(0);
 * framing.feed(new TextEncoder().encode("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{"), 5);
 * framing.phase; // "body"
 * ```
 */
export class RequestFraming {
  #phase: FramingPhase = "head";
  #body: BodyState = "length";
  #since: number;
  #head = "";
  #line = "";
  #remaining = 0;
  #requests = 0;
  #refusal: Refusal | undefined;

  /**
   * Starts following a connection.
   *
   * @param now When the connection opened: the first head is timed from then, not from its first byte
   */
  constructor(now: number) {
    this.#since = now;
  }

  /** What the client is sending now. */
  get phase(): FramingPhase {
    return this.#phase;
  }

  /** When the current head or body began (for `head` and `body`). */
  get since(): number {
    return this.#since;
  }

  /** Why the connection is refused (in phase `refused`). */
  get refusal(): Refusal | undefined {
    return this.#refusal;
  }

  /** Heads completed so far. */
  get requests(): number {
    return this.#requests;
  }

  /**
   * Reads the next bytes the client sent.
   *
   * @param bytes The bytes, as they arrived
   * @param now The time they arrived
   */
  feed(bytes: Uint8Array, now: number): void {
    let at = 0;
    while (at < bytes.length) {
      switch (this.#phase) {
        case "refused":
          return;
        case "idle":
          this.#phase = "head";
          this.#since = now;
          this.#head = "";
          break;
        case "head":
          at = this.#readHead(bytes, at, now);
          break;
        case "body":
          at = this.#readBody(bytes, at);
          break;
      }
    }
  }

  #readHead(bytes: Uint8Array, at: number, now: number): number {
    // Empty lines before the request line are skipped (RFC 9112 §2.2).
    if (this.#head === "") {
      while (at < bytes.length && (bytes[at] === 13 || bytes[at] === 10)) at++;
      if (at === bytes.length) return at;
    }
    const before = this.#head.length;
    const take = bytes.subarray(at, at + MAX_HEAD_BYTES + 1 - before);
    this.#head += latin1(take);
    const from = Math.max(0, before - 3);
    const end = /\r?\n\r?\n/.exec(this.#head.slice(from));
    if (!end) {
      if (/^PRI \* HTTP\/2/.test(this.#head)) {
        this.#refuse({
          status: 400,
          message: "HTTP/2 without TLS (h2c) is not served; use HTTP/1.1",
          http2: true,
        });
      } else if (this.#head.length > MAX_HEAD_BYTES) {
        this.#refuse({ status: 431, message: `The request head is over ${MAX_HEAD_BYTES} bytes` });
      }
      return at + take.length;
    }
    const headEnd = from + end.index + end[0].length;
    const head = this.#head.slice(0, headEnd);
    this.#head = "";
    this.#requests++;
    this.#startBody(head, now);
    return at + (headEnd - before);
  }

  #startBody(head: string, now: number): void {
    const lines = head.split(/\r?\n/);
    if (/^PRI \* HTTP\/2/.test(lines[0] ?? "")) {
      return this.#refuse({
        status: 400,
        message: "HTTP/2 without TLS (h2c) is not served; use HTTP/1.1",
        http2: true,
      });
    }
    const lengths: string[] = [];
    const encodings: string[] = [];
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === "content-length") lengths.push(...value.split(",").map((v) => v.trim()));
      if (name === "transfer-encoding") {
        encodings.push(...value.split(",").map((v) => v.trim().toLowerCase()));
      }
    }
    this.#since = now;
    if (encodings.length > 0) {
      // A request whose last coding is not chunked has no knowable length (RFC 9112 §6.3).
      if (encodings.at(-1) !== "chunked") {
        return this.#refuse({ status: 400, message: "Transfer-Encoding must end in chunked" });
      }
      this.#phase = "body";
      this.#body = "chunk-size";
      this.#line = "";
      return;
    }
    if (lengths.length > 0) {
      const first = lengths[0]!;
      if (lengths.some((value) => value !== first)) {
        return this.#refuse({ status: 400, message: "Conflicting Content-Length values" });
      }
      if (/^\d{16,}$/.test(first)) {
        return this.#refuse({ status: 413, message: `Content-Length ${first.slice(0, 40)} is too large` });
      }
      if (!/^\d{1,15}$/.test(first)) {
        return this.#refuse({ status: 400, message: "Content-Length is not a number of bytes" });
      }
      this.#remaining = Number(first);
    } else {
      this.#remaining = 0;
    }
    this.#body = "length";
    this.#phase = this.#remaining > 0 ? "body" : "idle";
  }

  #readBody(bytes: Uint8Array, at: number): number {
    switch (this.#body) {
      case "length":
      case "chunk-data": {
        const take = Math.min(this.#remaining, bytes.length - at);
        this.#remaining -= take;
        if (this.#remaining === 0) {
          if (this.#body === "length") this.#phase = "idle";
          else this.#body = "chunk-end";
          this.#line = "";
        }
        return at + take;
      }
      default: {
        const newline = bytes.indexOf(10, at);
        const end = newline < 0 ? bytes.length : newline;
        this.#line += latin1(bytes.subarray(at, end));
        if (this.#line.length > MAX_LINE_BYTES) {
          this.#refuse({
            status: 431,
            message: `A chunk-size or trailer line is over ${MAX_LINE_BYTES} bytes`,
          });
          return bytes.length;
        }
        if (newline >= 0) this.#endLine(this.#line.replace(/\r$/, ""));
        return newline < 0 ? bytes.length : newline + 1;
      }
    }
  }

  #refuse(refusal: Refusal): void {
    this.#phase = "refused";
    this.#refusal = refusal;
  }

  #endLine(line: string): void {
    this.#line = "";
    switch (this.#body) {
      case "chunk-size": {
        const size = line.split(";")[0]!.trim();
        if (!/^[0-9a-fA-F]{1,12}$/.test(size)) {
          return this.#refuse({ status: 400, message: "Malformed chunk size" });
        }
        this.#remaining = parseInt(size, 16);
        this.#body = this.#remaining === 0 ? "trailers" : "chunk-data";
        return;
      }
      case "chunk-end":
        if (line !== "") {
          return this.#refuse({ status: 400, message: "A chunk does not end where its size says" });
        }
        this.#body = "chunk-size";
        return;
      case "trailers":
        if (line === "") this.#phase = "idle";
        return;
    }
  }
}

function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return text;
}
