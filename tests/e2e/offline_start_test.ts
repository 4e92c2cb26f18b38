/**
 * A warm start from source makes no network request and prints nothing but our own line.
 *
 * Why it could: Deno's module graph fetches, in the background, the npm registry entry ("packument") of
 * every npm package the code imports, unless that entry is in Deno's cache; `deno task` fills the cache
 * from deno.lock with the packages only, without those entries. So a server that exits soon (`--check`, a
 * client's health check) asked the registry again on every start ("Download https://registry.npmjs.org/…").
 * `--cached-only` in the start task (and in the README's `deno run` forms) stops that.
 *
 * The test rebuilds exactly that cache (the locked packages, no registry entries) in a temp DENO_DIR and
 * points HTTP(S)_PROXY at a loopback listener that counts connections: any request Deno makes for npm (or
 * anything else not on loopback) goes there, so none may arrive.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { cacheDir, MAIN, ROOT, RUN_FLAGS, textOf } from "../support/mcp.ts";
import type { CallToolResult } from "../../server/sdk.ts";
import { tempDir } from "../support/temp.ts";

/** The locked npm packages as `name@version` folders (a peer suffix such as `_zod@4.6.7` dropped). */
async function lockedPackages(): Promise<{ name: string; version: string }[]> {
  const lock = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.lock"))) as {
    npm: Record<string, unknown>;
  };
  return Object.keys(lock.npm).map((id) => {
    const at = id.indexOf("@", 1);
    return { name: id.slice(0, at), version: id.slice(at + 1).split("_")[0]! };
  });
}

async function copyTree(from: string, to: string, files: { count: number }): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (++files.count > 20_000) throw new Error(`More than 20000 files under ${from}`);
    const source = join(from, entry.name);
    if (entry.isDirectory) await copyTree(source, join(to, entry.name), files);
    else if (entry.isFile) await Deno.copyFile(source, join(to, entry.name));
  }
}

/**
 * A DENO_DIR as `deno task` leaves it on a fresh machine: every locked package, no registry entries.
 * Copied from this test run's own cache, which has them all (the test imports the same packages).
 */
async function cacheWithoutRegistryEntries(to: string): Promise<void> {
  const npm = join(await cacheDir(), "npm");
  const files = { count: 0 };
  const packages = await lockedPackages();
  let copied = 0;
  for await (const registry of Deno.readDir(npm)) {
    if (!registry.isDirectory) continue;
    for (const { name, version } of packages) {
      const source = join(npm, registry.name, name, version);
      const exists = await Deno.stat(source).then((s) => s.isDirectory, () => false);
      if (!exists) continue;
      await copyTree(source, join(to, "npm", registry.name, name, version), files);
      copied++;
    }
  }
  assert.equal(copied, packages.length, `every locked package is in ${npm}`);
}

/** A loopback "proxy" that accepts, counts and drops every connection. */
function connectionTrap(): { url: string; connections: string[] } & Disposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections: string[] = [];
  (async () => {
    for await (const conn of listener) {
      const head = new Uint8Array(256);
      const n = await conn.read(head).catch(() => null);
      connections.push(
        n ? new TextDecoder().decode(head.subarray(0, n)).split("\r\n")[0]! : "(no request line)",
      );
      conn.close();
    }
  })().catch(() => {}); // The listener closes when the test ends.
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    connections,
    [Symbol.dispose]: () => listener.close(),
  };
}

/**
 * Starts the server with `command`, as an MCP client does, lists the tools, calls model_list, and
 * closes; returns what the server wrote to stderr.
 */
async function session(
  command: string[],
  env: Record<string, string>,
  cwd: string,
): Promise<{ stderr: string; listed: string }> {
  const transport = new StdioClientTransport({
    command: command[0]!,
    args: command.slice(1),
    env,
    cwd,
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Uint8Array | string) => {
    stderr += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
  });
  const client = new Client({ name: "offline-start", version: "0" });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === "model_list"), "the tools are listed");
    const listed = textOf((await client.callTool({ name: "model_list" })) as CallToolResult);
    return { stderr, listed };
  } finally {
    await client.close();
  }
}

Deno.test("a warm start from source asks the network nothing and prints only our line", async () => {
  await using sim = LmStudioSim.start();
  await using denoDir = await tempDir("deno-dir");
  await using home = await tempDir("home");
  await using project = await tempDir("project");
  await cacheWithoutRegistryEntries(denoDir.path);
  using trap = connectionTrap();
  const env = {
    PATH: Deno.env.get("PATH") ?? "",
    HOME: home.path,
    ...(Deno.build.os === "windows" ? { USERPROFILE: home.path } : {}),
    DENO_DIR: denoDir.path,
    NO_COLOR: "1",
    // Everything but loopback (where the simulator is) goes through the trap.
    HTTP_PROXY: trap.url,
    HTTPS_PROXY: trap.url,
    NO_PROXY: "127.0.0.1,localhost",
    LM_STUDIO_URL: sim.url,
    MCP_SESSIONS_DB: ":memory:",
  };
  const ours = /^\[lmstudio-mcp\] /;

  // The README's short form: `deno task` with the clone's deno.json, from the client's working directory.
  const task = await session(
    [Deno.execPath(), "task", "-q", "--config", join(ROOT, "deno.json"), "start"],
    env,
    project.path,
  );
  assert.match(task.listed, /qwen\/qwen3-8b/, "the server reached the simulator");
  assert.deepEqual(task.stderr.split("\n").filter((l) => l && !ours.test(l)), [], task.stderr);
  assert.match(task.stderr, /ready on stdio/);

  // The README's long form: `deno run` with the start task's flags and main.ts's absolute path. Deno's
  // own once-a-day upgrade check is switched off as the start task does.
  const run = await session(
    [Deno.execPath(), "run", ...RUN_FLAGS, MAIN],
    { ...env, DENO_NO_UPDATE_CHECK: "1" },
    project.path,
  );
  assert.match(run.listed, /qwen\/qwen3-8b/);
  assert.deepEqual(run.stderr.split("\n").filter((l) => l && !ours.test(l)), [], run.stderr);

  assert.deepEqual(trap.connections, [], "no request left this machine");
});

Deno.test("the README's deno run forms from source carry the start task's flags", async () => {
  const readme = await Deno.readTextFile(join(ROOT, "README.md"));
  const quoted = RUN_FLAGS.map((f) => (/[*[]/.test(f) ? `'${f}'` : f)).join(" ");
  const blocks = [...readme.matchAll(/```(\w*)\n([\s\S]*?)```/g)]
    .map(([, lang, body]) => ({ lang: lang!, body: body! }))
    .filter((b) => /main\.ts/.test(b.body) && /--allow-/.test(b.body));
  const shell = blocks.filter((b) => b.lang === "sh").flatMap((b) => b.body.split("\n"))
    .filter((line) => /deno run/.test(line) && /main\.ts/.test(line));
  const configs = blocks.filter((b) => b.lang === "json").map((b) =>
    JSON.parse(b.body) as { args: string[] }
  );
  assert.ok(shell.length >= 1 && configs.length >= 1, "the README shows deno run forms from source");
  for (const line of shell) {
    assert.ok(line.includes(`deno run ${quoted} `), `not the start task's flags:\n${line}`);
  }
  for (const { args } of configs) assert.deepEqual(args.slice(0, -1), ["run", ...RUN_FLAGS]);
});
