/**
 * `lib/config/redact.ts` alone: secrets replaced wherever they appear, short values left alone, and a logger
 * that cleans messages, error messages and stacks.
 */
import assert from "node:assert/strict";
import type { Logger } from "../../lib/config/logger.ts";
import { REDACTED, redactingLogger, redactor } from "../../lib/config/redact.ts";

const KEY = "sk-lm-0123456789abcdef";

Deno.test("redactor replaces every occurrence of every secret", () => {
  const cases: [secrets: (string | undefined)[], text: string, expected: string][] = [
    [[KEY], `bad token ${KEY}`, `bad token ${REDACTED}`],
    [[KEY], `${KEY}${KEY} and ${KEY}`, `${REDACTED}${REDACTED} and ${REDACTED}`],
    [[KEY, "other-secret"], `a ${KEY} b other-secret`, `a ${REDACTED} b ${REDACTED}`],
    [[KEY], `case differs ${KEY.toUpperCase()}`, `case differs ${KEY.toUpperCase()}`],
    [[KEY], "nothing here", "nothing here"],
    [[undefined, ""], "nothing to hide", "nothing to hide"],
    [["abc"], "abc is too short to be a token", "abc is too short to be a token"],
    [["abcd"], "abcd is hidden", `${REDACTED} is hidden`],
    [
      ["a.b*c"],
      "regex characters a.b*c stay literal: axbbc",
      `regex characters ${REDACTED} stay literal: axbbc`,
    ],
  ];
  for (const [secrets, text, expected] of cases) assert.equal(redactor(secrets)(text), expected, text);
});

Deno.test("redactingLogger cleans messages, error messages and stacks before the base logger", () => {
  const lines: unknown[][] = [];
  const base: Logger = {
    info: (message) => lines.push(["info", message]),
    warn: (message) => lines.push(["warn", message]),
    error: (message, error) => lines.push(["error", message, error]),
  };
  const log = redactingLogger(base, redactor([KEY]));
  log.info(`info ${KEY}`);
  log.warn(`warn ${KEY}`);
  const error = new TypeError(`failed with ${KEY}`);
  log.error(`error ${KEY}`, error);
  log.error("plain", `string cause ${KEY}`);
  log.error("none");
  const text = JSON.stringify(
    lines,
    (_, value) => value instanceof Error ? `${value.name}|${value.message}|${value.stack}` : value,
  );
  assert.ok(!text.includes(KEY), text);
  assert.equal(lines[0]![1], `info ${REDACTED}`);
  assert.equal(lines[1]![1], `warn ${REDACTED}`);
  const cleaned = lines[2]![2] as Error;
  assert.equal(cleaned.name, "TypeError");
  assert.equal(cleaned.message, `failed with ${REDACTED}`);
  assert.match(cleaned.stack ?? "", /redact_test\.ts/);
  assert.equal(lines[3]![2], `string cause ${REDACTED}`);
  assert.equal(lines[4]![2], undefined);
  assert.ok(error.message.includes(KEY), "the original error is not changed");
});
