/**
 * The shapes of tool results: readable text for every client, `structuredContent` for those that
 * read it, and error results that never carry structured content (so they cannot fail the
 * output schema).
 *
 * @module
 */
import { CancelledError, EmptyAnswerError, LmStudioError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
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
 * The one place a failure becomes an MCP `isError` result. Our typed errors carry a message written
 * for the user (an empty answer also shows the model's reasoning); anything else is a bug, logged with
 * its stack and reported without it.
 *
 * @param error What the tool threw
 * @param tool The tool's name
 * @param log Where bugs are logged
 * @param redact Removes secrets (the API key) from the text, whatever put them there
 * @returns The result with `isError: true`
 */
export function errorResult(
  error: unknown,
  tool: string,
  log: Logger,
  redact: (text: string) => string = (text) => text,
): CallToolResult {
  const text = errorText(error, tool, log);
  const content: ContentBlock[] = [{ type: "text", text: redact(text) }];
  if (error instanceof EmptyAnswerError && error.reasoning) {
    content.push({ type: "text", text: redact(`Reasoning:\n${error.reasoning}`) });
  }
  return { content, isError: true };
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
