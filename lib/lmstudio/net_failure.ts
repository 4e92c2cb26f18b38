/**
 * Why a connection to LM Studio failed, read from the error's cause chain. Deno's `fetch` rejects
 * with a bare `TypeError("fetch failed")` and puts the reason ("tcp connect error: Connection refused",
 * "connection closed before message completed", "dns error: …") in `error.cause`.
 *
 * @module
 */

/** The kinds of connection failure a person fixes differently. */
export type NetFailureKind = "refused" | "reset" | "timeout" | "dns" | "tls" | "blocked" | "other";

/** A classified connection failure. */
export interface NetFailure {
  /** What went wrong. */
  readonly kind: NetFailureKind;
  /** A short reason for people, e.g. "Connection refused". */
  readonly reason: string;
  /** For `blocked`: the port `fetch` refused to use. */
  readonly port?: number;
}

/**
 * `fetch` never connects to the Fetch standard's "bad ports" (1, 7, 9, …, 6000, 10080): Deno fails the
 * request at once with "Requests to port N are blocked". Nothing listens or refuses there; the URL is wrong.
 */
const BLOCKED_PORT = /Requests to port (\d+) are blocked/i;

const PATTERNS: readonly { kind: NetFailureKind; test: RegExp; reason: string }[] = [
  {
    kind: "refused",
    test: /connection refused|ECONNREFUSED|os error 111|os error 10061/i,
    reason: "Connection refused",
  },
  {
    kind: "reset",
    test: /connection reset|ECONNRESET|connection closed before message completed|broken pipe|os error 104/i,
    reason: "connection reset before a reply",
  },
  { kind: "timeout", test: /timed out|ETIMEDOUT|os error 110/i, reason: "connection timed out" },
  {
    kind: "dns",
    test: /dns error|failed to lookup|ENOTFOUND|name or service not known|nodename nor servname/i,
    reason: "host name not found",
  },
  { kind: "tls", test: /certificate|tls|ssl/i, reason: "TLS handshake failed" },
];

/**
 * The messages of an error and its causes, outermost first (bounded, so a cyclic chain ends).
 *
 * @param error Any thrown value
 * @returns The messages
 */
export function causeMessages(error: unknown): string[] {
  const out: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    if (current instanceof Error) {
      out.push(current.message);
      current = current.cause;
    } else {
      out.push(String(current));
      break;
    }
  }
  return out;
}

/**
 * Classifies a network error.
 *
 * @param error What `fetch` threw
 * @returns The kind and a short reason
 * @example
 * ```ts
 * import { classifyNetFailure } from "./net_failure.ts";
 * const error = new TypeError("fetch failed", { cause: new Error("tcp connect error: Connection refused") });
 * classifyNetFailure(error).kind; // "refused"
 * ```
 */
export function classifyNetFailure(error: unknown): NetFailure {
  const messages = causeMessages(error);
  const all = messages.join(" | ");
  const blocked = all.match(BLOCKED_PORT);
  if (blocked) {
    return { kind: "blocked", reason: `fetch refuses to use port ${blocked[1]}`, port: Number(blocked[1]) };
  }
  for (const pattern of PATTERNS) {
    if (pattern.test.test(all)) return { kind: pattern.kind, reason: pattern.reason };
  }
  const innermost = messages.filter((m) => m && m !== "fetch failed").at(-1) ?? messages[0] ??
    "unknown error";
  return { kind: "other", reason: innermost.split(": ").pop() ?? innermost };
}
