/**
 * `POST /v1/embeddings`: deterministic vectors for each input, loading the model on demand.
 *
 * @module
 */
import { type InferenceSimOptions, resolveModel } from "./inference.ts";
import { json, openAiError, rec } from "./replies.ts";
import { type LmStudioSim } from "../lmstudio_sim.ts";

/** A deterministic unit-ish vector for a text. */
export function fakeVector(text: string, dimension: number): number[] {
  let seed = 2166136261;
  for (let i = 0; i < text.length; i++) seed = Math.imul(seed ^ text.charCodeAt(i), 16777619) >>> 0;
  const out: number[] = [];
  for (let i = 0; i < dimension; i++) {
    seed = Math.imul(seed ^ (seed >>> 15), 2246822507) >>> 0;
    out.push(Math.round(((seed / 4294967295) * 2 - 1) * 1e6) / 1e6);
  }
  return out;
}

export async function embeddings(request: Request, raw: unknown, sim: LmStudioSim): Promise<Response> {
  const body = rec(raw);
  const found = resolveModel(sim, body.model, "embedding");
  if ("error" in found) {
    return openAiError(found.status, found.error, found.status === 404 ? "model_not_found" : null);
  }
  if (!found.instance && !(await sim.jitLoad(found.model, { signal: request.signal }))) {
    return json({ error: "aborted" }, 499);
  }
  const input = typeof body.input === "string"
    ? [body.input]
    : Array.isArray(body.input)
    ? body.input
    : undefined;
  if (!input?.length || input.some((t) => typeof t !== "string")) {
    return openAiError(400, "'input' must be a string or an array of strings");
  }
  const dimension = (sim.options as InferenceSimOptions).embeddingDimension ?? 768;
  return json({
    object: "list",
    data: (input as string[]).map((text, index) => ({
      object: "embedding",
      embedding: fakeVector(text, dimension),
      index,
    })),
    model: found.model.key,
    usage: { prompt_tokens: 0, total_tokens: 0 },
  });
}
