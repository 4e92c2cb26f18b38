/**
 * `model_download`: fetch a model from the LM Studio catalogue or Hugging Face, with live progress. With
 * several servers, into the one named by `host`, else the first (a job id belongs to its server).
 *
 * @module
 */
import { z } from "zod";
import { type DownloadState, toDownloadState, waitForDownload } from "../lib/lmstudio/download.ts";
import { InputError, LmStudioError } from "../lib/errors.ts";
import { formatBytes } from "../lib/lmstudio/models.ts";
import { HostField } from "./common/fields.ts";
import { textAndStructured } from "./common/result.ts";
import { defineTool, type ToolSpec } from "./tool.ts";

function describeState(name: string, state: DownloadState): string {
  const parts: string[] = [];
  if (state.percent !== null) parts.push(`${state.percent}%`);
  if (state.downloaded_bytes !== null && state.total_bytes !== null) {
    parts.push(`${formatBytes(state.downloaded_bytes)} of ${formatBytes(state.total_bytes)}`);
  } else if (state.total_bytes !== null) parts.push(formatBytes(state.total_bytes));
  if (state.bytes_per_second) parts.push(`${formatBytes(state.bytes_per_second)}/s`);
  return `${name}: ${state.status}${parts.length ? ` — ${parts.join(", ")}` : ""}`;
}

/** The `model_download` tool. */
export const modelDownload: ToolSpec = defineTool("model_download", () => ({
  title: "Download a model into LM Studio",
  description: "Download a model model_list lacks (catalogue id or Hugging Face URL). If still running it " +
    "returns job_id: call again with it to keep waiting.",
  inputSchema: {
    model: z.string().trim().min(1, "must not be empty").max(2048).optional(),
    quantization: z.string().trim().min(1).max(64).optional().describe("e.g. Q4_K_M"),
    job_id: z.string().trim().min(1).max(256).optional(),
    host: HostField(),
  },
  outputSchema: {
    job_id: z.string().nullable(),
    status: z.string(),
    finished: z.boolean(),
    downloaded_bytes: z.number().nullable(),
    total_bytes: z.number().nullable(),
    percent: z.number().nullable(),
    bytes_per_second: z.number().nullable(),
    estimated_completion: z.string().nullable(),
    host: z.string().optional(),
  },
  annotations: {
    readOnlyHint: false,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: true,
  },
  long: () => true, // Every download may run for minutes.
}), async (args, deps, { signal, progress }) => {
  if (args.model === undefined && args.job_id === undefined) {
    throw new InputError("Pass `model` (what to download) or `job_id` (an earlier download)");
  }
  const host = args.host === undefined ? deps.pool.hosts[0]! : deps.pool.host(args.host);
  const client = host.client;
  const several = deps.pool.several;
  const name = (args.model ?? `job ${args.job_id}`) + (several ? ` on ${host.name}` : "");
  const again = several ? ` and host "${host.name}"` : "";
  let state: DownloadState;
  if (args.job_id !== undefined) {
    state = toDownloadState(await client.downloadStatus(args.job_id, { signal }), args.job_id);
  } else {
    progress.update(`Starting the download of ${name}`);
    state = toDownloadState(
      await client.startDownload(args.model!, args.quantization, { signal }),
    );
  }
  const report = (s: DownloadState) =>
    progress.update(describeState(name, s), s.downloaded_bytes ?? undefined, s.total_bytes ?? undefined);
  report(state);
  if (state.status === "failed") {
    throw new LmStudioError(
      `The download of ${name} failed in LM Studio. Check LM Studio's Downloads panel for the reason ` +
        `(disk space, network), then try again`,
    );
  }
  if ((state.status === "downloading" || state.status === "paused") && state.job_id) {
    state = await waitForDownload(client, state.job_id, {
      intervalMs: deps.config.downloadPollIntervalMs,
      budgetMs: deps.config.downloadPollTimeoutMs,
      onProgress: report,
      signal,
    });
  }
  const finished = state.status === "completed" || state.status === "already_downloaded";
  let text: string;
  if (state.status === "already_downloaded") {
    text = `${name} is already downloaded. Load it with model_load.`;
  } else if (finished) {
    const size = state.total_bytes !== null ? ` (${formatBytes(state.total_bytes)})` : "";
    text = `Downloaded ${name}${size}. Load it with model_load.`;
  } else if (state.status === "paused") {
    text = `${describeState(name, state)}. The download is paused in LM Studio: resume it there, ` +
      `then call model_download with job_id "${state.job_id}"${again} to follow it.`;
  } else {
    text = `${describeState(name, state)}. Still downloading after ${
      Math.round(deps.config.downloadPollTimeoutMs / 1000)
    } s of waiting. Call model_download with job_id "${state.job_id}"${again} to keep waiting.`;
  }
  return textAndStructured(text, { ...state, finished, ...(several ? { host: host.name } : {}) });
});
