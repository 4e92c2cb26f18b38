import assert from "node:assert/strict";
import { type ProgressParams, ProgressReporter } from "../../tools/progress.ts";

async function until(predicate: () => boolean, limitMs = 5_000): Promise<void> {
  for (let waited = 0; !predicate() && waited < limitMs; waited += 10) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("ProgressReporter sends nothing without a progress token", () => {
  const reporter = new ProgressReporter(undefined, { heartbeatMs: 10 });
  reporter.update("x", 1, 2);
  assert.equal(reporter.enabled, false);
  reporter.close();
});

Deno.test("ProgressReporter sends strictly increasing progress", () => {
  const sent: ProgressParams[] = [];
  let clock = 0;
  const reporter = new ProgressReporter((p) => {
    sent.push(p);
    return Promise.resolve();
  }, { heartbeatMs: 60_000, minIntervalMs: 0, now: () => clock++ });
  reporter.update("a");
  reporter.update("b", 10, 100);
  reporter.update("c", 5, 100);
  reporter.update("d", 50, 100);
  reporter.close();
  const values = sent.map((p) => p.progress);
  for (let i = 1; i < values.length; i++) assert.ok(values[i]! > values[i - 1]!, `${values}`);
  assert.deepEqual(sent.map((p) => p.message), ["a", "b", "c", "d"]);
  assert.equal(sent[3]?.total, 100);
});

Deno.test("ProgressReporter throttles bursts but delivers the latest state", async () => {
  const sent: ProgressParams[] = [];
  const reporter = new ProgressReporter((p) => {
    sent.push(p);
    return Promise.resolve();
  }, { heartbeatMs: 60_000, minIntervalMs: 50 });
  for (let i = 1; i <= 100; i++) reporter.update(`token ${i}`, i);
  await until(() => sent.at(-1)?.message === "token 100");
  reporter.close();
  assert.ok(sent.length <= 3, `sent ${sent.length}`);
  assert.equal(sent.at(-1)?.message, "token 100");
});

Deno.test("ProgressReporter sends a heartbeat while nothing happens", async () => {
  const sent: ProgressParams[] = [];
  const reporter = new ProgressReporter((p) => {
    sent.push(p);
    return Promise.resolve();
  }, { heartbeatMs: 50 });
  reporter.update("Loading model");
  await until(() => sent.length >= 3);
  reporter.close();
  const count = sent.length;
  assert.ok(count >= 3);
  assert.match(sent[1]?.message ?? "", /^Loading model \(still working, \d+ s\)$/);
  // close() clears the heartbeat timer: a live one would fail this test's op sanitizer.
  assert.equal(sent.length, count, "nothing is sent by close() itself");
});
