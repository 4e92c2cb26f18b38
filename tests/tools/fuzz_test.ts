/**
 * Seeded fuzzing: random calls over every tool (valid, nearly valid and hostile arguments), in process,
 * and random malformed JSON-RPC lines over real stdio. Every call is answered, none is an internal
 * error, nothing hangs, memory stays bounded. LMSTUDIO_MCP_FUZZ_CALLS sets the count (the GitHub CI
 * workflow runs 10,000); LMSTUDIO_MCP_FUZZ_SEED replays a run.
 */
import assert from "node:assert/strict";
// @ts-types="@modelcontextprotocol/sdk/types"
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { startInProcess } from "../support/in_process.ts";
import { textOf } from "../support/mcp.ts";
import { spawnRawServer } from "../support/raw_stdio.ts";

const CALLS = Number(Deno.env.get("LMSTUDIO_MCP_FUZZ_CALLS") ?? "2000");
const SEED = Number(Deno.env.get("LMSTUDIO_MCP_FUZZ_SEED") ?? "20261125");

/** mulberry32: a small seeded generator, so a failing run can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOOLS = ["model_list", "model_load", "model_unload", "model_download", "ask", "chat", "embed", "nope"];
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

function value(next: () => number, depth = 0): unknown {
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
      return Array.from({ length: Math.floor(next() * 4) }, () => value(next, depth + 1));
    default: {
      const out: Record<string, unknown> = {};
      for (let i = Math.floor(next() * 4); i > 0; i--) out[pick(FIELDS)] = value(next, depth + 1);
      return out;
    }
  }
}

function args(next: () => number): unknown {
  if (next() < 0.05) return value(next, 3); // Not even an object.
  const out: Record<string, unknown> = {};
  for (let i = Math.floor(next() * 6); i > 0; i--) {
    const field = FIELDS[Math.floor(next() * FIELDS.length)]!;
    out[field] = value(next);
  }
  return out;
}

Deno.test(`fuzz: ${CALLS} seeded calls over every tool are all answered, none is an internal error`, async () => {
  await using sim = LmStudioSim.start({ catalog: { "ibm/granite-4-micro": 1000 }, downloadSteps: 1 });
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:", LM_STUDIO_TIMEOUT_DEFAULT_MS: "2000" },
  });
  const next = random(SEED);
  const rssBefore = Deno.memoryUsage().rss;
  let answered = 0;
  for (let i = 0; i < CALLS; i++) {
    const name = TOOLS[Math.floor(next() * TOOLS.length)]!;
    const params = { name, arguments: args(next) } as { name: string; arguments: Record<string, unknown> };
    const label = `#${i} (seed ${SEED}) ${name} ${JSON.stringify(params.arguments)?.slice(0, 200)}`;
    try {
      const result = await server.client.callTool(params, undefined, { timeout: 15_000 });
      assert.doesNotMatch(textOf(result as never), /Internal error/, label);
    } catch (error) {
      assert.ok(error instanceof McpError, `${label}: ${error}`);
      assert.notEqual(error.code, -32603, `${label}: ${error.message}`);
      assert.notEqual(error.code, -32001, `${label} timed out`);
    }
    answered++;
    if (i % 500 === 499) sim.requests.length = 0; // The simulator's record is not what is measured.
  }
  assert.equal(answered, CALLS);
  const grown = (Deno.memoryUsage().rss - rssBefore) / 1048576;
  assert.ok(grown < 300, `RSS grew by ${grown.toFixed(0)} MiB over ${CALLS} calls`);
  assert.doesNotMatch(server.stderr(), /Unexpected failure| {4}at /);
});

Deno.test("fuzz: seeded malformed JSON-RPC lines over stdio are each answered once, and the server lives", async () => {
  await using sim = LmStudioSim.start();
  await using server = await spawnRawServer({ LM_STUDIO_URL: sim.url });
  const next = random(SEED + 1);
  const lines = Math.min(300, CALLS);
  for (let i = 0; i < lines; i++) {
    const id = i;
    const shapes = [
      () => JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: value(next) }),
      () =>
        JSON.stringify({
          jsonrpc: "2.0",
          id,
          method: "tools/call",
          params: { name: "ask", arguments: value(next) },
        }),
      () => JSON.stringify({ jsonrpc: "2.0", id, method: String(value(next)) }),
      () => JSON.stringify({ jsonrpc: value(next), id, method: "tools/list" }),
      () => `{"jsonrpc":"2.0","id":${id},"method":"tools/list","__proto__":${JSON.stringify(value(next))}}`,
      () =>
        JSON.stringify({
          jsonrpc: "2.0",
          id,
          method: "resources/read",
          params: { uri: `lmstudio-mcp://sessions/${String(value(next))}` },
        }),
    ];
    await server.write(shapes[Math.floor(next() * shapes.length)]!() + "\n");
    const reply = await server.reply(id, 10_000);
    assert.ok(reply.result !== undefined || reply.error !== undefined, `#${i}`);
    assert.notEqual(reply.error?.code, -32603, `#${i}: ${reply.error?.message}`);
  }
  await server.write("{broken\n");
  assert.equal((await server.reply(null)).error?.code, -32700);
  const { code, stderr } = await server.close();
  assert.equal(code, 0);
  assert.doesNotMatch(stderr, / {4}at /);
  assert.deepEqual(server.strayLines, []);
});
