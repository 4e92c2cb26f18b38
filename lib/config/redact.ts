/**
 * Keeps secrets out of everything the server writes: tool results, logs, `--check` output. LM Studio
 * (or a proxy in front of it) may echo the token it rejected; whatever the source, the API key is
 * replaced before the text leaves the process.
 *
 * @module
 */
import type { Logger } from "./logger.ts";

/** What replaces a secret. */
export const REDACTED = "[redacted]";

/**
 * Builds a function that replaces every occurrence of each secret.
 *
 * @param secrets The secrets; empty and missing ones are ignored
 * @returns The redacting function (the identity when there is nothing to hide)
 * @example
 * ```ts
 * import { redactor } from "./redact.ts";
 * redactor(["sk-lm-123"])("bad token sk-lm-123"); // "bad token [redacted]"
 * ```
 */
export function redactor(secrets: readonly (string | undefined)[]): (text: string) => string {
  // Short values would blank out ordinary words; a real token is long.
  const hidden = secrets.filter((s): s is string => s !== undefined && s.length >= 4);
  if (!hidden.length) return (text) => text;
  return (text) => hidden.reduce((out, secret) => out.replaceAll(secret, REDACTED), text);
}

/**
 * A logger that redacts every message, and the message and stack of logged errors, before `base`.
 *
 * @param base Where the lines go
 * @param redact From {@linkcode redactor}
 * @returns The redacting logger
 */
export function redactingLogger(base: Logger, redact: (text: string) => string): Logger {
  const clean = (error: unknown): unknown => {
    if (!(error instanceof Error)) return error === undefined ? undefined : redact(String(error));
    const copy = new Error(redact(error.message));
    copy.name = error.name;
    copy.stack = redact(error.stack ?? error.message);
    return copy;
  };
  return {
    info: (message) => base.info(redact(message)),
    warn: (message) => base.warn(redact(message)),
    error: (message, error) => base.error(redact(message), clean(error)),
  };
}
