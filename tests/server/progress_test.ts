/**
 * ProgressReporter on a hand-driven clock and hand-fired timers: throttling keeps the latest state and
 * never sends an older message after a newer one, progress only grows, the heartbeat repeats the last
 * message, and close() stops every timer. One test runs on the real timers, for the default wiring.
 */
import assert from "node:assert/strict";
import { type ProgressParams, ProgressReporter, type ProgressTimers } from "../../server/progress.ts";
import { until } from "../support/wait.ts";

/** Timers that fire only when the test says so. */
class HandTimers implements ProgressTimers {
  readonly timeouts = new Map<number, { callback: () => void; ms: number }>();
  readonly intervals = new Map<number, { callback: () => void; ms: number }>();
  /** How many timeouts were ever scheduled. */
  scheduled = 0;
  #next = 1;

  setTimeout(callback: () => void, ms: number): number {
    this.scheduled++;
    this.timeouts.set(this.#next, { callback, ms });
    return this.#next++;
  }

  clearTimeout(id: unknown): void {
    this.timeouts.delete(id as number);
  }

  setInterval(callback: () => void, ms: number): number {
    this.intervals.set(this.#next, { callback, ms });
    return this.#next++;
  }

  clearInterval(id: unknown): void {
    this.intervals.delete(id as number);
  }

  /** Fires every pending timeout, as late as a loaded event loop may. */
  fireTimeouts(): void {
    for (const [id, { callback }] of [...this.timeouts]) {
      this.timeouts.delete(id);
      callback();
    }
  }

  /** Fires every interval once. */
  tick(): void {
    for (const { callback } of [...this.intervals.values()]) callback();
  }
}

/** A reporter that records what it sends, on a clock the test sets. */
function reporter(options: { heartbeatMs?: number; minIntervalMs?: number } = {}) {
  const sent: ProgressParams[] = [];
  const timers = new HandTimers();
  const clock = { now: 1_000 }; // Well after the epoch, so the first update is due.
  const progress = new ProgressReporter((p) => {
    sent.push(p);
    return Promise.resolve();
  }, { heartbeatMs: 60_000, minIntervalMs: 100, ...options, now: () => clock.now, timers });
  return { progress, sent, timers, clock, messages: () => sent.map((p) => p.message) };
}

Deno.test("ProgressReporter sends nothing and starts no timer without a progress token", () => {
  const timers = new HandTimers();
  const progress = new ProgressReporter(undefined, { heartbeatMs: 10, timers });
  progress.update("x", 1, 2);
  assert.equal(progress.enabled, false);
  assert.equal(timers.intervals.size + timers.timeouts.size, 0);
  progress.close();
});

Deno.test("ProgressReporter sends strictly increasing progress", () => {
  const { progress, sent, clock, messages } = reporter({ minIntervalMs: 0 });
  progress.update("a");
  clock.now++;
  progress.update("b", 10, 100);
  clock.now++;
  progress.update("c", 5, 100);
  clock.now++;
  progress.update("d", 50, 100);
  progress.close();
  const values = sent.map((p) => p.progress);
  for (let i = 1; i < values.length; i++) assert.ok(values[i]! > values[i - 1]!, `${values}`);
  assert.deepEqual(messages(), ["a", "b", "c", "d"]);
  assert.equal(sent[3]?.total, 100);
});

Deno.test("ProgressReporter throttles a burst to one timer and delivers the latest state", () => {
  const { progress, timers, clock, messages } = reporter();
  for (let i = 1; i <= 100; i++) progress.update(`token ${i}`, i);
  assert.deepEqual(messages(), ["token 1"], "the first is sent at once, the rest wait");
  assert.equal(timers.scheduled, 1, "one timer for the whole burst");
  clock.now = 1_100;
  timers.fireTimeouts();
  assert.deepEqual(messages(), ["token 1", "token 100"]);
  timers.fireTimeouts();
  assert.equal(messages().length, 2, "nothing is left to send");
  progress.close();
});

Deno.test("ProgressReporter never sends a throttled message after a newer one, however late its timer", () => {
  const { progress, timers, clock, messages } = reporter();
  progress.update("1 of 16 done");
  clock.now = 1_010;
  progress.update("15 of 16 done"); // Throttled: its timer is due at 100 ms.
  clock.now = 1_250; // The event loop was busy: the timer has not run yet.
  progress.update("16 of 16 done"); // Due, so sent at once.
  timers.fireTimeouts(); // The late timer runs now.
  assert.deepEqual(messages(), ["1 of 16 done", "16 of 16 done"]);
  progress.close();
});

Deno.test("ProgressReporter flush() sends the throttled message now, once", () => {
  const { progress, timers, clock, messages } = reporter();
  progress.update("a");
  clock.now = 1_010;
  progress.update("b");
  progress.flush();
  assert.deepEqual(messages(), ["a", "b"]);
  assert.equal(timers.timeouts.size, 0, "flush() cancels the timer");
  progress.close();
});

Deno.test("ProgressReporter sends a heartbeat while nothing happens, and close() stops every timer", () => {
  const { progress, sent, timers, clock, messages } = reporter({ heartbeatMs: 50 });
  progress.update("Loading model");
  clock.now = 1_040;
  progress.update("Loading model"); // Throttled: a timer is pending when close() comes.
  timers.tick();
  assert.equal(sent.length, 1, "no heartbeat before heartbeatMs of silence");
  clock.now = 1_060;
  timers.tick();
  clock.now = 3_100;
  timers.tick();
  assert.deepEqual(messages(), [
    "Loading model",
    "Loading model (still working, 0 s)",
    "Loading model (still working, 2 s)",
  ]);
  assert.match(sent[1]?.message ?? "", /^Loading model \(still working, \d+ s\)$/);
  assert.ok(timers.intervals.size > 0 && timers.timeouts.size > 0, "a heartbeat and a flush are scheduled");
  progress.close();
  assert.equal(timers.intervals.size, 0, "close() stops the heartbeat");
  assert.equal(timers.timeouts.size, 0, "close() cancels the throttled message");
  const count = sent.length;
  clock.now = 11_000;
  progress.update("after close");
  progress.flush();
  assert.equal(sent.length, count, "nothing is sent after close()");
});

Deno.test("ProgressReporter on the real timers: a burst ends with the latest state", async () => {
  const sent: ProgressParams[] = [];
  const progress = new ProgressReporter((p) => {
    sent.push(p);
    return Promise.resolve();
  }, { heartbeatMs: 60_000, minIntervalMs: 20 });
  for (let i = 1; i <= 100; i++) progress.update(`token ${i}`, i);
  await until(() => sent.at(-1)?.message === "token 100", "the throttled last message to be sent");
  progress.close(); // A live timer would now fail this test's op sanitizer.
  assert.ok(sent.length <= 3, `sent ${sent.length}`);
});
