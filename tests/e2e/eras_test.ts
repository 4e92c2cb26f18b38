/**
 * Both protocol eras over both transports, against the real process and the simulator: a 2025 client
 * (`initialize`, sessions) and a 2026-07-28 client (`server/discover`, stateless requests with the
 * `_meta` envelope) each list and call every tool, read resources, get prompts, complete arguments,
 * receive progress and cancel a call (LM Studio's request is aborted). Then a legacy and a modern client
 * on one HTTP server at once, and the raw 2026-07-28 wire: `resultType`, `ttlMs`/`cacheScope`, the
 * server's identity in `_meta`.
 */
import assert from "node:assert/strict";
import type { Client } from "@modelcontextprotocol/client";
import type { CallToolResult } from "../../server/sdk.ts";
import { type Era, spawn, spawnHttp, type Wire } from "../support/eras.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { textOf } from "../support/mcp.ts";
import { until } from "../support/wait.ts";
import { TOOL_NAMES } from "../support/tool_calls.ts";

const QWEN = "qwen/qwen3-8b";
const GEMMA = "google/gemma-3-4b";
const NOMIC = "text-embedding-nomic-embed-text-v1.5";
const FAST = { LM_STUDIO_HEARTBEAT_MS: "100", LM_STUDIO_DOWNLOAD_POLL_INTERVAL_MS: "150" };
const ignore = Deno.build.os === "windows";

const call = async (client: Client, name: string, args: Record<string, unknown>) =>
  (await client.callTool({ name, arguments: args })) as CallToolResult;

async function everything(client: Client, sim: LmStudioSim, era: Era): Promise<void> {
  assert.equal(client.getProtocolEra(), era);
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((t) => t.name), TOOL_NAMES);
  assert.match(textOf(await call(client, "model_list", {})), /qwen\/qwen3-8b/);
  const loaded = await call(client, "model_load", { model: GEMMA });
  assert.equal(loaded.isError, undefined, textOf(loaded));
  const unloaded = await call(client, "model_unload", { model: GEMMA });
  assert.equal(unloaded.isError, undefined, textOf(unloaded));
  const downloadProgress: string[] = [];
  const downloaded = await client.callTool(
    { name: "model_download", arguments: { model: "ibm/granite-4-micro" } },
    { onprogress: (p) => downloadProgress.push(p.message ?? "") },
  ) as CallToolResult;
  assert.match(textOf(downloaded), /^Downloaded ibm\/granite-4-micro/);
  assert.ok(downloadProgress.some((m) => /downloading/.test(m)), downloadProgress.join(" | "));
  const progress: string[] = [];
  const asked = await client.callTool(
    { name: "ask", arguments: { model: QWEN, prompt: "hello" } },
    { onprogress: (p) => progress.push(p.message ?? "") },
  ) as CallToolResult;
  assert.equal(textOf(asked), "one two three");
  assert.ok(progress.some((m) => /Generating: \d+ tokens/.test(m)), progress.join(" | "));
  assert.equal(
    textOf(await call(client, "chat", { session_id: `s-${era}`, model: QWEN, message: "hi" })),
    "one two three",
  );
  assert.match(textOf(await call(client, "embed", { model: NOMIC, input: "x" })), /^1 embedding/);

  // Resources, prompts, completions.
  const { resources } = await client.listResources();
  assert.ok(resources.some((r) => r.uri === `lmstudio-mcp://sessions/s-${era}`), JSON.stringify(resources));
  const read = await client.readResource({ uri: `lmstudio-mcp://sessions/s-${era}` });
  assert.match(JSON.stringify(read.contents), /hi/);
  const missing = await client.readResource({ uri: "lmstudio-mcp://sessions/nobody" }).catch((e) => e);
  assert.equal(missing.code, -32602, String(missing));
  assert.equal((await client.listResourceTemplates()).resourceTemplates.length, 1);
  assert.equal((await client.listPrompts()).prompts.length, 3);
  const prompt = await client.getPrompt({ name: "review", arguments: { model: QWEN, files: "a.ts" } });
  assert.match(JSON.stringify(prompt.messages), /ask/);
  const completed = await client.complete({
    ref: { type: "ref/prompt", name: "review" },
    argument: { name: "model", value: "gemma" },
  });
  assert.ok(completed.completion.values.includes(GEMMA), completed.completion.values.join());

  // No list issues cursors, so none is valid: -32602 (the pagination page's SHOULD), never the whole list.
  for (
    const list of [
      () => client.listTools({ cursor: "bogus" }),
      () => client.listPrompts({ cursor: "bogus" }),
      () => client.listResources({ cursor: "bogus" }),
      () => client.listResourceTemplates({ cursor: "bogus" }),
    ]
  ) {
    const refused = await list().catch((e) => e);
    assert.equal(refused.code, -32602, String(refused));
    assert.match(refused.message, /Invalid cursor/);
  }

  // An unknown tool is a protocol error.
  const unknown = await client.callTool({ name: "nope", arguments: {} }).catch((e) => e);
  assert.equal(unknown.code, -32602, String(unknown));

  // Cancellation: LM Studio's request is aborted, and the server keeps serving.
  sim.chatScript = { reasoning: null, tokenDelayMs: 50, answer: "word ".repeat(400) };
  const controller = new AbortController();
  const before = sim.requestsTo("POST /api/v1/chat").length;
  const pending = client.callTool(
    { name: "ask", arguments: { model: QWEN, prompt: "long" } },
    { signal: controller.signal, onprogress: () => {} },
  );
  await until(() => sim.requestsTo("POST /api/v1/chat").length > before, "the request to reach LM Studio");
  const request = sim.requestsTo("POST /api/v1/chat").at(-1)!;
  await until(() => (request.deltas ?? 0) >= 2, "the answer to start streaming");
  controller.abort("stop");
  await assert.rejects(pending);
  await until(() => request.abortedAt !== undefined, `${era}: LM Studio's request to be aborted`);
  sim.chatScript = { reasoning: null, answer: "one two three" };
  assert.equal(textOf(await call(client, "ask", { model: QWEN, prompt: "again" })), "one two three");
}

for (const wire of ["stdio", "http"] as const satisfies readonly Wire[]) {
  for (const era of ["legacy", "modern"] as const satisfies readonly Era[]) {
    Deno.test(`${wire}, ${era} era: every tool, resources, prompts, completions, progress, cancellation`, {
      ignore,
    }, async () => {
      await using sim = LmStudioSim.start({ catalog: { "ibm/granite-4-micro": 2_000_000_000 } });
      sim.chatScript = { reasoning: null, tokenDelayMs: 80, answer: "one two three" };
      await using server = await spawn(wire, {
        LM_STUDIO_URL: sim.url,
        MCP_SESSIONS_DB: ":memory:",
        ...FAST,
      });
      const client = await server.connect(era);
      await everything(client, sim, era);
      assert.doesNotMatch(server.stderr(), /error:|Uncaught/, server.stderr());
    });
  }
}

Deno.test("HTTP: a 2025 client and a 2026-07-28 client on one server at once", { ignore }, async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, tokenDelayMs: 40, answer: "alpha beta gamma delta" };
  await using server = await spawnHttp({ LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:", ...FAST });
  const [legacy, modern] = await Promise.all([server.connect("legacy"), server.connect("modern")]);
  assert.equal(legacy.getProtocolEra(), "legacy");
  assert.equal(modern.getProtocolEra(), "modern");
  const progress = { legacy: [] as string[], modern: [] as string[] };
  const [a, b] = await Promise.all(
    ([["legacy", legacy], ["modern", modern]] as const).map(([era, client]) =>
      client.callTool(
        { name: "chat", arguments: { session_id: "shared", model: QWEN, message: `from ${era}` } },
        { onprogress: (p) => progress[era].push(p.message ?? "") },
      ) as Promise<CallToolResult>
    ),
  );
  assert.equal(textOf(a!), "alpha beta gamma delta");
  assert.equal(textOf(b!), "alpha beta gamma delta");
  for (const era of ["legacy", "modern"] as const) {
    assert.ok(progress[era].some((m) => /Generating/.test(m)), `${era}: ${progress[era].join(" | ")}`);
  }
  // Both wrote to the one store: each sees the other's turn.
  const read = await modern.readResource({ uri: "lmstudio-mcp://sessions/shared" });
  const text = JSON.stringify(read.contents);
  assert.match(text, /from legacy/);
  assert.match(text, /from modern/);
  // The legacy client still has its session; /health counts only sessions (the modern leg has none).
  const health = await (await fetch(new URL("/health", server.url))).json();
  assert.equal(health.sessions, 1);
});

Deno.test("HTTP, 2026-07-28 wire: server/discover, resultType, cache fields, serverInfo in _meta", {
  ignore,
}, async () => {
  await using sim = LmStudioSim.start();
  await using server = await spawnHttp({ LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" });
  const envelope = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": { name: "raw", version: "0" },
    "io.modelcontextprotocol/clientCapabilities": {},
  };
  const post = async (method: string, params: Record<string, unknown> = {}, name?: string) => {
    const response = await fetch(server.url!, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": method,
        ...(name ? { "mcp-name": name } : {}),
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: { ...params, _meta: envelope } }),
    });
    assert.equal(response.headers.get("mcp-session-id"), null, "no sessions in 2026-07-28");
    return { status: response.status, body: await response.json() };
  };
  const discover = await post("server/discover");
  assert.equal(discover.status, 200);
  assert.deepEqual(discover.body.result.supportedVersions, [
    "2026-07-28",
    "2025-11-25",
    "2025-06-18",
    "2025-03-26",
  ]);
  assert.ok(discover.body.result.capabilities.tools);
  const list = await post("tools/list");
  assert.equal(list.body.result.resultType, "complete");
  assert.equal(typeof list.body.result.ttlMs, "number");
  assert.ok(list.body.result.ttlMs > 0, "the tool list is the same for the life of the process");
  assert.equal(list.body.result.cacheScope, "public");
  assert.equal(list.body.result._meta["io.modelcontextprotocol/serverInfo"].name, "lmstudio-mcp");
  const resources = await post("resources/list");
  assert.equal(resources.body.result.ttlMs, 0, "sessions change with every chat turn");
  assert.equal(resources.body.result.cacheScope, "private");
  const called = await post("tools/call", { name: "model_list", arguments: {} }, "model_list");
  assert.equal(called.body.result.resultType, "complete");
  assert.match(called.body.result.content[0].text, /qwen/);
});

Deno.test(
  "logging in both eras: 2025 by logging/setLevel, 2026-07-28 by the request's logLevel; stderr always",
  {
    ignore,
  },
  async () => {
    await using sim = LmStudioSim.start();
    await using server = await spawnHttp({ LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" });
    const [legacy, modern] = await Promise.all([server.connect("legacy"), server.connect("modern")]);
    const logs = { legacy: [] as string[], modern: [] as string[] };
    for (const [era, client] of [["legacy", legacy], ["modern", modern]] as const) {
      client.setNotificationHandler("notifications/message", (n) => {
        logs[era].push(`${n.params.level}: ${n.params.data}`);
      });
    }
    // A stream with a malformed event: the answer survives, and the server warns.
    sim.chatScript = { fault: "malformed", answer: "a b c d", reasoning: null };
    const ask = (client: Client, meta?: Record<string, unknown>) =>
      client.callTool({
        name: "ask",
        arguments: { model: QWEN, prompt: "x" },
        ...(meta ? { _meta: meta } : {}),
      });
    // Nobody asked yet: 2026-07-28 sends no log without a logLevel (absent is opt-out).
    assert.equal(textOf(await ask(modern) as CallToolResult), "a b c d");
    assert.deepEqual(logs.modern, []);
    assert.equal(
      textOf(await ask(modern, { "io.modelcontextprotocol/logLevel": "warning" }) as CallToolResult),
      "a b c d",
    );
    assert.ok(logs.modern.some((l) => /^warning: .*not JSON/.test(l)), logs.modern.join(" | "));
    await legacy.setLoggingLevel("warning");
    await ask(legacy);
    assert.ok(logs.legacy.some((l) => /^warning: .*not JSON/.test(l)), logs.legacy.join(" | "));
    logs.legacy.length = 0;
    await legacy.setLoggingLevel("error");
    await ask(legacy);
    assert.deepEqual(logs.legacy, [], "below the level it set, a 2025 client gets nothing");
    // stderr has every warning, whoever asked.
    await until(
      () => (server.stderr().match(/warning: .*not JSON/g) ?? []).length >= 4,
      "four warnings on stderr",
    );
  },
);
