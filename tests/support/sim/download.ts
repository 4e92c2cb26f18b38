/**
 * `POST /api/v1/models/download` and `GET /api/v1/models/download/status/:job_id`: a job that advances
 * one step per status poll and adds the model to the catalogue when it completes.
 *
 * @module
 */
import type { SimRoutes } from "../lmstudio_sim.ts";
import { field, json, nativeError } from "./replies.ts";

/** The download routes. */
export const DOWNLOAD_ROUTES: SimRoutes = {
  "POST /api/v1/models/download": (_req, body, sim) => {
    const key = field(body, "model");
    if (typeof key !== "string") {
      return nativeError(400, "invalid_request", '"model" is required', {
        code: "missing_required_parameter",
        param: "model",
      });
    }
    if (sim.model(key)) return json({ status: "already_downloaded" });
    const size = sim.options.catalog?.[key];
    if (size === undefined) {
      return nativeError(404, "model_not_found", `Could not find model "${key}" in the catalog`);
    }
    const job = sim.startDownload(key, size);
    return json({
      job_id: job.job_id,
      status: job.status,
      total_size_bytes: job.total,
      started_at: job.started_at,
    });
  },
  "GET /api/v1/models/download/status/*": (request, _body, sim) => {
    const id = decodeURIComponent(new URL(request.url).pathname.split("/").pop() ?? "");
    const job = sim.downloads.get(id);
    if (!job) return nativeError(404, "job_not_found", `No download job with id "${id}"`);
    if (job.status === "downloading") {
      const step = Math.ceil(job.total / (sim.options.downloadSteps ?? 4));
      job.done = Math.min(job.total, job.done + step);
      if (job.done >= job.total) {
        job.status = "completed";
        sim.models.push({
          type: "llm",
          key: job.model,
          display_name: job.model,
          size_bytes: job.total,
          loaded_instances: [],
          max_context_length: 8192,
          format: "gguf",
          quantization: { name: "Q4_K_M", bits_per_weight: 4 },
        });
      }
    }
    const reply: Record<string, unknown> = {
      job_id: job.job_id,
      status: job.status,
      total_size_bytes: job.total,
      downloaded_bytes: job.done,
      started_at: job.started_at,
    };
    if (job.status === "downloading") {
      reply.bytes_per_second = 12_500_000;
      reply.estimated_completion = new Date(Date.now() + 60_000).toISOString();
    }
    if (job.status === "completed") reply.completed_at = new Date().toISOString();
    return json(reply);
  },
};
