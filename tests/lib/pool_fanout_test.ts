import assert from "node:assert/strict";
import { type Lane, mapOverLanes } from "../../lib/inference/pool_fanout.ts";

class HostDown extends Error {}
const lane = (host: string, width: number, total = 100): Lane<string> => ({ host, name: host, width, total });
const failure = (error: unknown) => error instanceof HostDown;

Deno.test("mapOverLanes() keeps each lane within its width and budget, and reports per lane", async () => {
  const live = new Map<string, number>();
  const peak = new Map<string, number>();
  const ran: string[] = [];
  const run = await mapOverLanes(
    Array.from({ length: 20 }, (_, i) => i),
    [lane("a", 2), lane("b", 3, 20)],
    async (
      item,
      _i,
      l,
    ) => {
      live.set(l.host, (live.get(l.host) ?? 0) + 1);
      peak.set(l.host, Math.max(peak.get(l.host) ?? 0, live.get(l.host)!));
      await Promise.resolve();
      await Promise.resolve();
      live.set(l.host, live.get(l.host)! - 1);
      ran.push(`${item}`);
      return item * 2;
    },
    { cost: () => 10, isHostFailure: failure },
  );
  assert.deepEqual(run.settled.map((s) => s.ok && s.value), Array.from({ length: 20 }, (_, i) => i * 2));
  assert.ok(peak.get("a")! <= 2 && peak.get("b")! <= 2, "b's budget of 20 holds two items of 10");
  assert.equal(ran.length, 20);
  assert.deepEqual(run.lanes.map((l) => l.requests).reduce((a, b) => a + b), 20);
  assert.ok(run.lanes.every((l) => l.requests > 0 && l.failed === undefined));
});

Deno.test("mapOverLanes() moves a failed lane's items to the others: each item succeeds once", async () => {
  const attempts = new Map<number, string[]>();
  let failed: string | undefined;
  const run = await mapOverLanes(
    Array.from({ length: 10 }, (_, i) => i),
    [lane("a", 2), lane("b", 2)],
    async (
      item,
      _i,
      l,
    ) => {
      attempts.set(item, [...(attempts.get(item) ?? []), l.host]);
      await Promise.resolve();
      if (l.host === "a" && item >= 2) throw new HostDown("a is gone");
      return l.host;
    },
    { cost: () => 1, isHostFailure: failure, onHostFailure: (l) => (failed = l.host) },
  );
  assert.equal(failed, "a");
  assert.ok(run.settled.every((s) => s.ok));
  for (const [item, hosts] of attempts) {
    assert.ok(hosts.length <= 2 && hosts.filter((h) => h === "b").length <= 1, `${item}: ${hosts}`);
  }
  const [a, b] = run.lanes;
  assert.equal(a!.answers + b!.answers, 10);
  assert.equal(a!.failed, "a is gone");
  assert.equal(a!.moved, a!.requests - a!.answers);
});

Deno.test("mapOverLanes() fails the items only when every lane failed, and never retries other errors", async () => {
  const calls: string[] = [];
  const run = await mapOverLanes([0, 1, 2], [lane("a", 1), lane("b", 1)], (item, _i, l) => {
    calls.push(`${item}@${l.host}`);
    return Promise.reject(item === 1 ? new RangeError("model refused") : new HostDown(`${l.host} down`));
  }, { cost: () => 1, isHostFailure: failure });
  assert.ok(run.settled.every((s) => !s.ok));
  const errors = run.settled.map((s) => !s.ok && (s.error as Error).message);
  assert.deepEqual(errors, ["b down", "model refused", "b down"]);
  assert.deepEqual(calls, ["0@a", "1@b", "0@b"], "item 1's own error is not retried; 2 never found a server");
  assert.ok(run.lanes.every((l) => l.failed !== undefined));
});

Deno.test("mapOverLanes() ends queued items with the abort reason and starts nothing after it", async () => {
  const controller = new AbortController();
  let started = 0;
  const run = await mapOverLanes(
    Array.from({ length: 8 }, (_, i) => i),
    [lane("a", 1), lane("b", 1)],
    async () => {
      started++;
      if (started === 2) controller.abort(new Error("stop"));
      await Promise.resolve();
      return 1;
    },
    { cost: () => 1, isHostFailure: failure, signal: controller.signal },
  );
  assert.equal(started, 2);
  assert.equal(run.settled.filter((s) => !s.ok && (s.error as Error).message === "stop").length, 6);
});
