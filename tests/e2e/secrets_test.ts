/**
 * A sentinel API key never leaves the process: not in tool results (even when LM Studio echoes the
 * token in an error body, an in-stream error or a malformed chunk), not in logs (stderr or MCP log
 * messages), not in resources, not in `--check`, and not in what a crashing or closing process prints.
 */
import assert from "node:assert/strict";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { startInProcess } from "../support/in_process.ts";
import { childEnv, MAIN, ROOT, RUN_FLAGS } from "../support/mcp.ts";
import { spawnRawServer } from "../support/raw_stdio.ts";
import { tempDir } from "../support/temp.ts";
import { runWithin } from "../support/wait.ts";

const KEY = "sk-lm-SENTINEL-4e1d2b9f";
const QWEN = "qwen/qwen3-8b";
const EMBED = "text-embedding-nomic-embed-text-v1.5";

const sse = (text: string) => ({ status: 200, raw: text, contentType: "text/event-stream" });

/** Every way LM Studio (or a proxy) could hand the token back to us. */
const ECHOES: [string, string, Parameters<LmStudioSim["fault"]>[1]][] = [
  ["HTTP 500 body", "", { status: 500, body: { error: `upstream rejected Bearer ${KEY}` } }],
  ["HTTP 401 body", "", {
    status: 401,
    body: { error: { message: `Invalid token ${KEY}`, type: "invalid_api_key" } },
  }],
  ["non-JSON reply", "", { status: 200, raw: `<html>token=${KEY}</html>`, contentType: "text/html" }],
  [
    "native in-stream error",
    "POST /api/v1/chat",
    sse(
      `event: error\ndata: ${
        JSON.stringify({ type: "error", error: { message: `token ${KEY} revoked` } })
      }\n\n`,
    ),
  ],
  [
    "OpenAI in-stream error",
    "POST /v1/chat/completions",
    sse(`data: {"error":{"message":"token ${KEY} revoked"}}\n\n`),
  ],
  ["malformed chunk", "POST /v1/chat/completions", sse(`data: not json ${KEY}\n\ndata: [DONE]\n\n`)],
];

const CALLS: [string, Record<string, unknown>][] = [
  ["model_list", {}],
  ["model_load", { model: QWEN }],
  ["model_unload", { model: QWEN }],
  ["model_download", { model: "ibm/granite-4-micro" }],
  ["ask", { model: QWEN, prompt: "hi" }],
  ["ask", { model: QWEN, prompt: "hi", ttl: 60 }],
  ["chat", { session_id: "s", model: QWEN, message: "hi" }],
  ["embed", { model: EMBED, input: "hi" }],
];

Deno.test("the API key never appears in results, resources, stderr or MCP log messages", async () => {
  await using tmp = await tempDir("secrets");
  await using sim = LmStudioSim.start({ apiKey: KEY, catalog: { "ibm/granite-4-micro": 1000 } });
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url, LM_STUDIO_API_KEY: KEY, MCP_SESSIONS_DB: `${tmp.path}/sessions.db` },
  });
  const logs: string[] = [];
  server.client.setNotificationHandler("notifications/message", (n) => {
    logs.push(JSON.stringify(n.params));
  });
  await server.client.setLoggingLevel("debug");
  const seen: string[] = [];
  // Working calls first, so there is a session to read back.
  for (const [tool, args] of CALLS) seen.push(JSON.stringify(await server.call(tool, args)));
  let redactions = 0;
  for (const [name, route, fault] of ECHOES) {
    for (const [tool, args] of CALLS) {
      sim.clearFaults();
      sim.fault(route, fault);
      const result = JSON.stringify(await server.call(tool, args));
      sim.clearFaults();
      assert.ok(!result.includes(KEY), `${tool} × ${name} leaked the key: ${result}`);
      if (result.includes("[redacted]")) redactions++;
      seen.push(result);
    }
  }
  const resources = await server.client.listResources();
  seen.push(JSON.stringify(resources));
  for (const resource of resources.resources) {
    seen.push(JSON.stringify(await server.client.readResource({ uri: resource.uri })));
  }
  assert.ok(resources.resources.length > 0, "a session resource was read");
  for (const text of [...seen, ...logs, server.stderr()]) assert.ok(!text.includes(KEY), text.slice(0, 300));
  assert.ok(redactions >= ECHOES.length, `echoed tokens were redacted (${redactions} results)`);
  assert.ok(
    [...logs, server.stderr()].some((line) => line.includes("[redacted]")),
    "the malformed chunk's warning was logged, redacted",
  );
});

async function runCli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  await using home = await tempDir("secrets-cli");
  const output = await runWithin(
    Deno.execPath(),
    {
      args: ["run", "--quiet", `--config=${ROOT}deno.json`, ...RUN_FLAGS, MAIN, ...args],
      env: await childEnv(home.path, env),
      clearEnv: true,
      cwd: home.path,
    },
    `the server run with ${JSON.stringify(args)} to end`,
    30_000,
  );
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, out: decode(output.stdout) + decode(output.stderr) };
}

Deno.test("--check never prints the API key, accepted, rejected or echoed", async () => {
  await using sim = LmStudioSim.start({ apiKey: KEY });
  const good = await runCli(["--check"], { LM_STUDIO_URL: sim.url, LM_STUDIO_API_KEY: KEY });
  assert.equal(good.code, 0, good.out);
  sim.fault("GET /api/v1/models", { status: 401, body: { error: { message: `Invalid token ${KEY}` } } });
  const echoed = await runCli(["--check"], { LM_STUDIO_URL: sim.url, LM_STUDIO_API_KEY: KEY });
  assert.equal(echoed.code, 1, echoed.out);
  sim.clearFaults();
  const wrong = await runCli(["--check"], { LM_STUDIO_URL: sim.url, LM_STUDIO_API_KEY: `${KEY}-old` });
  assert.equal(wrong.code, 1, wrong.out);
  for (const run of [good, echoed, wrong]) assert.ok(!run.out.includes(KEY), run.out);
  assert.match(echoed.out, /\[redacted\]/);
});

Deno.test("a failing start-up and a server that stops print no API key", async () => {
  // A config error that echoes what it was given.
  const bad = await runCli([], { LM_STUDIO_URL: `ftp://${KEY}`, LM_STUDIO_API_KEY: KEY });
  assert.equal(bad.code, 1, bad.out);
  assert.ok(!bad.out.includes(KEY), bad.out);
  // A serving process: an echoed token in a failing call, then stdin closes.
  await using sim = LmStudioSim.start({ apiKey: KEY });
  sim.fault("", { status: 500, body: { error: `upstream rejected Bearer ${KEY}` } });
  const server = await spawnRawServer({ LM_STUDIO_URL: sim.url, LM_STUDIO_API_KEY: KEY });
  await server.send({
    jsonrpc: "2.0",
    id: 2,
    method: "tools/call",
    params: { name: "model_list", arguments: {} },
  });
  const reply = JSON.stringify(await server.reply(2));
  assert.match(reply, /\[redacted\]/);
  const { code, stderr } = await server.close();
  assert.equal(code, 0);
  for (const text of [reply, ...server.strayLines, stderr]) assert.ok(!text.includes(KEY), text);
});
