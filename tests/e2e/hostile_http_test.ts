/**
 * Hostile patterns against the shared server, as a process over HTTP: while one client sends globs built
 * to backtrack and reads a folder whose `.gitignore` is full of them, a bystander polls `/health` and
 * lists the tools. It must get many rounds answered while the hostile calls run (the server never holds
 * its event loop: a count, not a latency, so a busy machine only adds rounds), and the hostile calls end
 * with a result, not a hang. Seeded; bounded.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/client";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import type { CallToolResult } from "../../server/sdk.ts";
import { random } from "../support/random.ts";
import { readServerLog } from "../support/http_log.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { childEnv, MAIN, ROOT, RUN_FLAGS, textOf } from "../support/mcp.ts";
import { tempDir } from "../support/temp.ts";

/** A safety bound on one bystander request; a frozen server (the defect) answered after 20+ s. */
const BYSTANDER_LIMIT_MS = 2_000;
/**
 * The fewest bystander rounds answered while the hostile calls run: they take about a second of the
 * server's CPU in slices of 10 ms, and the bystander got 14–28 rounds in during them on a busy 2-core
 * machine; a server that holds its loop through them answers one (measured with the
 * `walk-never-yields` mutant).
 */
const MIN_ROUNDS = 5;

Deno.test("hostile globs and .gitignore lines never make another HTTP client wait", {
  ignore: Deno.build.os === "windows",
}, async () => {
  await using project = await tempDir("hostile-http");
  await using home = await tempDir("hostile-http-home");
  await Deno.mkdir(join(project.path, ".git"));
  await Deno.mkdir(join(project.path, "redos"));
  await Deno.writeTextFile(join(project.path, "redos", "a".repeat(60)), "x\n");
  const rng = random(20261128);
  const lines = Array.from({ length: 1_000 }, () => `${"*a".repeat(6 + Math.floor(rng() * 20))}*b`);
  await Deno.writeTextFile(join(project.path, ".gitignore"), `${lines.join("\n")}\n[z-a]\nsecret.txt\n`);
  await Deno.mkdir(join(project.path, "src"));
  // Half the names cost more than an entry's slice of the budget against those lines (left out), half
  // fit (read): the call ends with a result either way.
  for (let i = 0; i < 100; i++) {
    await Deno.writeTextFile(join(project.path, "src", `${"a".repeat(i % 2 ? 80 : 10)}${i}`), "x\n");
  }
  await Deno.writeTextFile(join(project.path, "secret.txt"), "hunter2\n");

  await using sim = LmStudioSim.start();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", `--config=${ROOT}deno.json`, ...RUN_FLAGS, MAIN, "--http", "127.0.0.1:0"],
    env: await childEnv(home.path, { LM_STUDIO_URL: sim.url }),
    clearEnv: true,
    cwd: project.path,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log = readServerLog(child.stderr);
  try {
    const url = await log.url;
    assert.ok(url, log.text());
    const hostile = new Client({ name: "hostile", version: "0" });
    await hostile.connect(new StreamableHTTPClientTransport(new URL(url)));
    const calls = Promise.all([
      hostile.callTool({
        name: "ask",
        arguments: { model: "qwen/qwen3-8b", prompt: "x", files: ["redos/*a*a*a*a*a*a*a*b"] },
      }),
      hostile.callTool({ name: "ask", arguments: { model: "qwen/qwen3-8b", prompt: "x", files: ["."] } }),
      hostile.callTool({ name: "ask", arguments: { model: "qwen/qwen3-8b", prompt: "x", files: ["[z-a]"] } }),
    ]);
    let done = false;
    void calls.finally(() => (done = true));
    const bystander = new Client({ name: "bystander", version: "0" });
    await bystander.connect(new StreamableHTTPClientTransport(new URL(url)));
    const health = new URL("/health", url);
    let worst = 0;
    let rounds = 0;
    let during = 0;
    // Until the hostile calls end (at least 5 rounds), bounded at 2,000 rounds.
    while ((!done || rounds < 5) && rounds < 2_000) {
      rounds++;
      const started = performance.now();
      const response = await fetch(health, { signal: AbortSignal.timeout(BYSTANDER_LIMIT_MS * 5) });
      assert.equal(response.status, 200);
      await response.body?.cancel();
      await bystander.listTools();
      worst = Math.max(worst, performance.now() - started);
      if (!done) during++;
    }
    const [redos, folder, invalid] = (await calls) as [CallToolResult, CallToolResult, CallToolResult];
    assert.ok(
      during >= MIN_ROUNDS,
      `a bystander got ${during} rounds answered while the hostile calls ran (its longest took ${
        worst.toFixed(0)
      } ms)`,
    );
    assert.equal(redos.isError, true);
    // Its one file is left out: the .gitignore's 1,000 hostile lines cost more than an entry's slice.
    assert.match(textOf(redos), /redos\/a+ \(left out: matching the glob and \.gitignore rules took over/);
    assert.equal(folder.isError, undefined, textOf(folder));
    assert.doesNotMatch(JSON.stringify(folder.structuredContent), /secret\.txt"/);
    assert.match(
      JSON.stringify(folder.content),
      /left out, with 50 more entries: matching the glob and \.gitignore rules took over/,
    );
    assert.match(
      JSON.stringify(folder.content),
      /\.gitignore: line 1001 \\"\[z-a\]\\": the range z-a is reversed, so it adds only z/,
    );
    assert.equal(invalid.isError, true);
    assert.match(textOf(invalid), /files: \[z-a\] is not a valid glob \(the range z-a is reversed\)/);
    await Promise.all([hostile.close(), bystander.close()]);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await log.ended;
  }
});
