/**
 * The HTTP server's access checks as tables of cases, each written by hand over TCP so every header is
 * ours (fetch will not send a Host of our choosing): the bearer token compared exactly, Origins compared
 * whole (never by prefix), and Hosts compared with their port. A request that passes the checks reaches
 * the MCP transport, which answers `{}` with 400 (not a JSON-RPC message); a refused one gets 401 or 403.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/config.ts";
import { httpSettings } from "../../transports/http_listen.ts";
import { createStderrLogger } from "../../lib/config/logger.ts";
import { type HttpHandle, serveHttp } from "../../transports/http.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { mcpApp } from "../../server/build_server.ts";
import { buildDeps } from "../../server/deps.ts";

const TOKEN = "Test-Token-0123456789abcdef";

function serve(
  sim: LmStudioSim,
  env: Record<string, string>,
): HttpHandle & AsyncDisposable {
  const { config } = parseConfig({ LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" }, {});
  const settings = httpSettings(env.LMSTUDIO_MCP_HTTP ?? "127.0.0.1:0", env, () => "");
  const handle = serveHttp(
    settings,
    mcpApp(buildDeps(config, createStderrLogger(() => {}), { secrets: [settings.token] }).deps, {
      name: "lmstudio-mcp",
      version: "test",
    }),
  );
  return Object.assign(handle, { [Symbol.asyncDispose]: () => handle.shutdown() });
}

/** Sends `POST /mcp` with exactly these headers; returns the status. */
async function status(port: number, headers: Record<string, string>): Promise<number> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  const lines = Object.entries({
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "content-length": "2",
    connection: "close",
    ...headers,
  }).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  await connection.write(new TextEncoder().encode(`POST /mcp HTTP/1.1\r\n${lines}\r\n{}`));
  const reply = await new Response(connection.readable).text();
  const code = /^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1];
  assert.ok(code, `no status line in ${JSON.stringify(reply.slice(0, 200))}`);
  return Number(code);
}

Deno.test("HTTP access: the bearer token must match exactly (case, length, scheme)", async () => {
  await using sim = LmStudioSim.start();
  await using handle = serve(sim, { LMSTUDIO_MCP_TOKEN: TOKEN });
  const host = `127.0.0.1:${handle.port}`;
  const cases: [what: string, authorization: string | undefined, accepted: boolean][] = [
    ["the token", `Bearer ${TOKEN}`, true],
    ["the scheme in any case (RFC 9110)", `bearer ${TOKEN}`, true],
    ["the token upper-cased", `Bearer ${TOKEN.toUpperCase()}`, false],
    ["the token lower-cased", `Bearer ${TOKEN.toLowerCase()}`, false],
    ["a prefix of the token", `Bearer ${TOKEN.slice(0, -1)}`, false],
    ["the token and more", `Bearer ${TOKEN}x`, false],
    ["another scheme", `Basic ${TOKEN}`, false],
    ["an empty bearer", "Bearer ", false],
    ["no header", undefined, false],
  ];
  for (const [what, authorization, accepted] of cases) {
    const got = await status(handle.port, {
      host,
      ...(authorization === undefined ? {} : { authorization }),
    });
    assert.equal(got === 401, !accepted, `${what}: ${got}`);
  }
});

Deno.test("HTTP access: an Origin is accepted only whole, never by prefix", async () => {
  await using sim = LmStudioSim.start();
  await using handle = serve(sim, { LMSTUDIO_MCP_ALLOWED_ORIGINS: "https://app.example.com" });
  const port = handle.port;
  const host = `127.0.0.1:${port}`;
  const cases: [origin: string, accepted: boolean][] = [
    ["https://app.example.com", true],
    ["https://app.example.com/", true],
    [`http://127.0.0.1:${port}`, true],
    [`http://localhost:${port}`, true],
    ["https://app.example.com.evil.example", false],
    ["https://app.example.community", false],
    ["https://app.example.com:444", false],
    ["http://app.example.com", false],
    [`http://127.0.0.1:${port + 1}`, false],
    [`http://127.0.0.1:${port}.evil.example`, false],
    ["null", false],
  ];
  for (const [origin, accepted] of cases) {
    const got = await status(port, { host, origin });
    assert.equal(got === 403, !accepted, `${origin}: ${got}`);
  }
});

Deno.test("HTTP access: a Host is accepted only with the right port", async () => {
  await using sim = LmStudioSim.start();
  await using handle = serve(sim, { LMSTUDIO_MCP_ALLOWED_HOSTS: "proxy.example:8443,bare.example" });
  const port = handle.port;
  const cases: [host: string, accepted: boolean][] = [
    [`127.0.0.1:${port}`, true],
    [`localhost:${port}`, true],
    [`[::1]:${port}`, true],
    ["proxy.example:8443", true],
    [`bare.example:${port}`, true],
    [`127.0.0.1:${port + 1}`, false],
    [`proxy.example:${port}`, false],
    ["bare.example:8443", false],
    [`evil.example:${port}`, false],
    [`127.0.0.1.evil.example:${port}`, false],
  ];
  for (const [host, accepted] of cases) {
    const got = await status(port, { host });
    assert.equal(got === 403, !accepted, `${host}: ${got}`);
  }
});
