/**
 * The error boundary: the one place a failure becomes an MCP `isError` result. An error result never
 * carries structured content, so it cannot fail the tool's output schema.
 *
 * @module
 */
import type { CallToolResult } from "@modelcontextprotocol/server";
import { EmptyAnswerError } from "../lib/errors.ts";
import type { Logger } from "../lib/config/logger.ts";
import { type ContentBlock, errorText } from "../tools/common/result.ts";

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
