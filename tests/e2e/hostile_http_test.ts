/**
 * Hostile patterns against the shared server, as a process over HTTP: while one client sends globs built
 * to backtrack and reads a folder whose `.gitignore` is full of them, a bystander polls `/health` and
 * lists the tools. It must get many rounds answered while the hostile calls run (the server never holds
 * its event loop: a count, not a latency, so a busy machine only adds rounds), and the hostile calls end
 * with a result, not a hang. Then hostile connections: h2c, impossible `Content-Length` values, and a
 * client without the token holding every connection while a token holder is served. Seeded; bounded.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/client";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import type { CallToolResult } from "../../server/sdk.ts";
import { random } from "../support/random.ts";
import { spawnHttpServer } from "../support/http_server.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { textOf } from "../support/mcp.ts";
import { type RawConnection, rawConnection } from "../support/http_served.ts";
import { tempDir } from "../support/temp.ts";
import { until } from "../support/wait.ts";

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
  await using server = await spawnHttpServer({
    env: { LM_STUDIO_URL: sim.url },
    home: home.path,
    cwd: project.path,
  });
  {
    const url = server.url;
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
  }
});

Deno.test(
  "hostile connections: h2c, impossible Content-Length, and a tokenless client holding every connection",
  {
    ignore: Deno.build.os === "windows",
  },
  async () => {
    await using home = await tempDir("hostile-conn-home");
    await using sim = LmStudioSim.start();
    const token = "hostile-test-token-0123456789";
    await using server = await spawnHttpServer({
      env: { LM_STUDIO_URL: sim.url, LMSTUDIO_MCP_TOKEN: token },
      home: home.path,
    });
    const open: RawConnection[] = [];
    try {
      const url = server.url;
      const port = Number(new URL(url).port);
      const served = async () => {
        await using conn = await rawConnection(port);
        await conn.write(
          `GET /health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\n` +
            "Connection: close\r\n\r\n",
        );
        await until(() => conn.closed(), "the token holder's /health");
        return conn.received();
      };
      // 40 h2c connections, each a preface and a SETTINGS frame: each gets GOAWAY (HTTP_1_1_REQUIRED)
      // and is closed, instead of streams no timer sees.
      const h2c = await Promise.all(Array.from({ length: 40 }, () => rawConnection(port)));
      open.push(...h2c);
      await Promise.all(
        h2c.map((conn) => conn.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")),
      );
      await until(() => h2c.every((conn) => conn.closed()), "the h2c connections to be closed");
      assert.ok(
        h2c.every((conn) => conn.received().charCodeAt(12) === 7 && conn.received().charCodeAt(25) === 13),
      );
      // Content-Length of 16 and 30 digits: 413 and closed (the framing is never lost).
      for (const length of ["1234567890123456", "9".repeat(30)]) {
        await using conn = await rawConnection(port);
        await conn.write(
          `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
            `Authorization: Bearer ${token}\r\nContent-Length: ${length}\r\n\r\n{`,
        );
        await until(() => conn.closed(), `the ${length.length}-digit Content-Length to be refused`);
        assert.match(conn.received(), /^HTTP\/1\.1 413/);
      }
      // 512 connections without the token (the limit): half send a request and are refused and closed,
      // half hold their connection and say nothing; then the limit is filled again. A token holder is
      // served every time.
      const flood = await Promise.all(Array.from({ length: 512 }, () => rawConnection(port)));
      open.push(...flood);
      await Promise.all(
        flood.slice(0, 256).map((conn) =>
          conn.write(
            `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
              "Accept: application/json, text/event-stream\r\nContent-Length: 2\r\n\r\n{}",
          )
        ),
      );
      await until(
        () => flood.slice(0, 256).every((conn) => conn.closed()),
        "the refused connections to close",
      );
      assert.ok(flood.slice(0, 256).every((conn) => /^HTTP\/1\.1 401/.test(conn.received())));
      open.push(...await Promise.all(Array.from({ length: 256 }, () => rawConnection(port))));
      for (let round = 0; round < 20; round++) {
        assert.match(await served(), /^HTTP\/1\.1 200[\s\S]*"status":"ok"/, `round ${round + 1}`);
      }
    } finally {
      await Promise.all(open.map((conn) => conn[Symbol.asyncDispose]()));
    }
  },
);
