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

/** Where a copy of each log line goes besides stderr (the MCP client, as `notifications/message`). */
export type LogForward = (level: "info" | "warning" | "error", message: string) => void;

/**
 * A logger that writes to `base` and also hands each line to `forward`; a failing forward is ignored.
 *
 * @param base The stderr logger
 * @param forward The copy's destination
 * @returns The combined logger
 */
export function teeLogger(base: Logger, forward: LogForward): Logger {
  const safe = (level: Parameters<LogForward>[0], message: string) => {
    try {
      forward(level, message);
    } catch {
      // The client may be gone; stderr already has the line.
    }
  };
  return {
    info: (message) => {
      base.info(message);
      safe("info", message);
    },
    warn: (message) => {
      base.warn(message);
      safe("warning", message);
    },
    error: (message, error) => {
      base.error(message, error);
      safe("error", error instanceof Error ? `${message}: ${error.message}` : message);
    },
  };
}
