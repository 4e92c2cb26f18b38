/**
 * The seeded generator of hostile tool calls, shared by the fuzz tests and the memory probe of
 * `deno task bench`.
 *
 * @module
 */
import { random } from "./random.ts";
import { TOOL_NAMES } from "./tool_calls.ts";

export { random };

/** Every tool (from the one list), and one that does not exist. */
export const TOOLS: readonly string[] = [...TOOL_NAMES, "nope"];
const FIELDS = [
  "model",
  "prompt",
  "message",
  "session_id",
  "action",
  "input",
  "images",
  "json_schema",
  "reasoning",
  "max_tokens",
  "temperature",
  "context_length",
  "gpu",
  "ttl",
  "job_id",
  "stream",
  "format",
  "offset",
  "limit",
  "__proto__",
  "constructor",
];
const STRINGS = [
  "",
  " ",
  "qwen/qwen3-8b",
  "google/gemma-3-4b",
  "text-embedding-nomic-embed-text-v1.5",
  "send",
  "list",
  "history",
  "export",
  "delete",
  "reset",
  "xhigh",
  "off",
  "\ud800",
  "bug #12",
  "../../etc/passwd",
  "file:///%zz",
  "data:image/png;base64,%%%",
  "data:image/png;base64,iVBORw0KGgoAAAAA",
  "~/missing.png",
  "💥".repeat(50),
  "x".repeat(300),
  "%E0%A4%A",
  "null",
  "{}",
];

/** A random JSON value: hostile strings, edge numbers, nested arrays and objects. */
export function fuzzValue(next: () => number, depth = 0): unknown {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  switch (Math.floor(next() * (depth > 2 ? 5 : 8))) {
    case 0:
      return pick(STRINGS);
    case 1:
      return pick([0, -1, 1, 0.5, 2, 1e308, -1e308, 2 ** 53, NaN]);
    case 2:
      return pick([true, false, null]);
    case 3:
      return pick(STRINGS) + pick(STRINGS);
    case 4:
      return Math.floor(next() * 5000);
    case 5:
      return Array.from({ length: Math.floor(next() * 4) }, () => fuzzValue(next, depth + 1));
    default: {
      const out: Record<string, unknown> = {};
      for (let i = Math.floor(next() * 4); i > 0; i--) out[pick(FIELDS)] = fuzzValue(next, depth + 1);
      return out;
    }
  }
}

/** Random tool arguments: mostly objects of known and hostile field names, sometimes not an object. */
export function fuzzArgs(next: () => number): unknown {
  if (next() < 0.05) return fuzzValue(next, 3); // Not even an object.
  const out: Record<string, unknown> = {};
  for (let i = Math.floor(next() * 6); i > 0; i--) {
    const field = FIELDS[Math.floor(next() * FIELDS.length)]!;
    out[field] = fuzzValue(next);
  }
  return out;
}
