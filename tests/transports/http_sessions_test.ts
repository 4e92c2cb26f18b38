/**
 * The 2025-era session table of HTTP mode (transports/http_sessions.ts) on its own, fed `Request`
 * objects: sessions open on `initialize` within their count, answer by id, end when asked, when idle
 * and at shutdown.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/config.ts";
import { createStderrLogger } from "../../lib/config/logger.ts";
import { mcpApp } from "../../server/build_server.ts";
import { buildDeps } from "../../server/deps.ts";
import { DEFAULT_HTTP_LIMITS } from "../../transports/http.ts";
import { SessionTable } from "../../transports/http_sessions.ts";
import { until } from "../support/wait.ts";

const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-11-25",
    capabilities: {},
    clientInfo: { name: "table-test", version: "0" },
  },
};

function post(body: unknown, session?: string): [Request, { parsed: unknown }] {
  return [
    new Request("http://127.0.0.1/mcp", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2025-11-25",
        ...(session ? { "mcp-session-id": session } : {}),
      },
      body: JSON.stringify(body),
    }),
    { parsed: body },
  ];
}

function table(options: { maxSessions?: number; idleMs?: number } = {}) {
  // LM Studio is never called here: the sessions only list tools.
  const { config } = parseConfig({ LM_STUDIO_URL: "http://127.0.0.1:9", MCP_SESSIONS_DB: ":memory:" }, {});
  const log: string[] = [];
  const built = buildDeps(config, createStderrLogger((line) => log.push(line)));
  const sessions = new SessionTable({
    make: mcpApp(built.deps, { name: "lmstudio-mcp", version: "test" }).make,
    log: built.deps.log,
    maxBodyBytes: 1024 * 1024,
    idleMs: options.idleMs ?? 60_000,
    limits: { ...DEFAULT_HTTP_LIMITS, maxSessions: options.maxSessions ?? 8 },
  });
  return {
    sessions,
    log,
    open: async () => {
      const response = await sessions.open(...post(INITIALIZE));
      assert.equal(response.status, 200, await response.clone().text());
      await response.text();
      const id = response.headers.get("mcp-session-id");
      assert.ok(id, "the reply names the session");
      return id;
    },
    [Symbol.asyncDispose]: async () => {
      await sessions.shutdown(-32000, "test over", Date.now() + 1_000);
      built.close();
    },
  };
}

Deno.test("session table: initialize opens a session, its id routes requests, DELETE-like end closes it", async () => {
  await using t = table();
  const id = await t.open();
  assert.equal(t.sessions.size, 1);
  assert.equal(t.sessions.has(id), true);
  const listed = await t.sessions.handle(id, ...post({ jsonrpc: "2.0", id: 2, method: "tools/list" }, id));
  assert.equal(listed.status, 200);
  assert.match(await listed.text(), /"model_list"/);
  // Anything but initialize opens nothing.
  const stray = await t.sessions.open(...post({ jsonrpc: "2.0", id: 3, method: "tools/list" }));
  assert.notEqual(stray.status, 200);
  await stray.body?.cancel();
  assert.equal(t.sessions.size, 1, "a request that is not initialize keeps no session");
  await t.sessions.end(id, "test");
  assert.equal(t.sessions.size, 0);
  const gone = await t.sessions.handle(id, ...post({ jsonrpc: "2.0", id: 4, method: "tools/list" }, id));
  assert.equal(gone.status, 404);
  assert.equal(((await gone.json()) as { error: { code: number } }).error.code, -32001);
  assert.ok(t.log.some((line) => line.includes("ended (test)")), t.log.join("\n"));
});

Deno.test("session table: past maxSessions an initialize gets 503 with Retry-After, and a freed slot is reused", async () => {
  await using t = table({ maxSessions: 2 });
  const first = await t.open();
  await t.open();
  const refused = await t.sessions.open(...post(INITIALIZE));
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get("retry-after"), "60");
  assert.match(((await refused.json()) as { error: { message: string } }).error.message, /limit is 2/);
  assert.equal(t.sessions.size, 2);
  await t.sessions.end(first, "test");
  await t.open();
  assert.equal(t.sessions.size, 2);
});

Deno.test("session table: idle sessions are swept; shutdown ends the rest and stops the sweep", async () => {
  await using t = table({ idleMs: 1 });
  await t.open();
  await until(() => {
    t.sessions.sweep();
    return t.sessions.size === 0;
  }, "the idle session to be swept");
  assert.ok(t.log.some((line) => line.includes("ended (idle)")), t.log.join("\n"));
  await using busy = table();
  await busy.open();
  await busy.open();
  await busy.sessions.shutdown(-32000, "Server shutting down", Date.now() + 1_000);
  assert.equal(busy.sessions.size, 0);
  assert.equal(busy.log.filter((line) => line.includes("ended (server shutting down)")).length, 2);
});
