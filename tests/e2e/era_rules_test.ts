/**
 * The era rules of the two transports, in raw JSON-RPC against the real process: a stdio connection keeps
 * the era of its first request (after `server/discover` a request without the envelope is refused with
 * -32602 naming the keys, an `initialize` is refused); a request that means 2026-07-28 but lacks or
 * misspells its envelope gets -32602 naming the keys, never "method not found" or a 2025 answer;
 * `server/discover` and -32022 list every revision served; over HTTP, every missing or mismatched
 * standard header is named in one -32020, and a stray `Mcp-Session-Id` on a 2026-07-28 request is ignored.
 */
import assert from "node:assert/strict";
import { spawnHttp } from "../support/eras.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { envelope, spawnRawServer } from "../support/raw_stdio.ts";

const ignore = Deno.build.os === "windows";
const SERVED = ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"];
const KEYS = /io\.modelcontextprotocol\/protocolVersion.*io\.modelcontextprotocol\/clientCapabilities/;

Deno.test("stdio: after server/discover the connection stays 2026-07-28", { ignore }, async () => {
  await using sim = LmStudioSim.start();
  await using server = await spawnRawServer(
    { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" },
    "2026-07-28",
  );
  // A request without the envelope is not served as 2025 without initialize: it is told the keys.
  await server.send({ jsonrpc: "2.0", id: "plain", method: "tools/list", params: {} });
  const plain = await server.reply("plain");
  assert.equal(plain.error?.code, -32602, JSON.stringify(plain));
  assert.match(plain.error?.message ?? "", /this connection speaks 2026-07-28/);
  assert.match(plain.error?.message ?? "", KEYS);
  // initialize is refused, clearly.
  await server.send({
    jsonrpc: "2.0",
    id: "init",
    method: "initialize",
    params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "x", version: "0" } },
  });
  const init = await server.reply("init");
  assert.equal(init.error?.code, -32600, JSON.stringify(init));
  assert.match(init.error?.message ?? "", /speaks 2026-07-28.*initialize opens a 2025 connection/);
  // And the connection still speaks 2026-07-28.
  const list = await server.request("tools/list");
  assert.equal(list.result?.resultType, "complete", JSON.stringify(list));
  assert.equal((list.result?.tools as unknown[]).length, 7);
  // server/discover lists every revision served, the 2025 ones too.
  assert.deepEqual((await server.request("server/discover")).result?.supportedVersions, SERVED);
});

Deno.test("stdio: a first request that means 2026-07-28 without a whole envelope is told the keys", {
  ignore,
}, async () => {
  await using sim = LmStudioSim.start();
  await using server = await spawnRawServer({ LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" }, "none");
  const ask = async (id: string, method: string, params: Record<string, unknown>) => {
    await server.send({ jsonrpc: "2.0", id, method, params });
    return await server.reply(id);
  };
  // server/discover without _meta: -32602 naming the keys (it was -32601 Method not found).
  const bare = await ask("bare", "server/discover", {});
  assert.equal(bare.error?.code, -32602, JSON.stringify(bare));
  assert.match(bare.error?.message ?? "", KEYS);
  // The envelope's keys without their prefix: -32602 saying so (it was served as 2025).
  const unprefixed = await ask("unprefixed", "tools/list", { _meta: { protocolVersion: "2026-07-28" } });
  assert.equal(unprefixed.error?.code, -32602, JSON.stringify(unprefixed));
  assert.match(
    unprefixed.error?.message ?? "",
    /protocolVersion: the envelope's keys carry the io\.modelcontextprotocol\/ prefix/,
  );
  // A request before initialize, without an envelope: -32602 with both ways to open.
  const early = await ask("early", "tools/list", {});
  assert.equal(early.error?.code, -32602, JSON.stringify(early));
  assert.match(early.error?.message ?? "", /opens with initialize/);
  // An envelope naming a 2025 revision: -32022 listing every revision served.
  const old = await ask("old", "tools/list", { _meta: envelope("2025-11-25") });
  assert.equal(old.error?.code, -32022, JSON.stringify(old));
  assert.deepEqual((old.error as { data?: { supported?: string[] } }).data?.supported, SERVED);
  // None of that chose the era: initialize still opens a 2025 connection.
  const init = await ask("init", "initialize", {
    protocolVersion: "2025-11-25",
    capabilities: {},
    clientInfo: { name: "x", version: "0" },
  });
  assert.equal((init.result as { protocolVersion?: string } | undefined)?.protocolVersion, "2025-11-25");
});

Deno.test(
  "HTTP, 2026-07-28: discover and -32022 list every revision; headers named in one -32020; a stray Mcp-Session-Id is ignored; envelope mistakes are named",
  {
    ignore,
  },
  async () => {
    await using sim = LmStudioSim.start();
    await using server = await spawnHttp({ LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" });
    const post = async (body: Record<string, unknown>, headers: Record<string, string>) => {
      const response = await fetch(server.url!, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          ...headers,
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, ...body }),
      });
      return { status: response.status, body: await response.json() };
    };
    const full = (method: string) => ({ "mcp-protocol-version": "2026-07-28", "mcp-method": method });
    const discover = await post(
      { method: "server/discover", params: { _meta: envelope() } },
      full("server/discover"),
    );
    assert.deepEqual(discover.body.result.supportedVersions, SERVED);
    // Every missing header in one error (it took three tries, one header each).
    const bare = await post(
      { method: "tools/call", params: { name: "model_list", arguments: {}, _meta: envelope() } },
      {},
    );
    assert.equal(bare.status, 400);
    assert.equal(bare.body.error.code, -32020);
    for (const header of ["MCP-Protocol-Version missing", "Mcp-Method missing", "Mcp-Name missing"]) {
      assert.ok(bare.body.error.message.includes(header), `${header}: ${bare.body.error.message}`);
    }
    // Mismatches too, in one error.
    const wrong = await post(
      { method: "tools/call", params: { name: "model_list", arguments: {}, _meta: envelope() } },
      { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/list", "mcp-name": "ask" },
    );
    assert.equal(wrong.body.error.code, -32020);
    assert.match(wrong.body.error.message, /Mcp-Method says "tools\/list".*Mcp-Name says "ask"/);
    // A stray Mcp-Session-Id does not turn a 2026-07-28 request into a lost 2025 session.
    const stray = await post(
      { method: "tools/call", params: { name: "model_list", arguments: {}, _meta: envelope() } },
      {
        ...full("tools/call"),
        "mcp-name": "model_list",
        "mcp-session-id": "0d7c1a5e-0000-4000-8000-000000000000",
      },
    );
    assert.equal(stray.status, 200, JSON.stringify(stray.body));
    assert.equal(stray.body.result.resultType, "complete");
    // An unsupported revision: -32022 listing every revision served.
    const future = await post(
      { method: "tools/list", params: { _meta: envelope("2099-01-01") } },
      { "mcp-protocol-version": "2099-01-01", "mcp-method": "tools/list" },
    );
    assert.equal(future.body.error.code, -32022, JSON.stringify(future.body));
    assert.deepEqual(future.body.error.data.supported, SERVED);
    // Envelope mistakes without a session: the keys are named, not "initialize first".
    const unprefixed = await post({
      method: "tools/list",
      params: { _meta: { protocolVersion: "2026-07-28" } },
    }, {});
    assert.equal(unprefixed.body.error.code, -32602, JSON.stringify(unprefixed.body));
    assert.match(unprefixed.body.error.message, KEYS);
    const noMeta = await post({ method: "server/discover", params: {} }, {});
    assert.equal(noMeta.body.error.code, -32602, JSON.stringify(noMeta.body));
    const headerOnly = await post({ method: "tools/list", params: {} }, full("tools/list"));
    assert.equal(headerOnly.body.error.code, -32602, JSON.stringify(headerOnly.body));
    assert.match(headerOnly.body.error.message, /io\.modelcontextprotocol\/protocolVersion/);
  },
);
