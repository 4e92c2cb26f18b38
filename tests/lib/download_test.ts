import assert from "node:assert/strict";
import { type DownloadState, toDownloadState, waitForDownload } from "../../lib/lmstudio/download.ts";
import { LmStudioError } from "../../lib/errors.ts";
import { LmStudioClient } from "../../lib/lmstudio/client.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";

const TIMEOUTS = { defaultMs: 5_000, inferenceMs: 5_000, loadMs: 5_000, sseIdleMs: 5_000 };

Deno.test("waitForDownload() polls until the job completes and reports each step", async () => {
  await using sim = LmStudioSim.start({ catalog: { "ibm/granite-4-micro": 1000 }, downloadSteps: 4 });
  const client = new LmStudioClient({ baseUrl: sim.url, timeouts: TIMEOUTS });
  const job = await client.startDownload("ibm/granite-4-micro", undefined);
  const seen: DownloadState[] = [];
  const state = await waitForDownload(client, job.job_id ?? "", {
    intervalMs: 1,
    budgetMs: 10_000,
    onProgress: (s) => seen.push(s),
  });
  assert.equal(state.status, "completed");
  assert.deepEqual(seen.map((s) => s.percent), [25, 50, 75, 100]);
  assert.ok(sim.model("ibm/granite-4-micro"), "the model is downloaded");
});

Deno.test("waitForDownload() hands back the running job when the budget runs out", async () => {
  await using sim = LmStudioSim.start({ catalog: { "big/model": 1000 }, downloadSteps: 1000 });
  const client = new LmStudioClient({ baseUrl: sim.url, timeouts: TIMEOUTS });
  const job = await client.startDownload("big/model", undefined);
  let now = 0;
  const state = await waitForDownload(client, job.job_id ?? "", {
    intervalMs: 1,
    budgetMs: 3,
    now: () => now++,
  });
  assert.equal(state.status, "downloading");
  assert.equal(state.job_id, job.job_id);
  assert.ok(sim.requestsTo("GET /api/v1/models/download/status").length <= 5, "polling is bounded");
});

/** Polls a download of `steps` status polls on a hand-moved clock; returns the gaps between polls. */
async function pollGaps(steps: number, options: { intervalMs: number; budgetMs: number }) {
  await using sim = LmStudioSim.start({ catalog: { "ibm/granite-4-micro": 1000 }, downloadSteps: steps });
  const client = new LmStudioClient({ baseUrl: sim.url, timeouts: TIMEOUTS });
  const job = await client.startDownload("ibm/granite-4-micro", undefined);
  let clock = 0;
  const polledAt: number[] = [];
  const state = await waitForDownload(client, job.job_id ?? "", {
    ...options,
    now: () => clock,
    sleep: (ms) => {
      clock += ms; // No real time passes.
      return Promise.resolve();
    },
    onProgress: () => polledAt.push(clock),
  });
  return { state, gaps: polledAt.slice(1).map((at, i) => at - polledAt[i]!), first: polledAt[0] };
}

Deno.test("waitForDownload() polls at once, then after 250, 500, 1,000 ms … up to the interval", async () => {
  const { state, gaps, first } = await pollGaps(8, { intervalMs: 2_000, budgetMs: 60_000 });
  assert.equal(state.status, "completed");
  assert.equal(first, 0, "the first poll is immediate");
  assert.deepEqual(gaps, [250, 500, 1_000, 2_000, 2_000, 2_000, 2_000]);
  const slow = await pollGaps(4, { intervalMs: 60_000, budgetMs: 600_000 });
  assert.deepEqual(slow.gaps, [250, 500, 1_000], "a long interval is not waited before the first polls");
});

Deno.test("waitForDownload() never pauses longer than the interval or past the budget", async () => {
  const short = await pollGaps(4, { intervalMs: 100, budgetMs: 60_000 });
  assert.deepEqual(short.gaps, [100, 100, 100], "an interval under 250 ms is used from the start");
  const capped = await pollGaps(1000, { intervalMs: 2_000, budgetMs: 5_000 });
  assert.equal(capped.state.status, "downloading");
  assert.deepEqual(capped.gaps, [250, 500, 1_000, 2_000, 1_250], "the last pause ends at the budget");
});

Deno.test("waitForDownload() fails clearly when LM Studio reports the download failed", async () => {
  await using sim = LmStudioSim.start({ catalog: { "a/b": 1000 } });
  const client = new LmStudioClient({ baseUrl: sim.url, timeouts: TIMEOUTS });
  const job = sim.startDownload("a/b", 1000);
  job.status = "failed";
  await assert.rejects(
    waitForDownload(client, job.job_id, { intervalMs: 1, budgetMs: 100 }),
    (error: unknown) => error instanceof LmStudioError && /failed/.test(error.message),
  );
});

Deno.test("waitForDownload() explains an unknown job id", async () => {
  await using sim = LmStudioSim.start();
  const client = new LmStudioClient({ baseUrl: sim.url, timeouts: TIMEOUTS });
  await assert.rejects(
    waitForDownload(client, "job_missing", { intervalMs: 1, budgetMs: 100 }),
    /job_missing" is unknown to LM Studio/,
  );
});

Deno.test("toDownloadState() computes the percentage and fills a completed job", () => {
  assert.equal(
    toDownloadState({ status: "downloading", total_size_bytes: 200, downloaded_bytes: 50 }).percent,
    25,
  );
  const done = toDownloadState({ job_id: "j", status: "completed", total_size_bytes: 200 });
  assert.equal(done.downloaded_bytes, 200);
  assert.equal(done.percent, 100);
  assert.equal(toDownloadState({ status: "already_downloaded" }).percent, null);
});
