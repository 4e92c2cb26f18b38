/**
 * `lib/net_failure.ts` alone: the errors Deno's fetch throws on each platform, classified by kind, with
 * the message found anywhere in the cause chain.
 */
import assert from "node:assert/strict";
import { causeMessages, classifyNetFailure, type NetFailureKind } from "../../lib/net_failure.ts";

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
