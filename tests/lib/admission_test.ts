/**
 * `lib/inference/admission.ts`: a generation runs within its instance's ledger; the shared-cache overflow alone is
 * retried, alone and after a pause; a prompt too large, or another failure, is not.
 */
import assert from "node:assert/strict";
import { isSharedOverflow, runAdmitted } from "../../lib/inference/admission.ts";
import { ContextOverflowError, LmStudioError } from "../../lib/errors.ts";
import { existingLedger } from "../../lib/inference/kv_ledger.ts";
import { LmStudioClient } from "../../lib/lmstudio/client.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { until } from "../support/wait.ts";

const QWEN = "qwen/qwen3-8b"; // loaded at 8,192
const TIMEOUTS = { defaultMs: 5000, inferenceMs: 5000, loadMs: 5000, sseIdleMs: 5000 };
const exceeded = () => new ContextOverflowError("(LM Studio: Context size has been exceeded.)", "x");

Deno.test("admission: the shared-cache overflow is retried alone, after a pause, until it fits", async () => {
  await using sim = LmStudioSim.start();
  const client = new LmStudioClient({ baseUrl: sim.url, timeouts: TIMEOUTS });
  const ledger = () => existingLedger({ baseUrl: sim.url, instanceId: QWEN })!;
  let calls = 0;
  let otherDone = false;
  // Another request of this process that runs until the retry waits for it (or, wrongly, starts beside it).
  const started = Promise.withResolvers<void>();
  const other = runAdmitted(client, QWEN, 1000, async () => {
    started.resolve();
    await until(() => ledger().waiting > 0 || calls >= 2, "the retry to wait or start");
    otherDone = true;
  });
  await started.promise;
  const retries: number[] = [];
  const { value, retries: count } = await runAdmitted(client, QWEN, 1000, () => {
    calls++;
    if (calls === 1) assert.equal(ledger().inFlight, 2, "the first attempt runs beside the other");
    else assert.equal(otherDone, true, "a retry waits until nothing else is in flight");
    return calls < 3 ? Promise.reject(exceeded()) : Promise.resolve("done");
  }, { onRetry: (attempt, pause) => retries.push(attempt, pause) });
  await other;
  assert.equal(value, "done");
  assert.equal(count, 2);
  assert.deepEqual(retries, [1, 250, 2, 500], "the pause doubles");
  assert.equal(ledger().inFlight, 0);
});

Deno.test("admission: a prompt too large on its own, or another failure, is not retried", async () => {
  await using sim = LmStudioSim.start();
  const client = new LmStudioClient({ baseUrl: sim.url, timeouts: TIMEOUTS });
  for (
    const [tokens, error] of [
      [9000, exceeded()],
      [100, new ContextOverflowError("The number of tokens to keep … (n_keep: 9000 >= n_ctx: 8192)", "x")],
      [100, new LmStudioError("Compute error.")],
    ] as const
  ) {
    let calls = 0;
    await assert.rejects(
      runAdmitted(client, QWEN, tokens, () => {
        calls++;
        return Promise.reject(error);
      }),
      (thrown) => thrown === error,
    );
    assert.equal(calls, 1, `${tokens}: ${error.message}`);
  }
  assert.equal(isSharedOverflow(exceeded()), true);
  assert.equal(isSharedOverflow(new LmStudioError("Context size has been exceeded.")), false);
});

Deno.test("admission: gives up after its retries and throws the overflow", async () => {
  await using sim = LmStudioSim.start();
  const client = new LmStudioClient({ baseUrl: sim.url, timeouts: TIMEOUTS });
  let calls = 0;
  const pauses: number[] = [];
  await assert.rejects(
    runAdmitted(client, QWEN, 100, () => {
      calls++;
      return Promise.reject(exceeded());
    }, { onRetry: (_attempt, pause) => pauses.push(pause) }),
    ContextOverflowError,
  );
  assert.equal(calls, 5, "the first attempt and 4 retries");
  assert.deepEqual(pauses, [250, 500, 1000, 2000]);
});
