/**
 * The shapes of tool results: readable text for every client, `structuredContent` for those that
 * read it, and error results that never carry structured content (so they cannot fail the
 * output schema).
 *
 * @module
 */
import type { CallToolResult } from "./sdk.ts";

/** A content block of a tool result. */
export type ContentBlock = CallToolResult["content"][number];

/**
 * A successful result: text first (for clients that ignore `structuredContent`), then the data.
 *
 * @param text The readable result
 * @param structured Data matching the tool's output schema
 * @param more Further content blocks after the text
 * @returns The result
 */
export function textAndStructured(
  text: string,
  structured: Record<string, unknown>,
  more: ContentBlock[] = [],
): CallToolResult {
  return { content: [{ type: "text", text }, ...more], structuredContent: structured };
}

/**
 * A failed result.
 *
 * @param message What failed, why, and what to do
 * @returns The result with `isError: true`
 */
export function errorResult(message: string): CallToolResult {
  return { content: [{ type: "text", text: message }], isError: true };
}

/**
 * A count with its noun, singular or plural: `1 turn`, `3 turns`.
 *
 * @param count The number
 * @param noun The singular noun
 * @returns The phrase
 */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
