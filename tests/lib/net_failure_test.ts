/**
 * `lib/lmstudio/net_failure.ts` alone: the errors Deno's fetch throws on each platform, classified by kind, with
 * the message found anywhere in the cause chain.
 */
import assert from "node:assert/strict";
import { causeMessages, classifyNetFailure, type NetFailureKind } from "../../lib/lmstudio/net_failure.ts";
import { UnreachableError } from "../../lib/errors.ts";

const wrap = (message: string) => new TypeError("fetch failed", { cause: new Error(message) });

const CASES: readonly [message: string, kind: NetFailureKind][] = [
  ["tcp connect error: Connection refused (os error 111)", "refused"],
  ["error trying to connect: ECONNREFUSED", "refused"],
  ["No connection could be made because the target machine actively refused it. (os error 10061)", "refused"],
  ["connection reset by peer (os error 104)", "reset"],
  ["connection closed before message completed", "reset"],
  ["Broken pipe", "reset"],
  ["tcp connect error: Connection timed out (os error 110)", "timeout"],
  ["operation timed out", "timeout"],
  ["Operation Timed Out", "timeout"],
  ["connect ETIMEDOUT 10.0.0.1:1234", "timeout"],
  ["os error 110", "timeout"],
  ["dns error: failed to lookup address information: Name or service not known", "dns"],
  ["getaddrinfo ENOTFOUND lmstudio.local", "dns"],
  ["nodename nor servname provided, or not known", "dns"],
  ["invalid peer certificate: UnknownIssuer", "tls"],
  ["something else entirely", "other"],
];

Deno.test("classifyNetFailure tells refused, reset, timeout, DNS and TLS failures apart", () => {
  for (const [message, kind] of CASES) {
    assert.equal(classifyNetFailure(wrap(message)).kind, kind, message);
    assert.equal(classifyNetFailure(new Error(message)).kind, kind, `${message} (no wrapper)`);
  }
  assert.equal(classifyNetFailure(wrap("something else entirely")).reason, "something else entirely");
});

Deno.test("causeMessages walks the cause chain, bounded even when it is a cycle", () => {
  const a = new Error("outer");
  const b = new Error("inner", { cause: a });
  (a as { cause?: unknown }).cause = b;
  assert.equal(causeMessages(a).length, 8);
  assert.deepEqual(causeMessages(new Error("x", { cause: "text cause" })), ["x", "text cause"]);
});

// The real runtime's errors (no fetch mocks): a blocked port is its own cause.
async function fetchError(url: string): Promise<unknown> {
  try {
    const response = await fetch(url);
    await response.body?.cancel();
  } catch (error) {
    return error;
  }
  throw new Error(`${url} answered; a failure was expected`);
}

Deno.test("a port fetch blocks is named as the cause, with no start-the-server advice", async () => {
  // Deno refuses the Fetch standard's "bad ports" before sending anything ("Requests to port 1 are blocked").
  for (const port of [1, 6000, 10080]) {
    const error = await fetchError(`http://127.0.0.1:${port}/api/v1/models`);
    assert.deepEqual(classifyNetFailure(error), {
      kind: "blocked",
      reason: `fetch refuses to use port ${port}`,
      port,
    });
    const message = new UnreachableError(`http://127.0.0.1:${port}`, { cause: error }).message;
    assert.match(message, new RegExp(`port ${port} .*no request was sent\\. Set LM_STUDIO_URL to the port`));
    assert.doesNotMatch(message, /Start Server|lms server start/);
  }
});

Deno.test("a closed port is still a refused connection with the start-the-server advice", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const error = await fetchError(`http://127.0.0.1:${port}/`);
  assert.equal(classifyNetFailure(error).kind, "refused");
  assert.match(new UnreachableError(`http://127.0.0.1:${port}`, { cause: error }).message, /Start Server/);
});
