/**
 * Fault matrix: every tool × every way LM Studio (or the network) can fail. Each cell must give an
 * `isError` result that names the cause, never an internal error; the server answers the next call;
 * `chat` stores nothing on a failure; and the API key never shows.
 */
import assert from "node:assert/strict";
import { type Fault, LmStudioSim } from "../support/lmstudio_sim.ts";
import { startInProcess } from "../support/in_process.ts";
import { textOf } from "../support/mcp.ts";
import { TOOL_CALLS, TOOL_NAMES } from "../support/tool_calls.ts";
import { within } from "../support/wait.ts";

const KEY = "sk-lm-SENTINEL-7f3a9c";
const QWEN = "qwen/qwen3-8b";

/** A call of each tool that reaches LM Studio, for every tool of the one list. */
const CALLS: readonly [string, Record<string, unknown>][] = TOOL_NAMES.map((
  name,
) => [name, TOOL_CALLS[name]!]);

/** A fault on every route, and what the error must say. */
const HTTP_FAULTS: readonly [string, Fault, RegExp][] = [
  ["401", {
    status: 401,
    body: { error: { type: "invalid_request", code: "invalid_api_key", message: "bad" } },
  }, /API token/],
  ["403", { status: 403, body: { error: "forbidden" } }, /API token/],
  [
    "404",
    { status: 404, body: { error: { type: "model_not_found", message: "no such thing" } } },
    /not found|no such thing|unknown/i,
  ],
  [
    "500 JSON",
    { status: 500, body: { error: { type: "internal_error", message: "engine exploded" } } },
    /engine exploded/,
  ],
  [
    "500 text",
    { status: 500, raw: "plain engine failure", contentType: "text/plain" },
    /plain engine failure/,
  ],
  ["hang", { hang: true }, /timed out after \d+ ms — raise LM_STUDIO_(TIMEOUT_\w+|SSE_IDLE_TIMEOUT_MS)/],
  ["dropped", { drop: true }, /dropped|reply is not JSON|cut off|ended/i],
  [
    "redirect",
    { status: 302, body: {}, headers: { location: "http://evil.example/steal" } },
    /redirect .* not followed/,
  ],
  [
    "oversized",
    { raw: JSON.stringify({ models: [], pad: "x".repeat(17 * 1024 * 1024) }) },
    /larger than 16 MiB/,
  ],
];

const ENV = {
  LM_STUDIO_API_KEY: KEY,
  MCP_SESSIONS_DB: ":memory:",
  LM_STUDIO_TIMEOUT_DEFAULT_MS: "300",
  LM_STUDIO_TIMEOUT_LOAD_MS: "300",
  LM_STUDIO_TIMEOUT_INFERENCE_MS: "900",
  LM_STUDIO_SSE_IDLE_TIMEOUT_MS: "300",
};

/** Timeouts no fault but a hang can reach, even on a busy machine. */
const PATIENT = {
  LM_STUDIO_TIMEOUT_DEFAULT_MS: "30000",
  LM_STUDIO_TIMEOUT_LOAD_MS: "30000",
  LM_STUDIO_TIMEOUT_INFERENCE_MS: "30000",
  LM_STUDIO_SSE_IDLE_TIMEOUT_MS: "30000",
};

function assertCleanError(text: string, pattern: RegExp, cell: string): void {
  assert.match(text, pattern, `${cell}: ${text}`);
  assert.doesNotMatch(text, /Internal error| {4}at /, cell);
  assert.ok(!text.includes(KEY), `${cell} leaked the API key`);
}

Deno.test("fault matrix: every tool × every HTTP fault is a clear error and the server survives", async () => {
  await using sim = LmStudioSim.start({ apiKey: KEY, catalog: { "ibm/granite-4-micro": 1000 } });
  // Only the hang needs short timeouts; every other fault is answered by a server whose timeouts a busy
  // machine cannot reach (a 17 MiB body took over 300 ms under load and timed out instead of being refused).
  await using quick = await startInProcess({ env: { ...ENV, LM_STUDIO_URL: sim.url } });
  await using server = await startInProcess({ env: { ...ENV, ...PATIENT, LM_STUDIO_URL: sim.url } });
  let cells = 0;
  for (const [name, fault, pattern] of HTTP_FAULTS) {
    const serving = name === "hang" ? quick : server;
    for (const [tool, args] of CALLS) {
      sim.clearFaults();
      sim.fault("", fault);
      const result = await serving.call(tool, args);
      sim.clearFaults();
      const cell = `${tool} × ${name}`;
      assert.equal(result.isError, true, `${cell}: ${textOf(result)}`);
      assertCleanError(textOf(result), pattern, cell);
      cells++;
    }
    assert.equal((await serving.call("model_list")).isError, undefined, `alive after ${name}`);
  }
  for (const each of [quick, server]) {
    const sessions = await each.call("chat", { action: "list" });
    assert.equal(
      (sessions.structuredContent as { total: number }).total,
      0,
      "no failed chat stored anything",
    );
    assert.ok(!each.stderr().includes(KEY));
  }
  assert.equal(cells, HTTP_FAULTS.length * CALLS.length);
});

Deno.test("fault matrix: every tool × refused and reset connections", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const refusedUrl = `http://127.0.0.1:${(closed.addr as Deno.NetAddr).port}`;
  closed.close();
  const resetting = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = (async () => {
    for await (const conn of resetting) {
      await conn.read(new Uint8Array(65536)).catch(() => null);
      conn.close();
    }
  })();
  try {
    for (
      const [url, pattern] of [
        [refusedUrl, /not reachable .*\(Connection refused\)/],
        [`http://127.0.0.1:${(resetting.addr as Deno.NetAddr).port}`, /closed it before replying/],
      ] as const
    ) {
      await using server = await startInProcess({ env: { ...ENV, LM_STUDIO_URL: url } });
      for (const [tool, args] of CALLS) {
        const result = await server.call(tool, args);
        assert.equal(result.isError, true, `${tool} at ${url}`);
        assertCleanError(textOf(result), pattern, `${tool} at ${url}`);
      }
    }
  } finally {
    resetting.close();
    await within(accepting.catch(() => {}), "the test listener to stop"); // Ends with the listener.
  }
});

Deno.test("fault matrix: streamed tools × stream faults keep partial text and store nothing", async () => {
  await using sim = LmStudioSim.start({ apiKey: KEY });
  await using server = await startInProcess({ env: { ...ENV, LM_STUDIO_URL: sim.url } });
  const faults = [
    ["drop", /dropped|cut off/i],
    ["malformed", /.+/],
    ["error-event", /Compute error/],
    ["silent", /timed out after 300 ms — raise LM_STUDIO_SSE_IDLE_TIMEOUT_MS/],
    ["no-end", /cut off|ended/i],
    ["empty", /empty|no tokens|no text|did not/i],
  ] as const;
  for (const [fault, pattern] of faults) {
    for (const [tool, args] of CALLS.filter(([t]) => t === "ask" || t === "chat")) {
      sim.chatScript = { fault, answer: "one two three four five", reasoning: null };
      const result = await server.call(tool, args);
      const cell = `${tool} × ${fault}`;
      if (fault === "malformed") {
        // Unparseable events are skipped with a warning; the answer still arrives.
        assert.equal(result.isError, undefined, `${cell}: ${textOf(result)}`);
        continue;
      }
      assert.equal(result.isError, true, `${cell}: ${textOf(result)}`);
      assertCleanError(textOf(result), pattern, cell);
      if (fault === "drop" || fault === "error-event") {
        assert.match(textOf(result), /one two/, `${cell} keeps partial text`);
      }
    }
  }
  sim.chatScript = {};
  const sessions = await server.call("chat", { action: "list" });
  const stored = (sessions.structuredContent as { sessions: { turns: number }[] }).sessions;
  assert.equal(
    stored.reduce((n, s) => n + s.turns, 0),
    1,
    "only the malformed-but-complete reply was stored",
  );
  sim.chatScript = { tokenDelayMs: 100, answer: "slow but steady words", reasoning: null };
  const drip = await server.call("ask", { model: QWEN, prompt: "slow" });
  assert.equal(drip.isError, undefined, `a slow drip under the idle timeout succeeds: ${textOf(drip)}`);
});
