/**
 * MCP over Streamable HTTP, in process: SDK clients against `serveHttp` on 127.0.0.1 port 0 and the
 * simulator. Two clients at once with their own sessions, tools, progress, cancellation, DELETE, idle
 * expiry, and each security check: token, Host, Origin, body cap, no stack traces, /health.
 */
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/client";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { parseConfig } from "../../lib/config/config.ts";
import { httpSettings } from "../../transports/http_listen.ts";
import { createStderrLogger } from "../../lib/config/logger.ts";
import { type HttpHandle, serveHttp } from "../../transports/http.ts";
import type { CallToolResult } from "../../server/sdk.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { textOf } from "../support/mcp.ts";
import { fetchText, fetchWithin, readUntil, until, within } from "../support/wait.ts";
import { openSession } from "../support/http_served.ts";
import { mcpApp } from "../../server/build_server.ts";
import { buildDeps } from "../../server/deps.ts";
import { TOOL_NAMES } from "../support/tool_calls.ts";

const QWEN = "qwen/qwen3-8b";
const TOKEN = "test-token-0123456789abcdef";

interface Served extends AsyncDisposable {
  readonly handle: HttpHandle;
  readonly log: string[];
  connect(token?: string): Promise<Client>;
}

function serve(sim: LmStudioSim, env: Record<string, string> = {}, maxBodyBytes?: number): Served {
  const { config } = parseConfig({ LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" }, {});
  const log: string[] = [];
  const logger = createStderrLogger((line) => log.push(line));
  const settings = httpSettings(env.LMSTUDIO_MCP_HTTP ?? "127.0.0.1:0", env, () => "");
  const handle = serveHttp(
    settings,
    mcpApp(buildDeps(config, logger, { secrets: [settings.token] }).deps, {
      name: "lmstudio-mcp",
      version: "test",
    }),
    maxBodyBytes,
  );
  const clients: Client[] = [];
  return {
    handle,
    log,
    connect: async (token?: string) => {
      const transport = new StreamableHTTPClientTransport(new URL(handle.url), {
        requestInit: token ? { headers: { authorization: `Bearer ${token}` } } : {},
      });
      const client = new Client({ name: "http-test", version: "0" });
      await client.connect(transport);
      clients.push(client);
      return client;
    },
    [Symbol.asyncDispose]: async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => {})));
      await handle.shutdown();
    },
  };
}

const call = async (client: Client, name: string, args: Record<string, unknown> = {}) =>
  (await client.callTool({ name, arguments: args })) as CallToolResult;

Deno.test("HTTP: two SDK clients at once, each with its own session, tools, progress and results", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, tokenDelayMs: 60, answer: "one two three four five" };
  await using served = serve(sim);
  const [a, b] = await Promise.all([served.connect(), served.connect()]);
  assert.equal((await a.listTools()).tools.length, TOOL_NAMES.length);
  assert.equal(served.handle.sessions(), 2);
  const progress: string[] = [];
  const [ra, rb] = await Promise.all([
    a.callTool({ name: "ask", arguments: { model: QWEN, prompt: "A" } }, {
      onprogress: (p) => progress.push(p.message ?? ""),
    }),
    b.callTool({ name: "chat", arguments: { session_id: "s", model: QWEN, message: "B" } }),
  ]) as CallToolResult[];
  assert.equal(textOf(ra!), "one two three four five");
  assert.equal(textOf(rb!), "one two three four five");
  assert.ok(progress.some((m) => /Generating: \d+ tokens/.test(m)), progress.join(" | "));
  assert.equal((await a.listPrompts()).prompts.length, 3);
  const health = JSON.parse(
    (await fetchText(served.handle.url.replace("/mcp", "/health"), {}, "/health")).text,
  );
  assert.equal(health.status, "ok");
  assert.equal(health.sessions, 2);
});

Deno.test("HTTP: cancelling a call aborts LM Studio's request; DELETE and idleness end sessions", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, tokenDelayMs: 50, answer: "word ".repeat(200) };
  await using served = serve(sim, { LMSTUDIO_MCP_SESSION_IDLE_MS: "1000" });
  const client = await served.connect();
  const controller = new AbortController();
  const pending = client.callTool({ name: "ask", arguments: { model: QWEN, prompt: "long" } }, {
    signal: controller.signal,
  });
  await until(() => (sim.requestsTo("POST /api/v1/chat")[0]?.deltas ?? 0) >= 2, "the answer to stream");
  controller.abort();
  await assert.rejects(within(pending, "the cancelled call to reject"));
  await until(
    () => sim.requestsTo("POST /api/v1/chat")[0]!.abortedAt !== undefined,
    "LM Studio's request to end",
  );
  sim.chatScript = {};
  // DELETE ends the session at once.
  const transport = client.transport as StreamableHTTPClientTransport;
  const id = transport.sessionId!;
  await transport.terminateSession();
  assert.equal(served.handle.sessions(), 0);
  const gone = await fetchText(served.handle.url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-session-id": id,
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" }),
  }, "the reply to a deleted session");
  assert.equal(gone.status, 404);
  assert.match(gone.text, /Session not found/);
  // A connected client (the GET stream every SDK client opens) is in use and keeps its session, however
  // long it says nothing; a session whose client holds nothing open ends by itself.
  await served.connect();
  await until(
    () => served.log.some((line) => /session .* started \(1 open\)/.test(line)),
    "the first session",
  );
  await openSession(served.handle.url);
  assert.equal(served.handle.sessions(), 2);
  const ended = () => served.log.filter((line) => /MCP session .* ended \(idle\)/.test(line)).length;
  await until(() => ended() === 1, "the session nobody listens on to expire");
  assert.equal(served.handle.sessions(), 1, "the listening client's session is still open");
});

Deno.test("HTTP: a bearer token is required when set, compared exactly, and /health needs none", async () => {
  await using sim = LmStudioSim.start();
  await using served = serve(sim, { LMSTUDIO_MCP_TOKEN: TOKEN });
  const post = (headers: Record<string, string>) =>
    fetchWithin(served.handle.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        ...headers,
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "0" } },
      }),
    }, `the reply to initialize with ${Object.keys(headers).join(", ") || "no"} headers`);
  for (
    const [headers, www] of [[{}, /^Bearer realm="lmstudio-mcp"$/], [
      { authorization: `Bearer ${TOKEN}x` },
      /invalid_token/,
    ], [
      { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
      /invalid_token/,
    ]] as const
  ) {
    const reply = await post(headers);
    assert.equal(reply.status, 401);
    assert.match(reply.headers.get("www-authenticate") ?? "", www);
    await reply.body?.cancel();
  }
  const ok = await post({ authorization: `Bearer ${TOKEN}` });
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  const client = await served.connect(TOKEN);
  assert.equal((await call(client, "model_list")).isError, undefined);
  const health = await fetchText(served.handle.url.replace("/mcp", "/health"), {}, "/health");
  const text = health.text;
  assert.equal(health.status, 200);
  assert.ok(!text.includes(TOKEN) && !text.includes(sim.url), text);
  await assert.rejects(
    served.connect(),
    /Missing bearer token/,
    "the SDK client without the token is refused",
  );
});

Deno.test("HTTP: foreign Host and Origin are refused (DNS rebinding); listed ones are accepted", async () => {
  await using sim = LmStudioSim.start();
  await using served = serve(sim, { LMSTUDIO_MCP_ALLOWED_ORIGINS: "https://app.example" });
  const port = served.handle.port;
  // fetch() will not send a Host of our choosing, so this request is written by hand over TCP.
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  await connection.write(new TextEncoder().encode(
    `POST /mcp HTTP/1.1\r\nHost: evil.example:${port}\r\nContent-Type: application/json\r\n` +
      "Content-Length: 2\r\nConnection: close\r\n\r\n{}",
  ));
  const raw = await within(
    new Response(connection.readable).text(),
    "the reply to a foreign Host, and the connection's end",
    undefined,
    () => connection.close(),
  );
  assert.match(raw, /^HTTP\/1\.1 403[\s\S]*Host \\"evil\.example:\d+\\" is not accepted/);
  const get = (headers: Record<string, string>) =>
    fetchText(served.handle.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        ...headers,
      },
      body: "{}",
    }, `the reply with ${JSON.stringify(headers)}`);
  const cases: [Record<string, string>, number, RegExp][] = [
    [{ origin: "http://evil.example" }, 403, /Origin http:\/\/evil.example is not accepted/],
    [{ origin: "null" }, 403, /Origin null/],
    [{ origin: `http://localhost:${port}` }, 400, /jsonrpc/],
    [{ origin: "https://app.example" }, 400, /jsonrpc/],
  ];
  for (const [headers, status, body] of cases) {
    const { status: got, text } = await get(headers);
    assert.equal(got, status, `${JSON.stringify(headers)}: ${text}`);
    assert.match(text, body);
  }
});

Deno.test("HTTP: bodies are capped, bad JSON gets a JSON-RPC error, and no reply carries a stack trace", async () => {
  await using sim = LmStudioSim.start();
  await using served = serve(sim, {}, 1024 * 1024);
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetchText(served.handle.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        ...headers,
      },
      body,
    }, `the reply to a ${body.length}-character body`);
  const big = await post(
    JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping", pad: "x".repeat(2 * 1024 * 1024) }),
  );
  assert.equal(big.status, 413);
  assert.match(big.text, /"message":"Request body of \d+ bytes is over the limit of 1048576"/);
  const bad = await post("{not json");
  assert.equal(bad.status, 400);
  assert.match(bad.text, /"code":-32700/);
  const lost = await post("{}", { "mcp-session-id": "no-such-session" });
  assert.equal(lost.status, 404);
  const elsewhere = await fetchText(served.handle.url.replace("/mcp", "/other"), {}, "/other");
  assert.equal(elsewhere.status, 404);
  for (const reply of [big, bad, lost, elsewhere]) assert.doesNotMatch(reply.text, / {4}at |\.ts:\d+/);
  assert.ok(!served.log.some((line) => / {4}at /.test(line)), served.log.join("\n"));
});

Deno.test("HTTP settings: loopback by default, no other interface without a long token", () => {
  assert.deepEqual(
    [httpSettings("8765", {}, () => "").hostname, httpSettings("8765", {}, () => "").loopback],
    ["127.0.0.1", true],
  );
  assert.equal(httpSettings("[::1]:8765", {}, () => "").loopback, true);
  assert.throws(
    () => httpSettings("0.0.0.0:8765", {}, () => ""),
    /Refusing to serve MCP on 0\.0\.0\.0:8765 without a token/,
  );
  assert.throws(
    () => httpSettings("192.168.1.5:8765", { LMSTUDIO_MCP_TOKEN: "short" }, () => ""),
    /at least 16/,
  );
  const fromFile = httpSettings(
    "0.0.0.0:8765",
    { LMSTUDIO_MCP_TOKEN_FILE: "/run/token" },
    () => `${TOKEN}\n`,
  );
  assert.equal(fromFile.token, TOKEN);
  assert.throws(() => httpSettings("host:port", {}, () => ""), /is not \[HOST:\]PORT/);
  assert.throws(() => httpSettings("70000", {}, () => ""), /is not \[HOST:\]PORT/);
});

Deno.test("HTTP: a client that lost its stream resumes with Last-Event-ID and gets the rest, result included", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, tokenDelayMs: 20, answer: "one two three four five six seven eight" };
  await using served = serve(sim);
  const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
  const init = await fetchWithin(served.handle.url, {
    method: "POST",
    headers,
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "resume", version: "0" },
      },
    }),
  }, "the reply to initialize");
  const session = init.headers.get("mcp-session-id")!;
  await init.body?.cancel();
  const withSession = { ...headers, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" };
  await (await fetchWithin(served.handle.url, {
    method: "POST",
    headers: withSession,
    body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
  }, "the reply to notifications/initialized")).body?.cancel();
  const call = await fetchWithin(served.handle.url, {
    method: "POST",
    headers: withSession,
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 2,
      method: "tools/call",
      params: { name: "ask", arguments: { model: QWEN, prompt: "count" }, _meta: { progressToken: "p" } },
    }),
  }, "the reply to tools/call");
  // Read up to the first event, note its id, and drop the connection.
  const reader = call.body!.pipeThrough(new TextDecoderStream()).getReader();
  const text = await readUntil(reader, (read) => /^id: (\S+)$/m.test(read), "the first event with an id");
  const lastEventId = /^id: (\S+)$/m.exec(text)![1]!;
  await reader.cancel();
  // The server notices the dropped stream asynchronously; until then a resume is a 409 conflict.
  let resumed: Response | undefined;
  await until(async () => {
    resumed = await fetchWithin(served.handle.url, {
      method: "GET",
      headers: { accept: "text/event-stream", "mcp-session-id": session, "last-event-id": lastEventId },
    }, "the reply to a resume");
    if (resumed.status === 409) await resumed.body?.cancel();
    return resumed.status !== 409;
  }, "the dropped stream to be released");
  assert.equal(resumed!.status, 200);
  const replay = resumed!.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events = await readUntil(replay, (read) => read.includes('"id":2'), "the replayed result of call 2");
  await replay.cancel();
  assert.match(
    events,
    /"result":\{"content":\[\{"type":"text","text":"one two three four five six seven eight"/,
  );
  assert.doesNotMatch(events, new RegExp(`^id: ${lastEventId}$`, "m"), "only events after the last one seen");
});
