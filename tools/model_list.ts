/**
 * `model_list`: what LM Studio has, loaded and downloaded. With several servers (LM_STUDIO_URL lists
 * them), one catalogue: each model once, with the servers that have it downloaded and, for each loaded
 * instance, its server, context and slots.
 *
 * @module
 */
import { z } from "zod";
import { formatBytes, type ModelSummary, summarizeModel } from "../lib/lmstudio/models.ts";
import { type HostCatalog, slotsOf } from "../lib/lmstudio/pool.ts";
import { textAndStructured } from "./common/result.ts";
import { defineTool, READ_ONLY, type ToolSpec } from "./tool.ts";

const ModelSummarySchema = () =>
  z.object({
    key: z.string(),
    display_name: z.string(),
    type: z.string(),
    loaded: z.boolean(),
    loaded_instances: z.array(
      z.object({
        id: z.string(),
        context_length: z.number().nullable(),
        device: z.string().optional(),
        host: z.string().optional(),
        slots: z.number().int().optional(),
      }),
    ),
    downloaded_on: z.array(z.string()).optional(),
    quantization: z.string().nullable(),
    size_bytes: z.number().nullable(),
    max_context_length: z.number().nullable(),
    format: z.string().nullable(),
    params: z.string().nullable(),
    vision: z.boolean(),
    reasoning_options: z.array(z.string()),
  });

/** A model of the pool's catalogue: where it is downloaded, and each instance's server and slots. */
type PoolModel = Omit<ModelSummary, "loaded_instances"> & {
  readonly loaded_instances: readonly {
    id: string;
    context_length: number | null;
    device?: string;
    host?: string;
    slots?: number;
  }[];
  readonly downloaded_on?: readonly string[];
};

function describe(model: PoolModel): string {
  const parts = [
    model.type,
    model.params,
    model.quantization,
    formatBytes(model.size_bytes),
    model.vision ? "vision" : null,
    model.reasoning_options.length ? `reasoning: ${model.reasoning_options.join("/")}` : null,
  ].filter((p) => p);
  const max = model.max_context_length ? `max context ${model.max_context_length}` : null;
  const instances = model.loaded_instances.map((i) =>
    `instance ${i.id}${i.context_length ? ` at context ${i.context_length}` : ""}${
      i.host ? ` on ${i.host}${i.slots ? ` (${i.slots} slots)` : ""}` : ""
    }${i.device ? ` on ${i.device}` : ""}`
  );
  const where = model.downloaded_on ? `downloaded on ${model.downloaded_on.join(", ")}` : null;
  return `  • ${model.key} — ${[...parts, max, ...instances, where].filter((p) => p).join(", ")}`;
}

/** One catalogue over every server: each model once (described as its first server lists it). */
function merge(catalogs: readonly HostCatalog[]): PoolModel[] {
  const byKey = new Map<
    string,
    { summary: ModelSummary; instances: PoolModel["loaded_instances"][number][]; on: string[] }
  >();
  for (const { host, models } of catalogs) {
    for (const model of models ?? []) {
      const summary = summarizeModel(model);
      const entry = byKey.get(model.key) ?? { summary, instances: [], on: [] };
      byKey.set(model.key, entry);
      entry.on.push(host.name);
      (model.loaded_instances ?? []).forEach((instance, i) =>
        entry.instances.push({
          ...summary.loaded_instances[i]!,
          host: host.name,
          slots: slotsOf({ ...model, loaded_instances: [instance] }),
        })
      );
    }
  }
  return [...byKey.values()].map(({ summary, instances, on }) => ({
    ...summary,
    loaded: instances.length > 0,
    loaded_instances: instances,
    downloaded_on: on,
  }));
}

/** The `model_list` tool. */
export const modelList: ToolSpec = defineTool("model_list", () => ({
  title: "List LM Studio models",
  description: "List LM Studio's models, loaded first: key, type, size, context, vision, reasoning. Call " +
    "first: other tools need the exact key.",
  inputSchema: {
    loaded_only: z.boolean().optional(),
    type: z.enum(["llm", "embedding"]).optional(),
  },
  outputSchema: {
    models: z.array(ModelSummarySchema()),
    loaded_count: z.number().int(),
    total_count: z.number().int(),
    hosts: z.array(
      z.object({ host: z.string(), models: z.number().int().nullable(), error: z.string().optional() }),
    )
      .optional(),
  },
  annotations: READ_ONLY,
}), async (args, deps, context) => {
  let all: PoolModel[];
  let hosts: { host: string; models: number | null; error?: string }[] | undefined;
  if (deps.pool.several) {
    const catalogs = await deps.pool.catalogs({ signal: context.signal, fresh: true });
    if (catalogs.every((c) => c.error)) throw catalogs[0]!.error;
    all = merge(catalogs);
    hosts = catalogs.map((c) =>
      c.models
        ? { host: c.host.name, models: c.models.length }
        : { host: c.host.name, models: null, error: deps.redact(c.error.message) }
    );
  } else {
    all = (await deps.client.listModels({ signal: context.signal })).map(summarizeModel);
  }
  const models = all.filter((m) =>
    (!args.loaded_only || m.loaded) && (args.type === undefined || m.type === args.type)
  );
  const loaded = models.filter((m) => m.loaded);
  const idle = models.filter((m) => !m.loaded);
  const lines: string[] = [];
  if (models.length === 0) {
    lines.push(
      all.length === 0
        ? "LM Studio has no models downloaded. Fetch one with model_download."
        : args.loaded_only
        ? "No models are loaded. Load one with model_load (see model_list for the keys)."
        : "No models match that filter.",
    );
  }
  if (loaded.length) lines.push(`Loaded (${loaded.length}):`, ...loaded.map(describe));
  if (idle.length) {
    lines.push(`Downloaded, not loaded (${idle.length}):`, ...idle.map(describe));
  }
  if (hosts) {
    lines.push(
      `Servers (${hosts.length}): ` +
        hosts.map((h) => h.error ? `${h.host} not answering (${h.error})` : `${h.host} ${h.models} models`)
          .join("; "),
    );
  }
  return textAndStructured(lines.join("\n"), {
    models,
    loaded_count: loaded.length,
    total_count: all.length,
    ...(hosts ? { hosts } : {}),
  });
});
