/**
 * `POST /api/v1/models/load` (a new instance with the applied config, echoed on request) and
 * `POST /api/v1/models/unload`.
 *
 * @module
 */
import type { SimRoutes } from "../lmstudio_sim.ts";
import { field, json, nativeError } from "./replies.ts";

/** The load and unload routes. */
export const LOAD_ROUTES: SimRoutes = {
  "POST /api/v1/models/load": async (request, body, sim) => {
    const key = field(body, "model");
    if (typeof key !== "string") {
      return nativeError(400, "invalid_request", '"model" is required', {
        code: "missing_required_parameter",
        param: "model",
      });
    }
    const model = sim.model(key);
    if (!model) return nativeError(404, "model_not_found", `Model "${key}" not found`);
    const refused = sim.memoryRefusal(
      model,
      typeof field(body, "context_length") === "number" ? field(body, "context_length") as number : undefined,
    );
    if (refused) return nativeError(500, "model_load_failed", refused);
    const started = performance.now();
    const load = sim.beginLoad(model);
    if (sim.options.loadDelayMs) await sim.wait(sim.options.loadDelayMs, request.signal);
    if (request.signal.aborted) {
      load.done(undefined);
      return json({ error: "aborted" }, 499);
    }
    const config = sim.loadConfig(model, body as Record<string, unknown>);
    const id = load.id;
    load.done(config);
    const reply: Record<string, unknown> = { type: model.type, instance_id: id, status: "loaded" };
    if (sim.options.reportLoadTime !== false) {
      reply.load_time_seconds = Math.round(performance.now() - started) / 1000;
    }
    if (field(body, "echo_load_config") === true) reply.load_config = config;
    return json(reply);
  },
  "POST /api/v1/models/unload": (_req, body, sim) => {
    const id = field(body, "instance_id");
    if (typeof id !== "string") {
      return nativeError(400, "invalid_request", '"instance_id" is required', {
        code: "missing_required_parameter",
        param: "instance_id",
      });
    }
    for (const model of sim.models) {
      const index = model.loaded_instances.findIndex((i) => i.id === id);
      if (index >= 0) {
        model.loaded_instances.splice(index, 1);
        return json({ instance_id: id });
      }
    }
    return nativeError(404, "model_not_found", `No loaded model instance with id "${id}"`);
  },
};
