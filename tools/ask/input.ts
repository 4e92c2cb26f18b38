/**
 * The input of `ask`: its schema (built on first use, like every tool's) and the type of its validated
 * arguments, derived from that schema so the two cannot drift apart.
 *
 * @module
 */
import { z } from "zod";
import { MAX_PARALLEL } from "../../lib/config/config.ts";
import { DEFAULT_MAX_TOKENS } from "../../lib/inference/context_budget.ts";
import { REASONING_LEVELS } from "../../lib/lmstudio/native_chat_endpoint.ts";
import { FilesField } from "../common/file_input.ts";
import { ModelKey, NonBlank } from "../common/fields.ts";

const MIB = 1024 * 1024;
/** Most items (files or prompts) of one `each` call. */
export const MAX_ITEMS = 200;
/** Inline images per call, in characters: with the prompt and system prompt this stays under the stdio
 * transport's 64 MiB message limit. Files given by path have no such bound (20 MiB each). */
const MAX_IMAGES_CHARS = 48 * MIB;
export { DEFAULT_MAX_TOKENS };

const shape = () => ({
  model: ModelKey(),
  prompt: NonBlank().max(MIB),
  system: z.string().max(MIB).optional(),
  temperature: z.number().min(0).max(1).optional(),
  max_tokens: z.number().int().min(1).max(1_000_000).optional()
    .describe(`Default ${DEFAULT_MAX_TOKENS}; ¼ of context with files/each/prompts`),
  reasoning: z.enum(REASONING_LEVELS).optional(),
  context_length: z.number().int().min(256).max(16_777_216).optional(),
  stream: z.boolean().optional(),
  images: z.array(z.string().min(1).max(MAX_IMAGES_CHARS)).min(1).max(10)
    .refine((list) => list.reduce((n, item) => n + item.length, 0) <= MAX_IMAGES_CHARS, {
      error: "images: data URLs may total 48 MiB per call; pass larger images as file paths",
    })
    .optional()
    .describe("Paths or data URLs"),
  ttl: z.number().int().min(1).max(31_536_000).optional().describe("Idle seconds before unload"),
  json_schema: z.record(z.string(), z.unknown()).optional()
    .describe("Answer as this JSON Schema"),
  files: FilesField().optional()
    .describe("Paths, folders, globs"),
  each: z.boolean().optional().describe("Once per file"),
  prompts: z.array(NonBlank().max(MIB)).min(1).max(MAX_ITEMS).optional()
    .describe("Once per item"),
  combine: NonBlank().max(MIB).optional().describe("Merge instruction"),
  parallel: z.number().int().min(1).max(MAX_PARALLEL).optional().describe("Items at once"),
});

/** The shape of `ask`'s input schema. */
export type AskShape = ReturnType<typeof shape>;

/** The arguments of `ask`, as validated. */
export type AskArgs = z.infer<z.ZodObject<AskShape>>;

/**
 * The input schema's shape, made fresh on each call (tools build their schemas on first use).
 *
 * @returns The shape
 */
export function askInput(): AskShape {
  return shape();
}
