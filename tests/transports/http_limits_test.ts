/**
 * HTTP mode under pressure, in process: each bound of the server holds and says what happened. A call
 * keeps its session alive; a call whose client left is cancelled after the grace period; shutdown answers
 * calls in flight; `/health` is behind the Host/Origin checks; late heads and bodies, idle and surplus
 * connections are closed; duplicate ids in flight are refused; sessions are capped; the events kept for
 * resuming and the bytes a client leaves unread are bounded.
 */
import assert from "node:assert/strict";
import { ProtocolError } from "@modelcontextprotocol/client";
import type { CallToolResult } from "../../server/sdk.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { textOf } from "../support/mcp.ts";
import {
  openSession,
  post,
  rawConnection,
  replyOf,
  serveForTest,
  toolCall,
  writeChatSession,
} from "../support/http_served.ts";
import { tempDir } from "../support/temp.ts";
import { until } from "../support/wait.ts";

const QWEN = "qwen/qwen3-8b";

Deno.test("HTTP: a call in flight keeps its session alive past the idle time, and the reply arrives", async () => {
  await using sim = LmStudioSim.start();
  const answer = "word ".repeat(40).trim();
  sim.chatScript = { reasoning: null, tokenDelayMs: 60, answer };
  await using served = serveForTest(sim, { env: { LMSTUDIO_MCP_SESSION_IDLE_MS: "1000" } });
  // A raw session: no GET stream listening, so only the call keeps it alive. The answer streams for
  // about 2.4 s, well past the 1 s idle time; a sentinel session opened with it expires meanwhile.
  const headers = await openSession(served.handle.url);
  const sentinel = await openSession(served.handle.url);
  const response = await post(
    served.handle.url,
    headers,
    toolCall(1, "ask", { model: QWEN, prompt: "slow" }),
  );
  const ended = (session: Record<string, string>) =>
    served.log.some((line) => line.includes(`MCP session ${session["mcp-session-id"]!.slice(0, 8)}… ended`));
  await until(() => ended(sentinel), "the idle sentinel session to expire");
  // Had the session expired with it, its stream would have ended without the reply.
  const reply = await replyOf(response, 1);
  assert.equal(textOf(reply?.result as CallToolResult), answer);
  assert.equal(sim.requestsTo("POST /api/v1/chat")[0]!.abortedAt, undefined);
  await until(() => served.handle.sessions() === 0, "the session to expire once idle");
});

Deno.test("HTTP: a reply its client is still reading keeps the session alive past the idle time", async () => {
  await using sim = LmStudioSim.start();
  await using tmp = await tempDir("http-reading");
  const db = `${tmp.path}/history.db`;
  writeChatSession(db, "big", 1_000_000);
  await using served = serveForTest(sim, {
    sessionsDb: db,
    env: { LMSTUDIO_MCP_SESSION_IDLE_MS: "1000" },
    limits: { unreadBytesPerStream: 256 * 1024 * 1024, unreadBytesTotal: 256 * 1024 * 1024 },
  });
  const url = served.handle.url;
  const reader = await openSession(url);
  // About 20 MB of replies on one stream, more than the sockets hold: the server is still sending them
  // when the idle time has passed. A sentinel session opened once they are written, and idle, shows when.
  const batch = Array.from(
    { length: 10 },
    (_, i) => toolCall(i + 1, "chat", { action: "export", session_id: "big" }),
  );
  const response = await post(url, reader, batch);
  await until(() => served.handle.stats().calls === 0, "the replies to be written");
  const sentinel = await openSession(url);
  const ended = (session: Record<string, string>) =>
    served.log.some((line) => line.includes(`MCP session ${session["mcp-session-id"]!.slice(0, 8)}… ended`));
  await until(() => ended(sentinel), "the idle sentinel session to expire");
  assert.ok(!ended(reader), "the session still being sent its replies is open");
  let text = "";
  for await (const chunk of response.body!.pipeThrough(new TextDecoderStream())) text += chunk;
  assert.equal(text.match(/^data: \{"result"/gm)?.length, 10);
  const again = await post(url, reader, toolCall(11, "model_list", {}));
  assert.equal(again.status, 200, "and usable once the client has read them");
  assert.ok((await replyOf(again, 11))?.result);
});

Deno.test("HTTP: a call whose client disconnects and does not resume is cancelled after the grace period", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, tokenDelayMs: 50, answer: "word ".repeat(200) };
  await using served = serveForTest(sim, { limits: { disconnectGraceMs: 200 } });
  const headers = await openSession(served.handle.url);
  const prompts = Array.from({ length: 8 }, (_, i) => `item ${i}`);
  const response = await post(
    served.handle.url,
    headers,
    toolCall(1, "ask", { model: QWEN, prompt: "fan out", prompts }),
  );
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  await reader.read();
  await until(
    () => sim.requestsTo("POST /api/v1/chat").some((r) => (r.deltas ?? 0) > 0),
    "answers to stream",
  );
  await reader.cancel(); // The client goes away without a word.
  const chats = () => sim.requestsTo("POST /api/v1/chat");
  await until(
    () => chats().length > 0 && chats().every((r) => r.abortedAt !== undefined || r.endedAt !== undefined),
    "every LM Studio request to be aborted",
    5_000,
  );
  const started = chats().length;
  const aborted = chats().filter((r) => r.abortedAt !== undefined).length;
  assert.ok(aborted > 0 && aborted === started, `${aborted} of ${started} requests aborted`);
  assert.ok(started <= 8, `${started} requests started for 8 prompts`);
  assert.equal(served.handle.stats().calls, 0);
  assert.ok(
    served.log.some((line) => /call 1 cancelled, its client disconnected/.test(line)),
    served.log.join("\n"),
  );
});

Deno.test("HTTP: shutdown answers every call in flight with an error and aborts its LM Studio request", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, tokenDelayMs: 50, answer: "word ".repeat(400) };
  await using served = serveForTest(sim);
  const [a, b] = await Promise.all([served.connect(), served.connect()]);
  const pending = [a, b].map((client) =>
    client.callTool({ name: "ask", arguments: { model: QWEN, prompt: "long" } }, {
      timeout: 30_000,
    })
      .then(() => "answered", (error: unknown) => error)
  );
  await until(
    () => sim.requestsTo("POST /api/v1/chat").filter((r) => (r.deltas ?? 0) > 0).length === 2,
    "both answers to stream",
  );
  await served.handle.shutdown();
  // Each caller hears about it at once rather than waiting for its own timeout.
  let outcomes: unknown[] = [];
  await until(
    async () => {
      outcomes = await Promise.race([
        Promise.all(pending),
        new Promise<unknown[]>((r) => setTimeout(() => r([]), 10)),
      ]);
      return outcomes.length === 2;
    },
    "both callers to get a reply",
    5_000,
  );
  for (const outcome of outcomes) {
    assert.ok(outcome instanceof ProtocolError, String(outcome));
    assert.match(outcome.message, /Server shutting down/);
  }
  await until(
    () => sim.requestsTo("POST /api/v1/chat").every((r) => r.abortedAt !== undefined),
    "LM Studio's requests to be aborted",
  );
});

Deno.test("HTTP: /health has the Host and Origin checks of /mcp; a loopback Host gets its answer", async () => {
  await using sim = LmStudioSim.start();
  await using served = serveForTest(sim);
  const port = served.handle.port;
  const get = async (headers: string) => {
    await using conn = await rawConnection(port);
    await conn.write(`GET /health HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`);
    await until(() => conn.closed(), "the reply to /health");
    return conn.received();
  };
  assert.match(await get(`Host: evil.example:${port}\r\n`), /^HTTP\/1\.1 403[\s\S]*DNS rebinding/);
  assert.match(
    await get(`Host: 127.0.0.1:${port}\r\nOrigin: http://evil.example\r\n`),
    /^HTTP\/1\.1 403[\s\S]*Origin http:\/\/evil\.example is not accepted/,
  );
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
    assert.match(await get(`Host: ${host}\r\n`), /^HTTP\/1\.1 200[\s\S]*"status":"ok"/);
  }
});

Deno.test("HTTP: late request heads and bodies and idle connections are closed", async () => {
  await using sim = LmStudioSim.start();
  await using served = serveForTest(sim, {
    limits: { headerTimeoutMs: 300, bodyTimeoutMs: 500, idleTimeoutMs: 1_500, maxConnections: 6 },
  });
  const port = served.handle.port;
  const head = `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
    "Accept: application/json, text/event-stream\r\n";
  // A head sent a byte at a time.
  await using slow = await rawConnection(port);
  const dribble = (async () => {
    for (const byte of head) {
      if (!(await slow.write(byte)) || slow.closed()) return;
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
  })();
  // A body that stops halfway.
  await using stalled = await rawConnection(port);
  await stalled.write(`${head}Content-Length: 100\r\n\r\n{"jsonrpc":"2.0",`);
  // A chunked body that stops inside a chunk.
  await using chunked = await rawConnection(port);
  await chunked.write(`${head}Transfer-Encoding: chunked\r\n\r\n40\r\n{"jsonrpc":`);
  // A connection that sends one request, then nothing.
  await using idle = await rawConnection(port);
  await idle.write(`GET /health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  await until(() => slow.closed(), "the byte-by-byte head to be cut", 5_000);
  await dribble;
  assert.match(slow.received(), /^HTTP\/1\.1 408[\s\S]*did not arrive within 300 ms/);
  await until(() => stalled.closed() && chunked.closed(), "the stalled bodies to be cut", 5_000);
  for (const conn of [stalled, chunked]) {
    assert.match(
      conn.received(),
      /^HTTP\/1\.1 408[\s\S]*"message":"The request body did not arrive within 500 ms"/,
    );
  }
  await until(() => idle.closed(), "the idle connection to be closed", 5_000);
  assert.match(idle.received(), /^HTTP\/1\.1 200[\s\S]*"status":"ok"/);
});

Deno.test("HTTP: a request whose id is already in flight in the session is refused, not left hanging", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, tokenDelayMs: 30, answer: "one two three four five six" };
  await using served = serveForTest(sim);
  const headers = await openSession(served.handle.url);
  const call = toolCall(7, "ask", { model: QWEN, prompt: "same id" });
  const first = await post(served.handle.url, headers, call);
  assert.equal(first.status, 200);
  const others = await Promise.all([1, 2, 3].map(() => post(served.handle.url, headers, call)));
  for (const other of others) {
    assert.equal(other.status, 400);
    const body = await other.json();
    assert.equal(body.error.code, -32600);
    assert.match(body.error.message, /a request with id 7 is already in flight in this session/);
  }
  const reply = await replyOf(first, 7);
  assert.match(JSON.stringify(reply?.result), /one two three four five six/);
  // A batch that repeats an id is refused as a whole.
  const batch = await post(served.handle.url, headers, [
    toolCall(8, "tool_list", {}),
    toolCall(8, "tool_list", {}),
  ]);
  assert.equal(batch.status, 400);
  assert.match((await batch.json()).error.message, /id 8 is already in flight/);
  // Once answered, an id can be used again.
  await until(() => served.handle.stats().calls === 0, "the call to end");
  const again = await post(served.handle.url, headers, toolCall(7, "model_list", {}));
  assert.ok((await replyOf(again, 7))?.result, "id 7 is free again");
});

Deno.test("HTTP: sessions are capped with a 503 and Retry-After; ending one makes room", async () => {
  await using sim = LmStudioSim.start();
  await using served = serveForTest(sim, { limits: { maxSessions: 2 } });
  const url = served.handle.url;
  const first = await openSession(url);
  await openSession(url);
  const refused = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: {
        protocolVersion: "2025-11-25",
        capabilities: {},
        clientInfo: { name: "third", version: "0" },
      },
    }),
  });
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get("retry-after"), "60");
  assert.match((await refused.json()).error.message, /Too many MCP sessions \(the limit is 2\)/);
  assert.equal(served.handle.sessions(), 2);
  await (await fetch(url, { method: "DELETE", headers: first })).body?.cancel();
  await openSession(url);
  assert.equal(served.handle.sessions(), 2);
});

Deno.test("HTTP: events kept for resuming are bounded by bytes per session and in total, and freed at the end", async () => {
  await using sim = LmStudioSim.start();
  await using tmp = await tempDir("http-replay");
  const db = `${tmp.path}/history.db`;
  writeChatSession(db, "big", 300_000);
  writeChatSession(db, "small", 20_000);
  const limits = { replayBytesPerSession: 256 * 1024, replayBytesTotal: 128 * 1024 };
  await using served = serveForTest(sim, { sessionsDb: db, limits });
  const url = served.handle.url;
  const sessions = await Promise.all([openSession(url), openSession(url), openSession(url)]);
  let id = 1;
  for (const headers of sessions) {
    for (const session of ["small", "small", "big"]) {
      const response = await post(
        url,
        headers,
        toolCall(id, "chat", { action: "export", session_id: session }),
      );
      assert.ok((await replyOf(response, id++))?.result);
      assert.ok(
        served.handle.stats().replayBytes <= limits.replayBytesTotal,
        `${served.handle.stats().replayBytes}`,
      );
    }
  }
  // The last export (over 256 KiB) was too large to keep: a client resuming before it learns to call again.
  const headers = sessions[2]!;
  const response = await post(url, headers, toolCall(100, "chat", { action: "export", session_id: "big" }));
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/^id: \S+$/m.test(text)) text += (await reader.read()).value ?? "";
  const lastEventId = /^id: (\S+)$/m.exec(text)![1]!;
  await reader.cancel();
  let resumed: Response | undefined;
  await until(async () => {
    resumed = await fetch(url, { method: "GET", headers: { ...headers, "last-event-id": lastEventId } });
    if (resumed.status === 409) await resumed.body?.cancel();
    return resumed.status !== 409;
  }, "the dropped stream to be released");
  const reply = await replyOf(resumed!, 100);
  assert.match(
    String((reply?.error as { message?: string })?.message),
    /too large to keep for a resumed stream/,
  );
  for (const session of sessions) {
    await (await fetch(url, { method: "DELETE", headers: session })).body?.cancel();
  }
  assert.equal(served.handle.sessions(), 0);
  assert.equal(served.handle.stats().replayBytes, 0, "ended sessions keep nothing");
});

Deno.test("HTTP: a stream its client leaves unread is cut once over the bound, not held in memory", async () => {
  await using sim = LmStudioSim.start();
  await using tmp = await tempDir("http-unread");
  const db = `${tmp.path}/history.db`;
  writeChatSession(db, "big", 1_000_000);
  const limits = { unreadBytesPerStream: 256 * 1024, unreadBytesTotal: 512 * 1024 };
  await using served = serveForTest(sim, { sessionsDb: db, limits });
  const batch = Array.from(
    { length: 20 },
    (_, i) => toolCall(i + 1, "chat", { action: "export", session_id: "big" }),
  );
  // A client that reads gets all twenty exports (about 40 MB on one stream), however fast they come.
  const reading = await post(served.handle.url, await openSession(served.handle.url), batch);
  let text = "";
  for await (const chunk of reading.body!.pipeThrough(new TextDecoderStream())) text += chunk;
  assert.equal(text.match(/^data: \{"result"/gm)?.length, 20);
  // The same on one stream whose client reads none of it.
  const headers = await openSession(served.handle.url);
  const response = await post(served.handle.url, headers, batch);
  await until(() => served.handle.stats().calls === 0, "the exports to be answered", 20_000);
  await until(
    () => served.handle.stats().unreadBytes <= limits.unreadBytesPerStream,
    "the unread bytes to be dropped",
  );
  let received = 0;
  let broken = false;
  try {
    for await (const chunk of response.body!) received += chunk.byteLength;
  } catch {
    broken = true;
  }
  assert.ok(broken, `the stream ends in an error (${received} bytes arrived)`);
  assert.ok(received < 20 * 2_000_000, `${received} bytes arrived of about 40 MB`);
});
