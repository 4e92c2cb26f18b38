/**
 * `GET /api/v1/models` (the native catalogue, loaded instances and their configs) and `GET /v1/models`
 * (the OpenAI-compatible list).
 *
 * @module
 */
import type { SimRoutes } from "../lmstudio_sim.ts";
import { json } from "./replies.ts";

/** The model list routes. */
export const MODEL_ROUTES: SimRoutes = {
  "GET /api/v1/models": (_req, _body, sim) => json({ models: sim.models }),
  "GET /v1/models": (_req, _body, sim) =>
    json({
      object: "list",
      data: sim.models.map((m) => ({ id: m.key, object: "model", owned_by: "organization_owner" })),
    }),
};
