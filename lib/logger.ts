/**
 * A tiny leveled logger that writes to stderr only: stdout carries the MCP protocol.
 *
 * @module
 */

function writeStderr(line: string): void {
  // deno-lint-ignore no-console -- stderr is the log channel; stdout is never written here
  console.error(line);
}

/** Where log lines go. */
export interface Logger {
  /** Something the user may want to know. */
  info(message: string): void;
  /** Something is off but the server carries on. */
  warn(message: string): void;
  /** Something failed unexpectedly; `error` is logged with its stack. */
  error(message: string, error?: unknown): void;
}

/**
 * Creates a logger that prefixes lines with the server name and writes them to stderr.
 *
 * @param write The line sink. @default console.error (stderr)
 * @returns The logger
 * @example
 * ```ts
 * import { createStderrLogger } from "./logger.ts";
 * createStderrLogger().warn("LM_STUDIO_TIMEOUT_LOAD_MS is invalid");
 * ```
 */
export function createStderrLogger(write: (line: string) => void = writeStderr): Logger {
  return {
    info: (message) => write(`[lmstudio-mcp] ${message}`),
    warn: (message) => write(`[lmstudio-mcp] warning: ${message}`),
    error: (message, error) =>
      write(
        `[lmstudio-mcp] error: ${message}${
          error instanceof Error ? `\n${error.stack ?? error.message}` : error ? ` ${error}` : ""
        }`,
      ),
  };
}
