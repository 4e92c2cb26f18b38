/**
 * End-to-end: the command line (`--version`, `--help`, `--check`, config errors) and the stdio
 * contract (only JSON-RPC on stdout).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import denoJson from "../../deno.json" with { type: "json" };
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { childEnv, LOOPBACK_FLAGS, MAIN, ROOT, RUN_FLAGS, startServer, textOf } from "../support/mcp.ts";
import { removeTree, tempDir } from "../support/temp.ts";
import { exitOf, readUntil, runWithin, until, within } from "../support/wait.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
  flags: readonly string[] = RUN_FLAGS,
): Promise<Run> {
  await using homeDir = await tempDir("cli");
  const home = homeDir.path;
  const output = await runWithin(
    Deno.execPath(),
    {
      args: ["run", "--quiet", `--config=${ROOT}deno.json`, ...flags, MAIN, ...args],
      env: await childEnv(home, env),
      clearEnv: true,
      cwd: cwd ?? home,
    },
    `the server run with ${JSON.stringify(args)} to end`,
    30_000,
  );
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test("--version prints the version from deno.json", async () => {
  const { code, stdout } = await run(["--version"]);
  assert.equal(code, 0);
  assert.equal(stdout.trim(), denoJson.version);
});

Deno.test("--help lists the flags and every variable", async () => {
  const { code, stdout } = await run(["--help"]);
  assert.equal(code, 0);
  for (
    const word of [
      "--check",
      "--env-file",
      "LM_STUDIO_URL",
      "MCP_SESSIONS_DB",
      "LM_STUDIO_SSE_IDLE_TIMEOUT_MS",
    ]
  ) {
    assert.ok(stdout.includes(word), word);
  }
});

Deno.test("an unknown flag exits 2 with a hint", async () => {
  const { code, stderr, stdout } = await run(["--bogus"]);
  assert.equal(code, 2);
  assert.match(stderr, /--help/);
  assert.equal(stdout, "");
});

Deno.test("a malformed LM_STUDIO_URL is a clear start-up error, not a crash", async () => {
  const { code, stderr, stdout } = await run([], { LM_STUDIO_URL: "localhost:1234" });
  assert.equal(code, 1);
  assert.match(stderr, /LM_STUDIO_URL .*http:\/\/localhost:1234/);
  assert.doesNotMatch(stderr, /at .*\.ts:\d+/, "no stack trace");
  assert.equal(stdout, "");
});

Deno.test("an invalid timeout keeps the default and warns once on stderr", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startServer({
    env: { LM_STUDIO_URL: sim.url, LM_STUDIO_TIMEOUT_LOAD_MS: "soon" },
  });
  await server.call("model_list");
  const lines = server.stderr().split("\n").filter((l) => l.includes("LM_STUDIO_TIMEOUT_LOAD_MS"));
  assert.equal(lines.length, 1);
  assert.match(lines[0] ?? "", /using the default 300000/);
});

Deno.test("--check reports a healthy setup and exits 0", async () => {
  await using sim = LmStudioSim.start();
  await using homeDir = await tempDir("home");
  const home = homeDir.path;
  const { code, stdout } = await run(["--check"], {
    LM_STUDIO_URL: sim.url,
    MCP_SESSIONS_DB: join(home, "sub", "sessions.db"),
  });
  assert.equal(code, 0, stdout);
  assert.match(stdout, /✓ LM Studio answers at http:\/\/127\.0\.0\.1:\d+/);
  assert.match(stdout, /✓ Native API \/api\/v1 is available/);
  assert.match(stdout, /✓ OpenAI-compatible API \/v1 is available \(7 models\)/);
  assert.match(stdout, /✓ Authentication: not required/);
  assert.match(stdout, /✓ Loaded models: qwen\/qwen3-8b \(context 8192\)/);
  assert.match(stdout, /✓ Sessions DB: .*sessions\.db will be created on the first chat/);
  assert.match(stdout, /All checks passed\./);
});

Deno.test("--check says auth is required and accepted", async () => {
  await using sim = LmStudioSim.start({ apiKey: "sk-lm-k" });
  const { code, stdout } = await run(["--check"], { LM_STUDIO_URL: sim.url, LM_STUDIO_API_KEY: "sk-lm-k" });
  assert.equal(code, 0, stdout);
  assert.match(stdout, /✓ Authentication: required, and LM_STUDIO_API_KEY is accepted/);
  assert.ok(!stdout.includes("sk-lm-k"));
});

Deno.test("--check fails with the fix when the key is missing", async () => {
  await using sim = LmStudioSim.start({ apiKey: "sk-lm-k" });
  const { code, stdout } = await run(["--check"], { LM_STUDIO_URL: sim.url });
  assert.equal(code, 1);
  assert.match(stdout, /✗ Authentication failed\n {2}→ .*set LM_STUDIO_API_KEY/);
});

Deno.test("--check fails with the fix when LM Studio is not running", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  listener.close();
  const { code, stdout } = await run(["--check"], { LM_STUDIO_URL: url });
  assert.equal(code, 1);
  // The real runtime's error: Deno puts "Connection refused" in error.cause, under "fetch failed".
  assert.match(
    stdout,
    /✗ LM Studio does not answer at .*\n {2}→ LM Studio is not reachable at .* \(Connection refused\) .*Start Server/,
  );
  assert.ok(!stdout.includes("fetch failed"), stdout);
  assert.ok(!/update LM Studio/.test(stdout), "one cause, one fix");
  assert.match(stdout, /1 check\(s\) failed\./);
});

Deno.test("--check on a port fetch blocks names the port as the cause, not a stopped LM Studio", async () => {
  // Port 1 is one of the Fetch standard's blocked ports: Deno fails the request before any packet is sent.
  const { code, stdout } = await run(["--check"], { LM_STUDIO_URL: "http://127.0.0.1:1" });
  assert.equal(code, 1, stdout);
  assert.match(
    stdout,
    /✗ LM_STUDIO_URL http:\/\/127\.0\.0\.1:1 uses port 1, which is blocked\n {2}→ .*fetch refuses to use port 1 .*no request was sent\. Set LM_STUDIO_URL to the port LM Studio listens on/,
  );
  assert.doesNotMatch(stdout, /Start Server|lms server start|does not answer/, "no start-the-server advice");
  assert.match(stdout, /1 check\(s\) failed\./);
});

Deno.test("--check flags an old LM Studio and an unwritable sessions DB", async () => {
  await using sim = LmStudioSim.start();
  sim.fault("GET /api/v1/models", { raw: '{"error":"Unexpected endpoint or method. (GET /api/v1/models)"}' });
  await using dirDir = await tempDir("dir");
  const dir = dirDir.path;
  await Deno.writeTextFile(join(dir, "file"), "");
  const { code, stdout } = await run(["--check"], {
    LM_STUDIO_URL: sim.url,
    MCP_SESSIONS_DB: join(dir, "file", "sessions.db"),
  });
  assert.equal(code, 1);
  assert.match(stdout, /0\.4\.0 or newer/);
  assert.match(stdout, /✗ Sessions DB: .* cannot be used/);
});

Deno.test("--check opens the sessions DB as SQLite: a text file there is reported", async () => {
  await using sim = LmStudioSim.start();
  await using dirDir = await tempDir("dir");
  const dir = dirDir.path;
  const db = join(dir, "sessions.db");
  await Deno.writeTextFile(db, "these are my notes, not a database\n".repeat(100));
  const { code, stdout } = await run(["--check"], { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: db });
  await Deno.remove(dir, { recursive: true });
  assert.equal(code, 1, stdout);
  assert.match(stdout, /✗ Sessions DB: .*sessions\.db cannot be used \(file is not a database\)/);
});

Deno.test("--check with an LM Studio outside a narrowed network permission names one cause and one fix", async () => {
  // Narrowed as the README shows `deno run` users: the sandbox refuses before any packet is sent.
  const { code, stdout } = await run(
    ["--check"],
    { LM_STUDIO_URL: "http://192.0.2.1:1234" },
    undefined,
    LOOPBACK_FLAGS,
  );
  assert.equal(code, 1, stdout);
  assert.match(
    stdout,
    /✗ This server may not connect to http:\/\/192\.0\.2\.1:1234\n {2}→ .*--allow-net=192\.0\.2\.1:1234/,
  );
  assert.ok(!/update LM Studio|--allow-all/.test(stdout), stdout);
});

Deno.test("a working-directory .env is ignored, reported once, and --env-file opts in", async () => {
  await using sim = LmStudioSim.start();
  await using cwdDir = await tempDir("cwd");
  const cwd = cwdDir.path;
  await Deno.writeTextFile(join(cwd, ".env"), `LM_STUDIO_URL=${sim.url}\n`);
  const ignored = await run(["--check"], {}, cwd);
  assert.match(ignored.stderr, /Ignoring .*\.env: it sets LM_STUDIO_URL/);
  assert.equal(ignored.stderr.match(/Ignoring/g)?.length, 1);
  assert.match(ignored.stdout, /checking http:\/\/localhost:1234/);
  assert.equal(sim.requests.length, 0, "the .env could not redirect the server");
  const chosen = await run(["--check", "--env-file", join(cwd, ".env")], {}, cwd);
  assert.match(chosen.stdout, new RegExp(`checking ${sim.url}`));
  assert.equal(chosen.code, 0, chosen.stdout);
});

Deno.test("the per-user env file is read and the real environment wins over it", async () => {
  await using sim = LmStudioSim.start();
  await using homeDir = await tempDir("home");
  const home = homeDir.path;
  const dir = join(home, ".config", "lmstudio-mcp");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, ".env"),
    "LM_STUDIO_URL=http://127.0.0.1:9\nLM_STUDIO_TIMEOUT_LOAD_MS=250\n",
  );
  await using server = await startServer({ home, env: { LM_STUDIO_URL: sim.url } });
  sim.fault("POST /api/v1/models/load", { hang: true });
  const result = await server.call("model_load", { model: "google/gemma-3-4b" });
  assert.match(textOf(result), /timed out after 250 ms/);
});

/**
 * Spawns the server with raw pipes and sends `initialize` + `initialized`, as a client would. Disposing
 * it kills a server still running (a failed test) and removes the HOME it made.
 */
async function spawnRaw(
  env: Record<string, string>,
  options: { cwd?: string; home?: string; stderr?: "piped" | "null" } = {},
) {
  const home = options.home ?? await Deno.makeTempDir({ prefix: "lmstudio-mcp-raw-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", `--config=${ROOT}deno.json`, ...RUN_FLAGS, MAIN],
    env: await childEnv(home, env),
    clearEnv: true,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdin: "piped",
    stdout: "piped",
    stderr: options.stderr ?? "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const send = (message: unknown) =>
    within(writer.write(new TextEncoder().encode(JSON.stringify(message) + "\n")), "the server to read");
  const handle = {
    child,
    writer,
    send,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch {
        // Exited, as it should have.
      }
      await exitOf(child, "the killed server to exit").catch(() => {});
      if (options.home === undefined) await removeTree(home);
    },
  };
  await send({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } },
  });
  await send({ jsonrpc: "2.0", method: "notifications/initialized" });
  return handle;
}

Deno.test("stdout carries only JSON-RPC, even when warnings are printed", async () => {
  await using sim = LmStudioSim.start();
  await using homeDir = await tempDir("home");
  const home = homeDir.path;
  await using cwdDir = await tempDir("cwd");
  const cwd = cwdDir.path;
  await Deno.writeTextFile(join(cwd, ".env"), "LM_STUDIO_API_KEY=x\n");
  await using raw = await spawnRaw(
    { LM_STUDIO_URL: sim.url, LM_STUDIO_HEARTBEAT_MS: "bad" },
    { cwd, home },
  );
  const { child, writer, send } = raw;
  await send({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "model_list", arguments: {} } });
  await send({
    jsonrpc: "2.0",
    id: 3,
    method: "tools/call",
    params: { name: "model_load", arguments: { model: 5 } },
  });
  await send({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "nope", arguments: {} } });
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stderrText = new Response(child.stderr).text();
  const out = await readUntil(reader, (read) => (read.match(/\n/g)?.length ?? 0) >= 4, "4 reply lines", {
    maxChars: 100_000,
  });
  await writer.close();
  const status = await exitOf(child, "the server to exit after its stdin closed");
  await reader.cancel();
  const stderr = await within(stderrText, "the server's stderr to end");
  const lines = out.trim().split("\n");
  assert.equal(lines.length, 4, out);
  for (const line of lines) assert.equal(JSON.parse(line).jsonrpc, "2.0");
  const byId = new Map(lines.map((l) => JSON.parse(l)).map((m) => [m.id, m]));
  assert.equal(byId.get(1).result.serverInfo.version, denoJson.version);
  assert.equal(byId.get(2).result.isError, undefined);
  assert.equal(byId.get(3).result.isError, true);
  assert.equal(byId.get(4).result?.isError ?? byId.get(4).error !== undefined, true);
  assert.match(stderr, /LM_STUDIO_HEARTBEAT_MS/);
  assert.equal(status.code, 0, "the server exits cleanly when stdin closes");
});

Deno.test("when the client closes stdin mid-answer, LM Studio's request is aborted and the server exits", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { tokenDelayMs: 50, answer: "word ".repeat(400) };
  await using raw = await spawnRaw({ LM_STUDIO_URL: sim.url }, { stderr: "null" });
  const { child, writer, send } = raw;
  await send({
    jsonrpc: "2.0",
    id: 2,
    method: "tools/call",
    params: { name: "ask", arguments: { model: "qwen/qwen3-8b", prompt: "long" } },
  });
  await until(() => (sim.requestsTo("POST /api/v1/chat")[0]?.deltas ?? 0) >= 2, "the answer to stream");
  await writer.close();
  await exitOf(child, "the server to exit after stdin closed mid-answer", 5_000);
  await child.stdout.cancel();
  const request = sim.requestsTo("POST /api/v1/chat")[0]!;
  await until(() => request.abortedAt !== undefined, "LM Studio's request to be aborted");
});
