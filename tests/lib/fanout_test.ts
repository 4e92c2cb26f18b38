/**
 * The fan-out scheduler (width and token budget), the load gate (one load in flight per model), the
 * context length to suggest, and LMSTUDIO_MCP_PARALLEL.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/config.ts";
import { mapBudgeted } from "../../lib/inference/fanout.ts";
import { fittingContext } from "../../lib/lmstudio/inference.ts";
import { LoadGate } from "../../lib/lmstudio/load_gate.ts";
import { fanOutWidth } from "../../tools/ask/fan_out.ts";

/** A run whose items end when the test says, recording what is in flight. */
function controlled() {
  const pending = new Map<number, () => void>();
  const inFlight = new Set<number>();
  const snapshots: number[][] = [];
  return {
    pending,
    snapshots,
    run: (_item: unknown, index: number) =>
      new Promise<number>((resolve) => {
        inFlight.add(index);
        snapshots.push([...inFlight].sort((a, b) => a - b));
        pending.set(index, () => {
          inFlight.delete(index);
          resolve(index * 10);
        });
      }),
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("mapBudgeted() starts items in order within the width and the budget; a large one runs alone", async () => {
  const costs = [3, 3, 3, 9, 1, 1];
  const c = controlled();
  const done = mapBudgeted(costs, { width: 4, total: 8, cost: (i) => costs[i]! }, c.run);
  await tick();
  assert.deepEqual(c.snapshots.at(-1), [0, 1], "3 + 3 fit 8; a third 3 does not");
  c.pending.get(0)!();
  await tick();
  assert.deepEqual(c.snapshots.at(-1), [1, 2]);
  c.pending.get(1)!();
  c.pending.get(2)!();
  await tick();
  assert.deepEqual(c.snapshots.at(-1), [3], "larger than the budget: it runs when nothing else does");
  c.pending.get(3)!();
  await tick();
  assert.deepEqual(c.snapshots.at(-1), [4, 5]);
  c.pending.get(4)!();
  c.pending.get(5)!();
  const { settled, peak } = await done;
  assert.deepEqual(settled.map((s) => s.ok && s.value), [0, 10, 20, 30, 40, 50]);
  assert.equal(peak, 2);
});

Deno.test("mapBudgeted() keeps failures with their item and starts nothing once aborted", async () => {
  const controller = new AbortController();
  const { settled } = await mapBudgeted([1, 2, 3, 4], { width: 1, total: 10, cost: () => 1 }, (n) => {
    if (n === 2) controller.abort(new Error("stop"));
    return n === 1 ? Promise.reject(new Error("one failed")) : Promise.resolve(n);
  }, controller.signal);
  assert.equal((settled[0] as { error: Error }).error.message, "one failed");
  assert.deepEqual(settled[1], { ok: true, value: 2 });
  assert.equal((settled[2] as { error: Error }).error.message, "stop");
  assert.equal((settled[3] as { error: Error }).error.message, "stop");
});

Deno.test("LoadGate: the first call on an unloaded model leads, the others wait until it is loaded", async () => {
  const gate = new LoadGate();
  const order: string[] = [];
  const loaded = Promise.withResolvers<void>();
  const lead = gate.run("m", false, async (markLoaded) => {
    order.push("lead starts");
    await loaded.promise;
    markLoaded();
    order.push("lead loaded");
    await tick();
    order.push("lead ends");
    return "lead";
  });
  const follow = gate.run("m", false, () => {
    order.push("follower runs");
    return Promise.resolve("follower");
  });
  const other = gate.run("other", false, () => Promise.resolve("other model"));
  assert.equal(await other, "other model", "another model does not wait");
  await tick();
  assert.ok(gate.loading("m"));
  assert.deepEqual(order, ["lead starts"]);
  loaded.resolve();
  assert.deepEqual(await Promise.all([lead, follow]), ["lead", "follower"]);
  assert.deepEqual(order.slice(0, 2), ["lead starts", "lead loaded"]);
  assert.ok(order.indexOf("follower runs") < order.indexOf("lead ends"), "the follower went once loaded");
  assert.equal(gate.loading("m"), false);
});

Deno.test("LoadGate: a leader that fails hands the lead on; a waiting call can be cancelled", async () => {
  const gate = new LoadGate();
  const failing = gate.run("m", false, async () => {
    await tick();
    throw new Error("load failed");
  });
  const leads: string[] = [];
  const second = gate.run("m", false, async (markLoaded) => {
    leads.push("second leads");
    await tick();
    markLoaded();
    return 2;
  });
  const controller = new AbortController();
  const cancelled = assert.rejects(
    gate.run("m", false, () => Promise.resolve(3), controller.signal),
    (e: Error) => e.name === "CancelledError",
  );
  controller.abort();
  await assert.rejects(failing, /load failed/);
  assert.equal(await second, 2);
  assert.deepEqual(leads, ["second leads"]);
  await cancelled;
  assert.equal(await gate.run("m", true, () => Promise.resolve("loaded")), "loaded");
});

Deno.test("fittingContext() suggests a power of two up to the model's maximum", () => {
  assert.equal(fittingContext(1000, 32768), 4096);
  assert.equal(fittingContext(9000, 32768), 16384);
  assert.equal(fittingContext(30000, 32768), 32768);
  assert.equal(fittingContext(30000, 24000), undefined);
  assert.equal(
    fittingContext(20000, 24000),
    24000,
    "the maximum itself when the next power of two is past it",
  );
  assert.equal(fittingContext(70000, undefined), 131072);
});

Deno.test("fanOutWidth(): the call, then LMSTUDIO_MCP_PARALLEL, then LM Studio's parallel, then 4", () => {
  assert.deepEqual(fanOutWidth(2, 3, 8), { width: 2, source: "parallel" });
  assert.deepEqual(fanOutWidth(undefined, 3, 8), { width: 3, source: "LMSTUDIO_MCP_PARALLEL" });
  assert.deepEqual(fanOutWidth(undefined, undefined, 8), { width: 8, source: "LM Studio" });
  assert.deepEqual(fanOutWidth(undefined, undefined, undefined), { width: 4, source: "default" });
  assert.deepEqual(fanOutWidth(undefined, undefined, "4"), { width: 4, source: "default" });
});

Deno.test("parseConfig() reads LMSTUDIO_MCP_PARALLEL and names a bad value", () => {
  assert.equal(parseConfig({ LMSTUDIO_MCP_PARALLEL: "6" }).config.parallel, 6);
  assert.equal(parseConfig({}).config.parallel, undefined);
  for (const bad of ["0", "65", "two", "1.5"]) {
    const { config, warnings } = parseConfig({ LMSTUDIO_MCP_PARALLEL: bad }, { home: "/h" });
    assert.equal(config.parallel, undefined);
    assert.match(warnings[0] ?? "", /^LMSTUDIO_MCP_PARALLEL=".*" is not a whole number from 1 to 64/);
  }
});

Deno.test("parseConfig() reads LMSTUDIO_MCP_MAX_CONTEXT and names a bad value", () => {
  assert.equal(parseConfig({ LMSTUDIO_MCP_MAX_CONTEXT: "16384" }).config.maxContext, 16384);
  assert.equal(parseConfig({}).config.maxContext, undefined);
  for (const bad of ["0", "100", "big", "1.5", "99999999"]) {
    const { config, warnings } = parseConfig({ LMSTUDIO_MCP_MAX_CONTEXT: bad }, { home: "/h" });
    assert.equal(config.maxContext, undefined);
    assert.match(
      warnings[0] ?? "",
      /^LMSTUDIO_MCP_MAX_CONTEXT=".*" is not a whole number from 512 to 16777216/,
    );
  }
});
