/**
 * The `tools/list` reply, built once per process and cached. A tool list sits in the model's context on
 * every turn, so what a model reads (name, description, input schema) is kept lean: the input schema
 * shows types, enums, required fields and meaningful ranges, but not the transport-sized limits
 * (`maxLength: 1048576`) or JSON Schema boilerplate (`$schema`). Those limits are still enforced: our
 * `tools/call` handler (server/build_server.ts) validates every call against the full zod schema.
 *
 * @module
 */
import { z } from "zod";
import type { ToolSpec } from "../tools/tool.ts";

/** One entry of `tools/list`. */
export interface ListedTool {
  /** Tool name. */
  readonly name: string;
  /** Human title. */
  readonly title: string;
  /** What the model reads to choose the tool. */
  readonly description: string;
  /** The compact input schema. */
  readonly inputSchema: { readonly type: "object"; readonly [key: string]: unknown };
  /** The whole output schema (clients validate structuredContent with it; models do not read it). */
  readonly outputSchema: { readonly type: "object"; readonly [key: string]: unknown };
  /** Behaviour hints. */
  readonly annotations: Record<string, unknown>;
  /** No task-based execution. */
  readonly execution: { readonly taskSupport: "forbidden" };
}

/**
 * The most bytes a model may read of our tool list (names, descriptions, input schemas of every tool):
 * what `mcp-llm-studio` 3.1.5 costs with fewer features. Raise it only on purpose; the budget test holds it.
 */
export const TOOL_LIST_BUDGET = 4_625;

/** Numbers this large are limits for safety, not guidance for the model. */
const HIDDEN_BOUND = 10_000;

let cached: readonly ListedTool[] | undefined;

/**
 * The list for `tools/list`, built on first use.
 *
 * @param tools The tools, in order
 * @returns The listed tools
 */
export function toolList(tools: readonly ToolSpec[]): readonly ListedTool[] {
  return cached ??= tools.map((tool) => {
    const d = tool.definition();
    return {
      name: tool.name,
      title: d.title,
      description: d.description,
      inputSchema: compact(z.toJSONSchema(tool.input(), { io: "input", target: "draft-7" })) as {
        type: "object";
      },
      outputSchema: strip$schema(
        z.toJSONSchema(z.object(d.outputSchema), { io: "output", target: "draft-7" }),
      ),
      annotations: { title: d.title, ...d.annotations },
      execution: { taskSupport: "forbidden" },
    };
  });
}

/**
 * The visible size of a tool list: what a model reads of it (name, description, input schema).
 *
 * @param tools The listed tools
 * @returns Bytes per tool and the total
 */
export function visibleBytes(
  tools: readonly { name: string; description?: string | undefined; inputSchema: unknown }[],
): { perTool: Record<string, number>; total: number } {
  const perTool: Record<string, number> = {};
  let total = 0;
  for (const tool of tools) {
    const bytes =
      new TextEncoder().encode(tool.name + (tool.description ?? "") + JSON.stringify(tool.inputSchema))
        .length;
    perTool[tool.name] = bytes;
    total += bytes;
  }
  return { perTool, total };
}

function strip$schema(schema: Record<string, unknown>): { type: "object" } {
  const { $schema: _, ...rest } = schema;
  return rest as { type: "object" };
}

/** Drops boilerplate and safety-sized limits from a JSON Schema, recursively. */
function compact(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(compact);
  if (node === null || typeof node !== "object") return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "$schema" || key === "propertyNames") continue;
    if (
      key === "additionalProperties" && typeof value === "object" && value !== null &&
      !Object.keys(value).length
    ) {
      continue;
    }
    if (key === "maxLength" || key === "minLength" || key === "minItems") continue;
    if ((key === "maximum" || key === "maxItems") && typeof value === "number" && value >= HIDDEN_BOUND) {
      continue;
    }
    out[key] = compact(value);
  }
  return out;
}
