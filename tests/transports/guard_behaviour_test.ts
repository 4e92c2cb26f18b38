/**
 * What HTTP mode's front door and sessions must hold, seen from outside: a connection that reaches the
 * inner HTTP server directly (around the connection guard) is refused; the session cap holds under many
 * concurrent `initialize` requests; the guard measures idle time from the last byte either way (a long
 * SSE reply with keep-alives outlives a short idle timeout); a late body gets its `408` before the
 * connection closes; and at shutdown a call's work is cancelled before the call is answered.
 */
import assert from "node:assert/strict";
import type { JSONRPCMessage, Transport } from "../../server/sdk.ts";
import { SessionCalls } from "../../transports/http_calls.ts";
import { UnreadBudget } from "../../transports/http_unread.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { openSession, post, rawConnection, replyOf, serveForTest } from "../support/http_served.ts";
import { serveConfigured } from "../support/serve_config.ts";
import { until } from "../support/wait.ts";

const QWEN = "qwen/qwen3-8b";

/** Runs `start` while recording every server `Deno.serve` makes, and returns them with its result. */
function recordingServers<T>(start: () => T): { value: T; servers: Deno.HttpServer<Deno.NetAddr>[] } {
  const original = Deno.serve;
  const servers: Deno.HttpServer<Deno.NetAddr>[] = [];
  (Deno as unknown as { serve: unknown }).serve = (...args: unknown[]) => {
    const server = (original as (...a: unknown[]) => Deno.HttpServer<Deno.NetAddr>)(...args);
    servers.push(server);
    return server;
  };
  try {
    return { value: start(), servers };
  } finally {
    (Deno as unknown as { serve: unknown }).serve = original;
  }
}

async function rawGet(port: number, host: string): Promise<string> {
  await using conn = await rawConnection(port);
  await conn.write(`GET /health HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  await until(() => conn.closed(), `the reply from port ${port}`);
  return conn.received();
}

Deno.test("HTTP: a connection that reaches the inner server directly, around the guard, is refused", async () => {
  await using sim = LmStudioSim.start();
  const { value: served, servers } = recordingServers(() => serveForTest(sim));
  await using _served = served;
  const guardPort = served.handle.port;
  const inner = servers.map((s) => s.addr.port).filter((port) => port !== guardPort);
  assert.equal(inner.length, 1, "one HTTP server listens behind the guard");
  const host = `127.0.0.1:${guardPort}`; // the Host a client of the guard sends: only the route differs
  assert.match(await rawGet(guardPort, host), /^HTTP\/1\.1 200[\s\S]*"status":"ok"/);
  const direct = await rawGet(inner[0]!, host);
  assert.match(direct, /^HTTP\/1\.1 403[\s\S]*Connect to the server's own address/);
  // Nor does an MCP request get through that way.
  await using conn = await rawConnection(inner[0]!);
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: 0,
    method: "initialize",
    params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "x", version: "0" } },
  });
  await conn.write(
    `POST /mcp HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
      `Accept: application/json, text/event-stream\r\nContent-Length: ${body.length}\r\n` +
      `Connection: close\r\n\r\n${body}`,
  );
  await until(() => conn.closed(), "the reply to a direct initialize");
  assert.match(conn.received(), /^HTTP\/1\.1 403/);
  assert.equal(served.handle.sessions(), 0);
});

Deno.test("HTTP: the session cap holds under concurrent initialize requests", async () => {
  await using sim = LmStudioSim.start();
  await using served = serveForTest(sim, { limits: { maxSessions: 3 } });
  const outcomes = await Promise.all(Array.from({ length: 12 }, async (_, i) => {
    const response = await fetch(served.handle.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 0,
        method: "initialize",
        params: {
          protocolVersion: "2025-11-25",
          capabilities: {},
          clientInfo: { name: `c${i}`, version: "0" },
        },
      }),
    });
    await response.body?.cancel();
    return response.status;
  }));
  assert.equal(outcomes.filter((s) => s === 200).length, 3, `statuses: ${outcomes.join(", ")}`);
  assert.equal(outcomes.filter((s) => s === 503).length, 9, `statuses: ${outcomes.join(", ")}`);
  assert.equal(served.handle.sessions(), 3);
});

Deno.test("HTTP: idle time counts from the last byte either way: a long reply with keep-alives outlives it", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, answer: "late but whole" };
  // Nothing from LM Studio for twice the idle time: only the server's heartbeats (every 50 ms, a dozen
  // per idle period) keep the connection busy.
  sim.fault("POST /api/v1/chat", { delayMs: 1_300, times: 1 });
  await using served = serveConfigured(
    { LM_STUDIO_URL: sim.url, LM_STUDIO_HEARTBEAT_MS: "50" },
    { idleTimeoutMs: 600, headerTimeoutMs: 5_000 },
  );
  const url = served.handle.url;
  const session = await openSession(url);
  const response = await post(url, session, {
    jsonrpc: "2.0",
    id: 5,
    method: "tools/call",
    params: { name: "ask", arguments: { model: QWEN, prompt: "slow" }, _meta: { progressToken: "p" } },
  });
  assert.equal(response.status, 200);
  const reply = await replyOf(response, 5);
  assert.ok(reply, "the connection was cut before the reply came");
  assert.match(JSON.stringify(reply), /late but whole/);
  assert.ok(
    sim.requestsTo("POST /api/v1/chat")[0]!.abortedAt === undefined,
    "LM Studio's request was not aborted",
  );
});

Deno.test("HTTP: a late body gets its 408 before the connection closes", async () => {
  await using sim = LmStudioSim.start();
  await using served = serveForTest(sim, {
    limits: { bodyTimeoutMs: 150, headerTimeoutMs: 300, idleTimeoutMs: 800 },
  });
  const port = served.handle.port;
  await using conn = await rawConnection(port);
  await conn.write(
    `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
      `Accept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{"jsonrpc":"2.0",`,
  );
  await until(() => conn.closed(), "the late body's connection to close");
  assert.match(
    conn.received(),
    /^HTTP\/1\.1 408[\s\S]*"message":"The request body did not arrive within 150 ms"/,
  );
});

Deno.test("HTTP sessions: at shutdown a call's work is cancelled before the call is answered", async () => {
  const events: string[] = [];
  const inner: Transport = {
    start: () => Promise.resolve(),
    send: (message: JSONRPCMessage) => {
      events.push(`answered ${JSON.stringify((message as { id?: unknown }).id)}`);
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  const calls = new SessionCalls({
    graceMs: 60_000,
    unread: new UnreadBudget(1024, 4096),
    onSettled: () => {},
    onAbandoned: () => {},
  });
  const outer = calls.track(inner);
  // The server side: a cancellation stops the call's work.
  outer.onmessage = (message) => {
    const note = message as { method?: string; params?: { requestId?: unknown } };
    if (note.method === "notifications/cancelled") events.push(`cancelled ${note.params?.requestId}`);
  };
  const reserved = calls.reserve([
    { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "ask", arguments: {} } },
    { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "ask", arguments: {} } },
  ]);
  assert.ok(Array.isArray(reserved));
  await calls.answerAll(-32000, "Server shutting down");
  assert.deepEqual(events.filter((e) => e.endsWith("1")), ["cancelled 1", "answered 1"]);
  assert.deepEqual(events.filter((e) => e.endsWith("2")), ["cancelled 2", "answered 2"]);
  assert.equal(calls.inFlight(), 0);
});
