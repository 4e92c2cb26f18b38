/**
 * Waiting on an LM Studio download job: bounded polling with progress callbacks.
 *
 * LM Studio has no push channel for downloads (https://lmstudio.ai/docs/developer/rest/download-status),
 * so we poll its status endpoint until the job ends or the poll budget runs out: soon after the start
 * (a small or cached download ends in a second or two), then backing off to the configured interval.
 *
 * @module
 */
import { sleep } from "../sleep.ts";
import type { CallOptions, LmStudioClient } from "./client.ts";
import { LmStudioError } from "../errors.ts";
import type { DownloadJob } from "./schemas.ts";

/** A download's state in our terms. */
export interface DownloadState {
  /** The job id, or null for "already downloaded". */
  readonly job_id: string | null;
  /** `downloading`, `paused`, `completed`, `failed` or `already_downloaded`. */
  readonly status: string;
  /** Bytes done, when known. */
  readonly downloaded_bytes: number | null;
  /** Bytes in all, when known. */
  readonly total_bytes: number | null;
  /** Percent done 0..100, when known. */
  readonly percent: number | null;
  /** Current speed, when known. */
  readonly bytes_per_second: number | null;
  /** LM Studio's estimate of the end, ISO 8601. */
  readonly estimated_completion: string | null;
}

/** Options of {@linkcode waitForDownload}. */
export interface WaitForDownloadOptions extends CallOptions {
  /** Pause between two polls. */
  readonly intervalMs: number;
  /** How long to keep polling before handing back the job id. */
  readonly budgetMs: number;
  /** Called with each polled state. */
  readonly onProgress?: ((state: DownloadState) => void) | undefined;
  /** Milliseconds clock. @default Date.now */
  readonly now?: () => number;
  /** Pauses between polls (tests pass one that moves their clock). @default a cancellable timer */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** The first pause after starting; each next one doubles up to the configured interval. */
const FIRST_POLL_MS = 250;

/** Statuses after which polling stops. */
export const FINAL_STATUSES: ReadonlySet<string> = new Set([
  "completed",
  "already_downloaded",
  "failed",
]);

/**
 * Converts LM Studio's job object to a {@linkcode DownloadState}.
 *
 * @param job The job as LM Studio reports it
 * @param fallbackId The id to use when the reply omits it
 * @returns The state
 */
export function toDownloadState(job: DownloadJob, fallbackId?: string): DownloadState {
  const total = job.total_size_bytes ?? null;
  let done = job.downloaded_bytes ?? null;
  if (done === null && job.status === "completed") done = total;
  const percent = total && done !== null ? Math.min(100, Math.round((done / total) * 1000) / 10) : null;
  return {
    job_id: job.job_id ?? fallbackId ?? null,
    status: job.status,
    downloaded_bytes: done,
    total_bytes: total,
    percent,
    bytes_per_second: job.bytes_per_second ?? null,
    estimated_completion: job.estimated_completion ?? null,
  };
}

/**
 * Polls a download job until it completes, fails, pauses, or the budget runs out.
 *
 * @param client The LM Studio client
 * @param jobId The job to wait on
 * @param options Interval, budget, progress callback and cancellation
 * @returns The last state seen (status `downloading` or `paused` when the budget ran out)
 * @throws {LmStudioError} When the download failed or the job is unknown
 */
export async function waitForDownload(
  client: LmStudioClient,
  jobId: string,
  options: WaitForDownloadOptions,
): Promise<DownloadState> {
  const now = options.now ?? Date.now;
  const pause = options.sleep ?? sleep;
  const start = now();
  const firstDelay = Math.min(FIRST_POLL_MS, options.intervalMs);
  const maxPolls = Math.ceil(options.budgetMs / firstDelay) + 1;
  let state: DownloadState | undefined;
  for (let poll = 0; poll < maxPolls; poll++) {
    state = toDownloadState(await client.downloadStatus(jobId, options), jobId);
    options.onProgress?.(state);
    if (state.status === "failed") {
      throw new LmStudioError(
        `The download of job ${jobId} failed in LM Studio. Check LM Studio's Downloads panel for the ` +
          `reason (disk space, network), then start it again with model_download`,
      );
    }
    if (FINAL_STATUSES.has(state.status) || state.status === "paused") return state;
    const remaining = options.budgetMs - (now() - start);
    if (remaining <= 0) break;
    const delay = Math.min(options.intervalMs, firstDelay * 2 ** poll);
    await pause(Math.min(delay, remaining), options.signal);
  }
  return state ?? toDownloadState({ job_id: jobId, status: "downloading" });
}
