/**
 * The connection guard against real sockets, in process: a 2026-07-28 call answered in one plain JSON
 * reply long after the idle time is not cut; a client that leaves such a call cancels it (LM Studio's
 * request is aborted); at the connection limit, clients that hold connections without the token make
 * room for one that has it, and a refused request's connection is closed; h2c, an impossible
 * `Content-Length` and a POST that accepts only JSON get an answer and a bound instead of a connection
 * without timers.
 */
import assert from "node:assert/strict";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { rawConnection, serveForTest } from "../support/http_served.ts";
import { until } from "../support/wait.ts";

const QWEN = "qwen/qwen3-8b";
const TOKEN = "guard-test-token-0123456789";

const ENVELOPE = {
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientInfo": { name: "raw", version: "0" },
  "io.modelcontextprotocol/clientCapabilities": {},
};

/** A 2026-07-28 `tools/call` as raw HTTP/1.1: its head, and its body (sent apart, as clients do). */
function modernCall(
  port: number,
  args: Record<string, unknown>,
  accept = "application/json, text/event-stream",
) {
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name: "ask", arguments: args, _meta: ENVELOPE },
  });
  const head = `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
    `Accept: ${accept}\r\nMCP-Protocol-Version: 2026-07-28\r\nMCP-Method: tools/call\r\nMCP-Name: ask\r\n` +
    `Content-Length: ${new TextEncoder().encode(body).length}\r\n\r\n`;
  return { head, body };
}

Deno.test("guard: a 2026-07-28 call answered in one JSON reply after the idle time is not cut", async () => {
  await using sim = LmStudioSim.start();
  // About 1.5 s without a byte on the connection, five times the 300 ms idle time.
  sim.chatScript = { reasoning: null, tokenDelayMs: 50, answer: "word ".repeat(30).trim() };
  await using served = serveForTest(sim, { limits: { idleTimeoutMs: 300 } });
  const response = await fetch(served.handle.url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": "tools/call",
      "mcp-name": "ask",
    },
    body: modernCall(0, { model: QWEN, prompt: "slow" }).body,
  });
  assert.equal(response.headers.get("content-type"), "application/json", "a plain JSON reply, no stream");
  const reply = await response.json();
  assert.equal(reply.result.content[0].text, "word ".repeat(30).trim());
  // The idle rule still holds once the reply is out: the kept-alive connection is closed.
  await until(() => served.handle.stats().connections === 0, "the idle connection to be closed");
});

Deno.test("guard: a client that leaves a 2026-07-28 call cancels it; LM Studio's generation is aborted", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, tokenDelayMs: 50, answer: "word ".repeat(400) };
  await using served = serveForTest(sim);
  const port = served.handle.port;
  const { head, body } = modernCall(port, { model: QWEN, prompt: "long" });
  const conn = await rawConnection(port);
  await conn.write(head);
  await conn.write(body);
  await until(() => (sim.requestsTo("POST /api/v1/chat")[0]?.deltas ?? 0) >= 2, "the answer to stream");
  await conn[Symbol.asyncDispose](); // The client goes away without a word.
  await until(
    () => sim.requestsTo("POST /api/v1/chat")[0]!.abortedAt !== undefined,
    "LM Studio's request to be aborted",
  );
  assert.equal(sim.requestsTo("POST /api/v1/chat")[0]!.endedAt, undefined, "it did not run to the end");
});

Deno.test("guard: clients without the token cannot hold the connection limit against one that has it", async () => {
  await using sim = LmStudioSim.start();
  await using served = serveForTest(sim, {
    env: { LMSTUDIO_MCP_TOKEN: TOKEN },
    limits: { maxConnections: 8 },
  });
  const port = served.handle.port;
  const tokenless = `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
    "Accept: application/json, text/event-stream\r\nContent-Length: 2\r\n\r\n{}";
  // Requests without the token are refused, and their connections closed.
  const refused = await Promise.all(Array.from({ length: 8 }, () => rawConnection(port)));
  for (const conn of refused) await conn.write(tokenless);
  await until(() => refused.every((conn) => conn.closed()), "the refused connections to be closed");
  for (const conn of refused) assert.match(conn.received(), /^HTTP\/1\.1 401[\s\S]*Missing bearer token/);
  // Eight connections that say nothing hold the limit; a token holder's /health is still served, each
  // time making room by closing the oldest of them (told why).
  const silent: Awaited<ReturnType<typeof rawConnection>>[] = [];
  for (let i = 0; i < 8; i++) silent.push(await rawConnection(port));
  await until(() => served.handle.stats().connections === 8, "eight silent connections");
  const holders: Awaited<ReturnType<typeof rawConnection>>[] = [];
  for (let round = 0; round < 3; round++) {
    const holder = await rawConnection(port);
    holders.push(holder);
    await holder.write(
      `GET /health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
    );
    await until(
      () => /"status":"ok"/.test(holder.received()),
      `the token holder's /health, round ${round + 1}`,
    );
    assert.match(holder.received(), /^HTTP\/1\.1 200/);
  }
  await until(() => silent.slice(0, 3).every((conn) => conn.closed()), "the three oldest to make room");
  assert.match(silent[0]!.received(), /^HTTP\/1\.1 503[\s\S]*Retry-After: 1[\s\S]*connection limit/);
  assert.ok(silent.slice(3).every((conn) => !conn.closed()), "the newer ones are kept");
  assert.ok(holders.every((conn) => !conn.closed()), "the token holders' connections are kept");
  await Promise.all([...refused, ...silent, ...holders].map((conn) => conn[Symbol.asyncDispose]()));
});

Deno.test("guard: when every connection carries a call in flight, one more is refused with 503", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, tokenDelayMs: 100, answer: "word ".repeat(100) };
  await using served = serveForTest(sim, { limits: { maxConnections: 3 } });
  const port = served.handle.port;
  const busy = await Promise.all(Array.from({ length: 3 }, () => rawConnection(port)));
  for (const conn of busy) {
    const { head, body } = modernCall(port, { model: QWEN, prompt: "long" });
    await conn.write(head + body);
  }
  await until(() => sim.requestsTo("POST /api/v1/chat").length === 3, "three calls in flight");
  await using extra = await rawConnection(port);
  await until(() => extra.closed(), "the fourth connection to be refused");
  assert.match(
    extra.received(),
    /^HTTP\/1\.1 503[\s\S]*Retry-After: 1[\s\S]*Too many connections \(the limit is 3\)/,
  );
  assert.ok(busy.every((conn) => !conn.closed()), "no call in flight was cut to make room");
  await Promise.all(busy.map((conn) => conn[Symbol.asyncDispose]()));
});

Deno.test("guard: h2c, an impossible Content-Length and broken framing are answered and closed", async () => {
  await using sim = LmStudioSim.start();
  await using served = serveForTest(sim);
  const port = served.handle.port;
  const send = async (text: string) => {
    const conn = await rawConnection(port);
    await conn.write(text);
    await until(() => conn.closed(), `the connection sent ${JSON.stringify(text.slice(0, 30))} to be closed`);
    await conn[Symbol.asyncDispose]();
    return conn.received();
  };
  // h2c prior knowledge: the server's SETTINGS, then GOAWAY with HTTP_1_1_REQUIRED (0xd).
  const h2 = await send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00");
  const bytes = Uint8Array.from(h2, (c) => c.charCodeAt(0));
  assert.deepEqual([...bytes.subarray(0, 9)], [0, 0, 0, 4, 0, 0, 0, 0, 0]);
  assert.equal(bytes[12], 7, "a GOAWAY frame");
  assert.equal(bytes[25], 0x0d, "HTTP_1_1_REQUIRED");
  const post = (headers: string) =>
    `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n${headers}\r\n`;
  assert.match(await send(post("Content-Length: 1234567890123456\r\n")), /^HTTP\/1\.1 413[\s\S]*too large/);
  assert.match(await send(post("Content-Length: 99999999999999999999\r\n")), /^HTTP\/1\.1 413/);
  assert.match(await send(post("Content-Length: 1e3\r\n")), /^HTTP\/1\.1 400[\s\S]*not a number/);
  assert.match(await send(post("Transfer-Encoding: gzip\r\n")), /^HTTP\/1\.1 400[\s\S]*chunked/);
  assert.match(
    await send(post("Transfer-Encoding: chunked\r\n") + "zz\r\n"),
    /^HTTP\/1\.1 400[\s\S]*Malformed chunk size/,
  );
  assert.equal(served.handle.stats().connections, 0);
  // The server still serves.
  assert.equal((await (await fetch(served.handle.url.replace("/mcp", "/health"))).json()).status, "ok");
});

Deno.test("guard: a 2026-07-28 POST that accepts only JSON still gets the body timeout (408)", async () => {
  await using sim = LmStudioSim.start();
  await using served = serveForTest(sim, { limits: { bodyTimeoutMs: 300 } });
  const port = served.handle.port;
  const { head, body } = modernCall(port, { model: QWEN, prompt: "x" }, "application/json");
  await using conn = await rawConnection(port);
  await conn.write(head + body.slice(0, 20));
  await until(() => conn.closed(), "the stalled body to be cut");
  assert.match(conn.received(), /^HTTP\/1\.1 408[\s\S]*The request body did not arrive within 300 ms/);
});
