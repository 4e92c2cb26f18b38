/**
 * `model_unload`: free the memory a loaded model holds. With several servers, on the one named by
 * `host`, else on the first where the model is loaded.
 *
 * @module
 */
import { z } from "zod";
import { LmStudioError } from "../lib/errors.ts";
import { loadedInstances, resolveUnloadTargets } from "../lib/lmstudio/models.ts";
import type { Host } from "../lib/lmstudio/pool.ts";
import type { NativeModel } from "../lib/lmstudio/schemas.ts";
import { HostField, ModelKey } from "./common/fields.ts";
import { textAndStructured } from "./common/result.ts";
import { defineTool, type ToolDeps, type ToolSpec } from "./tool.ts";

/** The `model_unload` tool. */
export const modelUnload: ToolSpec = defineTool("model_unload", () => ({
  title: "Unload an LM Studio model",
  description: "Unload a model key (all its instances) or one instance id (key:2) to free memory.",
  inputSchema: {
    model: ModelKey(),
    host: HostField(),
  },
  outputSchema: {
    unloaded: z.array(z.string()),
    still_loaded: z.array(z.string()),
    host: z.string().optional(),
  },
  annotations: {
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: true,
    openWorldHint: false,
  },
}), async (args, deps, { signal }) => {
  const { host, models, elsewhere } = await where(deps, args.model, args.host, signal);
  const client = host.client;
  const targets = resolveUnloadTargets(models, args.model);
  const named = (ids: string[]) => deps.pool.several ? ids.map((id) => `${id} on ${host.name}`) : ids;
  if (targets.length === 0) {
    const loaded = [...named(loadedInstances(models).map((i) => i.id)), ...elsewhere];
    throw new LmStudioError(
      `Nothing named "${args.model}" is loaded${deps.pool.several ? ` on ${host.name}` : ""}. ` +
        (loaded.length
          ? `Loaded now: ${loaded.join(", ")}. Pass one of those`
          : "No models are loaded at all, so there is nothing to unload"),
    );
  }
  const unloaded: string[] = [];
  for (const id of targets) unloaded.push(await client.unloadModel(id, { signal }));
  const still = [
    ...named(loadedInstances(models).map((i) => i.id).filter((id) => !targets.includes(id))),
    ...elsewhere,
  ];
  return textAndStructured(
    `Unloaded ${unloaded.join(", ")}${deps.pool.several ? ` on ${host.name}` : ""}.` +
      (still.length ? ` Still loaded: ${still.join(", ")}.` : " No models are loaded now."),
    { unloaded, still_loaded: still, ...(deps.pool.several ? { host: host.name } : {}) },
  );
});

/**
 * The server to unload on and its catalogue: the one named, the only one, or the first where `model` is
 * loaded; with several, also what stays loaded on the others (`id on host`).
 */
async function where(
  deps: ToolDeps,
  model: string,
  named: string | undefined,
  signal: AbortSignal,
): Promise<{ host: Host; models: readonly NativeModel[]; elsewhere: string[] }> {
  if (!deps.pool.several) {
    const host = named === undefined ? deps.pool.hosts[0]! : deps.pool.host(named);
    return { host, models: await host.client.listModels({ signal }), elsewhere: [] };
  }
  const chosen = named === undefined ? undefined : deps.pool.host(named);
  const catalogs = await deps.pool.catalogs({ signal, fresh: true });
  const usable = catalogs.filter((c) => c.models !== undefined);
  const pick = chosen
    ? catalogs.find((c) => c.host === chosen)!
    : usable.find((c) => resolveUnloadTargets(c.models!, model).length > 0) ?? usable[0] ?? catalogs[0]!;
  if (pick.error) throw pick.error;
  const elsewhere = usable.filter((c) => c !== pick).flatMap((c) =>
    loadedInstances(c.models!).map((i) => `${i.id} on ${c.host.name}`)
  );
  return { host: pick.host, models: pick.models!, elsewhere };
}
