/**
 * `embed`: text embeddings. Vectors go to `structuredContent`; the text is a short summary, so that
 * thousands of floats do not flood the calling model's context unless it asks for them.
 *
 * @module
 */
import { z } from "zod";
import { embed as embedTexts } from "../lib/lmstudio/embeddings.ts";
import { InputError } from "../lib/errors.ts";
import { findModel, unsuitableReason } from "../lib/lmstudio/models.ts";
import { ModelKey, NonBlank } from "./common/fields.ts";
import { textAndStructured } from "./common/result.ts";
import { hostReport, routeCall, withFailover } from "./common/route.ts";
import { defineTool, READ_ONLY, type ToolSpec } from "./tool.ts";

const MAX_ITEMS = 1024;
const MAX_TOTAL = 8 * 1024 * 1024;
const PREVIEW = 5;

const Text = () => NonBlank().max(1024 * 1024);

/** The `embed` tool. */
export const embed: ToolSpec = defineTool("embed", () => ({
  title: "Embed text",
  description: "Embedding vectors of a text or a list, from an embedding model (model_list); vectors " +
    "in structuredContent.",
  inputSchema: {
    model: ModelKey(),
    input: z.union([Text(), z.array(Text()).min(1, "must hold at least one text").max(MAX_ITEMS)], {
      error: `input must be a non-empty string or a list of 1 to ${MAX_ITEMS} non-empty strings`,
    }),
    full: z.boolean().optional().describe("Print every vector"),
  },
  outputSchema: {
    model: z.string(),
    dimension: z.number().int(),
    count: z.number().int(),
    embeddings: z.array(z.array(z.number())),
    prompt_tokens: z.number().nullable(),
    host: z.string().optional(),
  },
  annotations: READ_ONLY,
}), async (args, given, context) => {
  const inputs = typeof args.input === "string" ? [args.input] : args.input;
  // With several LM Studio servers: the one where the model is loaded and has room (see lib/lmstudio/pool.ts).
  const routed = await routeCall(given, args.model, { signal: context.signal });
  const { deps } = routed;
  using _counted = routed.route; // Counted on its server until the call ends.
  const catalog = await deps.client.catalog({ signal: context.signal });
  const unsuitable = unsuitableReason(catalog, args.model, {
    tool: "embed",
    type: "embedding",
  });
  if (unsuitable) throw new InputError(unsuitable);
  const total = inputs.reduce((sum, text) => sum + text.length, 0);
  if (total > MAX_TOTAL) {
    throw new InputError(
      `The inputs total ${total} characters; the limit per call is ${MAX_TOTAL}. Split them into several ` +
        `embed calls`,
    );
  }
  context.progress.update(`Embedding ${inputs.length} text${inputs.length === 1 ? "" : "s"}`);
  // Through the load gate: embeds of an unloaded model made at once start one load between them.
  const known = findModel(catalog, args.model);
  const { value: result, route } = await withFailover(routed, args.model, (on) =>
    on.client.loads.run(
      known?.key ?? args.model,
      Boolean(known?.loaded_instances?.length),
      () => embedTexts(on.client, args.model, inputs, context.signal),
      context.signal,
    ), context.signal);
  const preview = (v: number[]) =>
    `[${v.slice(0, PREVIEW).map((x) => x.toFixed(4)).join(", ")}${v.length > PREVIEW ? ", …" : ""}]`;
  const lines = [
    `${result.vectors.length} embedding${result.vectors.length === 1 ? "" : "s"} of dimension ` +
    `${result.dimension} from ${result.model}` +
    (result.promptTokens ? ` (${result.promptTokens} tokens)` : "") +
    ". Vectors are in structuredContent.embeddings, in input order.",
    ...result.vectors.slice(0, args.full ? undefined : 3).map((v, i) =>
      args.full ? `#${i}: ${JSON.stringify(v)}` : `#${i}: ${preview(v)}`
    ),
  ];
  if (!args.full && result.vectors.length > 3) {
    lines.push(`… and ${result.vectors.length - 3} more (pass full: true to print them all)`);
  }
  const where = hostReport(deps, route);
  if (where.line) lines.push(where.line);
  return textAndStructured(lines.join("\n"), {
    model: result.model,
    dimension: result.dimension,
    count: result.vectors.length,
    embeddings: result.vectors,
    prompt_tokens: result.promptTokens,
    ...where.field,
  });
});
