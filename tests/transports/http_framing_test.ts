/**
 * RequestFraming follows a client's HTTP/1.1 requests the way RFC 9112 frames them, however the bytes
 * are split: heads (CRLF or bare LF), Content-Length and chunked bodies (with trailers), pipelining,
 * and what it does not follow (HTTP/2, conflicting lengths, oversized heads).
 */
import assert from "node:assert/strict";
import { MAX_HEAD_BYTES, RequestFraming } from "../../transports/http_framing.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

/** Feeds `text` in pieces cut by a seeded generator; returns the framing. */
function feedSplit(text: string, seed: number): RequestFraming {
  const framing = new RequestFraming(0);
  const all = bytes(text);
  let state = seed;
  let at = 0;
  while (at < all.length) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const size = 1 + (state % 7);
    framing.feed(all.subarray(at, at + size), at);
    at += size;
  }
  return framing;
}

const POST = (body: string) =>
  `POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
const CHUNKED = "POST /mcp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" +
  "5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: yes\r\n\r\n";

Deno.test("RequestFraming follows pipelined requests with Content-Length and chunked bodies, in any split", () => {
  const stream = POST('{"a":1}') + "GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + CHUNKED + POST("{}");
  for (let seed = 1; seed <= 50; seed++) {
    const framing = feedSplit(stream, seed);
    assert.equal(framing.phase, "idle", `seed ${seed}`);
    assert.equal(framing.requests, 4, `seed ${seed}`);
  }
});

Deno.test("RequestFraming times a head from its first byte and a body from the end of its head", () => {
  const framing = new RequestFraming(0);
  assert.equal(framing.phase, "head", "the first head is timed from the connection's start");
  framing.feed(bytes("GET / HTTP/1.1\r\n\r\n"), 10);
  assert.equal(framing.phase, "idle");
  framing.feed(bytes("POST / HTTP/1.1\r\n"), 20);
  assert.deepEqual([framing.phase, framing.since], ["head", 20]);
  framing.feed(bytes("Content-Length: 4\r\n\r\n{"), 30);
  assert.deepEqual([framing.phase, framing.since], ["body", 30]);
  framing.feed(bytes('"}\n'), 40);
  assert.equal(framing.phase, "idle");
});

Deno.test("RequestFraming accepts bare LF line ends and empty lines before a request line", () => {
  const framing = feedSplit("\r\n\nPOST / HTTP/1.1\nContent-Length: 2\n\n{}GET / HTTP/1.1\n\n", 3);
  assert.deepEqual([framing.phase, framing.requests], ["idle", 2]);
});

Deno.test("RequestFraming refuses what it cannot follow, with the status to answer", () => {
  const refusal = (text: string, seed?: number) => {
    const framing = seed === undefined ? new RequestFraming(0) : feedSplit(text, seed);
    if (seed === undefined) framing.feed(bytes(text), 0);
    return framing.phase === "refused" ? framing.refusal : framing.phase;
  };
  for (let seed = 1; seed <= 10; seed++) {
    // h2c is recognised from its first bytes, before any empty line.
    assert.deepEqual(refusal("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", seed), {
      status: 400,
      message: "HTTP/2 without TLS (h2c) is not served; use HTTP/1.1",
      http2: true,
    });
  }
  const whole = refusal("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  assert.ok(typeof whole === "object" && whole.http2, "refused when the preface comes in one piece");
  const early = refusal("PRI * HTTP/2.0\r\n");
  assert.ok(typeof early === "object" && early.http2, "refused before the head ends");
  const status = (text: string) => {
    const result = refusal(text);
    return typeof result === "string" ? result : result?.status;
  };
  assert.equal(status("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n"), 400);
  assert.equal(status("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
  assert.equal(status("POST / HTTP/1.1\r\nContent-Length: 999999999999999\r\n\r\n"), "body", "15 digits");
  assert.equal(status("POST / HTTP/1.1\r\nContent-Length: 1000000000000000\r\n\r\n"), 413, "16 digits");
  assert.equal(status(`POST / HTTP/1.1\r\nContent-Length: ${"9".repeat(40)}\r\n\r\n`), 413);
  assert.equal(status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 400);
  assert.equal(status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), 400);
  assert.equal(status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n"), 400);
  assert.equal(status(`POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;${"x".repeat(9000)}`), 431);
  assert.equal(status("POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\n{}"), "idle", "repeated equal values");
  assert.equal(status(`GET / HTTP/1.1\r\nX: ${"a".repeat(MAX_HEAD_BYTES)}`), 431);
  // Once refused, nothing more is followed.
  const framing = new RequestFraming(0);
  framing.feed(bytes("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\nGET / HTTP/1.1\r\n\r\n"), 0);
  assert.deepEqual([framing.phase, framing.requests], ["refused", 1]);
});
