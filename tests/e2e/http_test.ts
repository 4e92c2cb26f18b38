/**
 * HTTP mode as a process: `LMSTUDIO_MCP_HTTP` / `--http` start it, an SDK client works over it, SIGTERM
 * ends it cleanly (the LM Studio call in flight is aborted, exit code 0), binding beyond loopback
 * without a token refuses to start, a port in use ends it at once with what to do, and serving loopback
 * without a token says what that exposes.
 */
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/client";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { childEnv, MAIN, ROOT, RUN_FLAGS } from "../support/mcp.ts";
import { readServerLog } from "../support/http_log.ts";
import { tempDir } from "../support/temp.ts";
import { exitOf, until, within } from "../support/wait.ts";

const TOKEN = "e2e-token-0123456789abcdef";

async function spawnHttp(env: Record<string, string>, args: string[] = []) {
  const home = await tempDir("http-e2e");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", `--config=${ROOT}deno.json`, ...RUN_FLAGS, MAIN, ...args],
    env: await childEnv(home.path, env),
    clearEnv: true,
    cwd: home.path,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log = readServerLog(child.stderr);
  const stdout = new Response(child.stdout).text();
  let finished: Promise<{ code: number; stdout: string; stderr: string }> | undefined;
  /** Waits for the exit (killing the process after the bound), then removes its HOME. */
  const finish = () =>
    finished ??= (async () => {
      try {
        const status = await exitOf(child, "the HTTP server process to exit");
        await within(log.ended, "the server's stderr to end");
        return {
          code: status.code,
          stdout: await within(stdout, "the server's stdout to end"),
          stderr: log.text(),
        };
      } finally {
        await home[Symbol.asyncDispose]();
      }
    })();
  return {
    child,
    stderr: () => log.text(),
    url: log.url,
    finish,
    /** Stops a server a failed test left running. */
    async [Symbol.asyncDispose]() {
      if (finished) return;
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await finish().catch(() => {});
    },
  };
}

Deno.test("HTTP process: serves an SDK client, and SIGTERM aborts the call in flight and exits 0", {
  ignore: Deno.build.os === "windows",
}, async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, tokenDelayMs: 50, answer: "word ".repeat(400) };
  await using server = await spawnHttp({
    LM_STUDIO_URL: sim.url,
    LMSTUDIO_MCP_HTTP: "127.0.0.1:0",
    LMSTUDIO_MCP_TOKEN: TOKEN,
  });
  const url = await within(server.url, "the server to say where it serves MCP", 30_000);
  assert.ok(url?.startsWith("http://127.0.0.1:"), server.stderr());
  const client = new Client({ name: "e2e", version: "0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url!), {
      requestInit: { headers: { authorization: `Bearer ${TOKEN}` } },
    }),
  );
  const list = await client.callTool({ name: "model_list", arguments: {} });
  assert.equal(list.isError, undefined);
  const pending = client.callTool({ name: "ask", arguments: { model: "qwen/qwen3-8b", prompt: "long" } })
    .catch(
      (error) => error,
    );
  await until(() => (sim.requestsTo("POST /api/v1/chat")[0]?.deltas ?? 0) >= 2, "the answer to stream");
  server.child.kill("SIGTERM");
  const { code, stdout, stderr } = await server.finish();
  await client.close().catch(() => {}); // Ends the call that will never be answered now.
  await within(pending, "the call in flight to end with the connection");
  assert.equal(code, 0, stderr);
  assert.equal(stdout, "", "nothing on stdout in HTTP mode");
  assert.match(stderr, /Shutting down/);
  await until(
    () => sim.requestsTo("POST /api/v1/chat")[0]!.abortedAt !== undefined,
    "LM Studio's request to end",
  );
  assert.ok(!stderr.includes(TOKEN), "the token is never logged");
  assert.doesNotMatch(stderr, / {4}at /);
});

Deno.test("HTTP process: --http on another interface without a token refuses to start", async () => {
  await using server = await spawnHttp({ LM_STUDIO_URL: "http://127.0.0.1:9" }, ["--http", "0.0.0.0:0"]);
  const { code, stderr } = await server.finish();
  assert.equal(code, 1);
  assert.match(stderr, /Refusing to serve MCP on 0\.0\.0\.0:0 without a token/);
  assert.doesNotMatch(stderr, / {4}at /);
});

Deno.test("HTTP process: --http on a port in use exits 1 at once, naming the port and what to do", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = taken.addr.port;
  await using server = await spawnHttp({ LM_STUDIO_URL: "http://127.0.0.1:9" }, [
    "--http",
    `127.0.0.1:${port}`,
  ]);
  // exitOf bounds the wait: a server that hangs instead of exiting fails here.
  const { code, stderr } = await server.finish();
  assert.equal(code, 1, stderr);
  assert.match(
    stderr,
    new RegExp(
      `Cannot serve MCP on 127\\.0\\.0\\.1:${port}: port ${port} is already in use[\\s\\S]*--http ${
        port + 1
      }`,
    ),
  );
  assert.doesNotMatch(stderr, / {4}at |nobody waiting/);
});

Deno.test("HTTP process: on loopback without a token or --allow-dir, it says what that exposes", async () => {
  await using sim = LmStudioSim.start();
  await using open = await spawnHttp({ LM_STUDIO_URL: sim.url, LMSTUDIO_MCP_HTTP: "127.0.0.1:0" });
  await within(open.url, "the server to say where it serves MCP", 30_000);
  open.child.kill("SIGTERM");
  const { stderr } = await open.finish();
  assert.match(stderr, /No token: anyone who can connect[\s\S]*files parameter[\s\S]*LMSTUDIO_MCP_TOKEN/);
  // With a token (or folders allowed), nothing to warn about.
  await using closed = await spawnHttp({
    LM_STUDIO_URL: sim.url,
    LMSTUDIO_MCP_HTTP: "127.0.0.1:0",
    LMSTUDIO_MCP_TOKEN: TOKEN,
  });
  await within(closed.url, "the server to say where it serves MCP", 30_000);
  closed.child.kill("SIGTERM");
  assert.doesNotMatch((await closed.finish()).stderr, /No token/);
});

Deno.test("HTTP process without the guard: a client leaving a 2026-07-28 call cancels it", {
  ignore: Deno.build.os === "windows",
}, async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, tokenDelayMs: 50, answer: "word ".repeat(600) };
  await using home = await tempDir("http-e2e-unguarded");
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  // --allow-net narrowed to the served port and LM Studio's: the guard cannot listen, the server serves
  // without it.
  const simPort = new URL(sim.url).port;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--config=${ROOT}deno.json`,
      ...RUN_FLAGS.map((flag) =>
        flag.startsWith("--allow-net") ? `--allow-net=127.0.0.1:${port},127.0.0.1:${simPort}` : flag
      ),
      MAIN,
    ],
    env: await childEnv(home.path, { LMSTUDIO_MCP_HTTP: `127.0.0.1:${port}`, LM_STUDIO_URL: sim.url }),
    cwd: home.path,
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log = readServerLog(child.stderr);
  try {
    assert.equal(await within(log.url, "the server to listen", 30_000), `http://127.0.0.1:${port}/mcp`);
    assert.match(log.text(), /Serving without the connection guard/);
    const body = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: {
        name: "ask",
        arguments: { model: "qwen/qwen3-8b", prompt: "long" },
        _meta: {
          "io.modelcontextprotocol/protocolVersion": "2026-07-28",
          "io.modelcontextprotocol/clientInfo": { name: "raw", version: "0" },
          "io.modelcontextprotocol/clientCapabilities": {},
        },
      },
    });
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    // Head and body apart, as clients send them: Deno.serve then misses the close by itself.
    await conn.write(new TextEncoder().encode(
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
        "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n" +
        `MCP-Method: tools/call\r\nMCP-Name: ask\r\nContent-Length: ${body.length}\r\n\r\n`,
    ));
    await conn.write(new TextEncoder().encode(body));
    await until(() => (sim.requestsTo("POST /api/v1/chat")[0]?.deltas ?? 0) >= 2, "the answer to stream");
    conn.close(); // The client goes away without a word.
    await until(
      () => sim.requestsTo("POST /api/v1/chat")[0]!.abortedAt !== undefined,
      "LM Studio's request to be aborted",
      20_000,
    );
    assert.equal(sim.requestsTo("POST /api/v1/chat")[0]!.endedAt, undefined, "it did not run to the end");
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await log.ended;
  }
});
