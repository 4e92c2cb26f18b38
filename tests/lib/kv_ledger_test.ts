/**
 * `lib/inference/kv_ledger.ts`: admission to one loaded instance's shared KV cache.
 */
import assert from "node:assert/strict";
import { existingLedger, KvLedger, ledgerFor } from "../../lib/inference/kv_ledger.ts";

const key = { baseUrl: "http://127.0.0.1:1", instanceId: "m" };
/** Lets every promise that can settle now settle (a macrotask runs after all pending microtasks). */
const settled = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("ledger: a request starts only when its tokens fit beside those in flight and a slot is free", async () => {
  const ledger = new KvLedger(key, { capacity: 4096, slots: 4 });
  const a = await ledger.acquire(2000);
  const b = await ledger.acquire(2000);
  let started = false;
  const c = ledger.acquire(200).then((r) => (started = true, r));
  await settled();
  assert.deepEqual([ledger.inFlight, ledger.used, started], [2, 4000, false], "200 more would pass 4,096");
  a.release();
  const third = await c;
  assert.deepEqual([ledger.inFlight, ledger.used], [2, 2200]);
  b.release();
  third.release();
  assert.deepEqual([ledger.inFlight, ledger.used], [0, 0]);
});

Deno.test("ledger: slots bound the requests in flight even when tokens fit", async () => {
  const ledger = new KvLedger(key, { capacity: 100_000, slots: 2 });
  const held = [await ledger.acquire(10), await ledger.acquire(10)];
  let third = false;
  const pending = ledger.acquire(10).then((r) => (third = true, r));
  await settled();
  assert.deepEqual(third, false);
  held[0]!.release();
  (await pending).release();
  held[1]!.release();
  assert.deepEqual(ledger.peak, 2);
});

Deno.test("ledger: requests start in arrival order; a large one is not overtaken by small ones", async () => {
  const ledger = new KvLedger(key, { capacity: 1000, slots: 4 });
  const order: string[] = [];
  const first = await ledger.acquire(600);
  const big = ledger.acquire(900).then((r) => (order.push("big"), r));
  const small = ledger.acquire(100).then((r) => (order.push("small"), r));
  await settled();
  assert.deepEqual(order, [], "the small one waits behind the big one although it would fit");
  first.release();
  (await big).release();
  (await small).release();
  assert.deepEqual(order, ["big", "small"]);
});

Deno.test("ledger: a request larger than the cache starts alone; alone keeps the others out", async () => {
  const ledger = new KvLedger(key, { capacity: 1000, slots: 4 });
  const huge = await ledger.acquire(5000);
  assert.deepEqual(ledger.inFlight, 1);
  huge.release();
  const before = await ledger.acquire(10);
  let aloneStarted = false;
  const alone = ledger.acquire(10, { alone: true }).then((r) => (aloneStarted = true, r));
  await settled();
  assert.deepEqual(aloneStarted, false, "alone waits for the one in flight");
  before.release();
  const lease = await alone;
  let other = false;
  const next = ledger.acquire(10).then((r) => (other = true, r));
  await settled();
  assert.deepEqual(other, false, "nothing starts beside a request that runs alone");
  lease.release();
  (await next).release();
});

Deno.test("ledger: a cancelled wait leaves the line, and the next in line is reconsidered", async () => {
  const ledger = new KvLedger(key, { capacity: 1000, slots: 4 });
  const held = await ledger.acquire(500);
  const abort = new AbortController();
  const big = ledger.acquire(900, { signal: abort.signal });
  const small = ledger.acquire(100);
  abort.abort(new Error("gone"));
  await assert.rejects(big, /gone/);
  const lease = await small;
  assert.deepEqual(ledger.inFlight, 2);
  lease.release();
  held.release();
  lease.release(); // Twice is harmless.
  assert.deepEqual([ledger.inFlight, ledger.used], [0, 0]);
});

Deno.test("ledger: one per (base URL, instance), shared, resized when listed again", () => {
  const a = ledgerFor({ baseUrl: "http://127.0.0.1:2", instanceId: "q" }, { capacity: 4096, slots: 4 });
  const b = ledgerFor({ baseUrl: "http://127.0.0.1:2", instanceId: "q" }, { capacity: 8192, slots: 4 });
  const other = ledgerFor({ baseUrl: "http://127.0.0.1:3", instanceId: "q" }, { capacity: 4096, slots: 4 });
  assert.equal(a, b);
  assert(a !== other, "another LM Studio host has its own ledger");
  assert.deepEqual(a.capacity, 8192);
  assert.equal(existingLedger({ baseUrl: "http://127.0.0.1:2", instanceId: "q" }), a);
});
