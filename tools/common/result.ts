/**
 * The shapes of tool results: readable text for every client, `structuredContent` for those that
 * read it, and the words for a failure (which the server's error boundary, `server/error_boundary.ts`,
 * turns into an `isError` result; a batch uses them for each failed item).
 *
 * @module
 */
import { CancelledError, LmStudioError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/config/logger.ts";
import type { CallToolResult } from "@modelcontextprotocol/server";

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
 * The words for a failure: our typed errors' own message, or (for a bug, logged with its stack) an
 * "Internal error" line. Also used for the per-item errors of a batch.
 *
 * @param error What was thrown
 * @param tool The tool's name
 * @param log Where bugs are logged
 * @returns The message
 */
export function errorText(error: unknown, tool: string, log: Logger): string {
  if (error instanceof CancelledError || error instanceof LmStudioError) return error.message;
  log.error(`Unexpected failure in ${tool}`, error);
  const detail = error instanceof Error ? error.message : String(error);
  return `Internal error in ${tool}: ${detail}. The server log (stderr) has the details`;
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
