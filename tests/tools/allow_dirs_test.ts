/**
 * Files without Roots: the operator's allow-list (`--allow-dir`, LMSTUDIO_MCP_ALLOW_DIRS) bounds `files`
 * for every client, the roots of a 2025 client narrow it and never widen it, and a server reached over
 * HTTP beyond loopback reads nothing unless folders were allowed explicitly. Every refusal names the
 * allowed folders and how to add one.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { allowedDirs } from "../../lib/files/allow_dirs.ts";
import { parseConfig } from "../../lib/config/config.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { startInProcess } from "../support/in_process.ts";
import { textOf } from "../support/mcp.ts";
import { spawnStdio } from "../support/eras.ts";
import { tempDir } from "../support/temp.ts";
import { until } from "../support/wait.ts";

const QWEN = "qwen/qwen3-8b";
type Files = { read: { path: string }[] };
const readPaths = (result: { structuredContent?: unknown }) =>
  (result.structuredContent as { files: Files }).files.read.map((f) => f.path);

async function tree(root: string): Promise<{ allowed: string; inner: string; other: string }> {
  const allowed = join(root, "allowed");
  const inner = join(allowed, "inner");
  const other = join(root, "other");
  for (const dir of [inner, other]) await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(allowed, "top.txt"), "top\n");
  await Deno.writeTextFile(join(inner, "deep.txt"), "deep\n");
  await Deno.writeTextFile(join(other, "secret.txt"), "secret\n");
  return { allowed, inner, other };
}

Deno.test("allow-list: the flags and the variable, in order, absolute, ~ expanded, no repeats", () => {
  const where = { cwd: "/work", home: "/home/me", os: "linux" as const };
  assert.deepEqual(allowedDirs(["a", "/abs/b"], "~/c:/abs/b: :", where), ["/work/a", "/abs/b", "/home/me/c"]);
  assert.deepEqual(allowedDirs([], undefined, where), []);
  assert.deepEqual(
    allowedDirs([], "C:\\x;D:\\y", { cwd: "C:\\", home: undefined, os: "windows" }).length,
    2,
    "; separates on Windows",
  );
  const { config } = parseConfig({ LMSTUDIO_MCP_ALLOW_DIRS: "/srv/docs" }, { allowDirFlags: ["/srv/code"] });
  assert.deepEqual(config.allowDirs, ["/srv/code", "/srv/docs"]);
});

Deno.test("allow-list: files reads inside the allowed folders, relative to the first, and refuses outside", async () => {
  await using tmp = await tempDir("allow");
  const { allowed, other } = await tree(tmp.path);
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url, LMSTUDIO_MCP_ALLOW_DIRS: allowed },
  });
  const inside = await server.call("ask", { model: QWEN, prompt: "x", files: ["top.txt", "inner"] });
  assert.equal(inside.isError, undefined, textOf(inside));
  assert.deepEqual(readPaths(inside), ["top.txt", "inner/deep.txt"]);
  const outside = await server.call("ask", { model: QWEN, prompt: "x", files: [join(other, "secret.txt")] });
  assert.equal(outside.isError, true);
  assert.match(textOf(outside), new RegExp(`outside the folders files may be read from \\(${allowed}\\)`));
  assert.match(textOf(outside), /--allow-dir PATH \(repeatable\) or set LMSTUDIO_MCP_ALLOW_DIRS/);
  const escape = await server.call("ask", { model: QWEN, prompt: "x", files: ["../other/secret.txt"] });
  assert.equal(escape.isError, true, "a relative path cannot climb out");
  assert.doesNotMatch(JSON.stringify(sim.requestsTo("POST /api/v1/chat").map((r) => r.body)), /secret/);
});

Deno.test("allow-list and roots: a 2025 client's roots narrow the allow-list and never widen it", async () => {
  await using tmp = await tempDir("allow-roots");
  const { allowed, inner, other } = await tree(tmp.path);
  await using sim = LmStudioSim.start();
  let roots = [{ uri: pathToFileURL(inner).href }, { uri: pathToFileURL(other).href }];
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url, LMSTUDIO_MCP_ALLOW_DIRS: allowed },
    roots: () => roots,
  });
  // Only the root inside the allow-list counts: inner, not other, and not the rest of allowed.
  const deep = await server.call("ask", { model: QWEN, prompt: "x", files: ["deep.txt"] });
  assert.equal(deep.isError, undefined, textOf(deep));
  for (const path of [join(allowed, "top.txt"), join(other, "secret.txt")]) {
    const refused = await server.call("ask", { model: QWEN, prompt: "x", files: [path] });
    assert.equal(refused.isError, true, path);
    assert.match(textOf(refused), new RegExp(`may be read from \\(${inner}\\)`));
  }
  // A root wider than the allow-list is cut down to it.
  roots = [{ uri: pathToFileURL(tmp.path).href }];
  await server.client.sendRootsListChanged();
  await until(async () => {
    const wide = await server.call("ask", { model: QWEN, prompt: "x", files: [join(other, "secret.txt")] });
    return new RegExp(`may be read from \\(${allowed}\\)`).test(textOf(wide));
  }, "the wide root to be cut down to the allow-list");
  // Roots that share nothing with the allow-list: nothing is readable, and the error says why.
  roots = [{ uri: pathToFileURL(other).href }];
  await server.client.sendRootsListChanged();
  let none;
  for (let i = 0; i < 100; i++) {
    none = await server.call("ask", { model: QWEN, prompt: "x", files: ["secret.txt"] });
    if (/none of the client's MCP roots/.test(textOf(none))) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.match(
    textOf(none!),
    new RegExp(`none of the client's MCP roots \\(${other}\\) is inside the folders`),
  );
  assert.match(textOf(none!), /--allow-dir PATH/);
});

Deno.test("HTTP beyond loopback: files is refused without an allow-list, and works with one", async () => {
  await using tmp = await tempDir("remote");
  const { allowed } = await tree(tmp.path);
  await using sim = LmStudioSim.start();
  {
    await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url }, remote: true });
    const refused = await server.call("ask", { model: QWEN, prompt: "x", files: [join(allowed, "top.txt")] });
    assert.equal(refused.isError, true);
    assert.match(textOf(refused), /reached over HTTP beyond this machine and no folders are allowed/);
    assert.match(textOf(refused), /--allow-dir PATH \(repeatable\) or set LMSTUDIO_MCP_ALLOW_DIRS/);
    // Calls without files are unaffected.
    assert.equal((await server.call("ask", { model: QWEN, prompt: "x" })).isError, undefined);
  }
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url, LMSTUDIO_MCP_ALLOW_DIRS: allowed },
    remote: true,
  });
  const read = await server.call("ask", { model: QWEN, prompt: "x", files: ["top.txt"] });
  assert.equal(read.isError, undefined, textOf(read));
  assert.deepEqual(readPaths(read), ["top.txt"]);
});

Deno.test("--allow-dir on the command line bounds files for a 2026-07-28 client, which has no roots", {
  ignore: Deno.build.os === "windows",
}, async () => {
  await using tmp = await tempDir("allow-flag");
  const { allowed, other } = await tree(tmp.path);
  await using sim = LmStudioSim.start();
  await using server = await spawnStdio({ LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" }, [
    "--allow-dir",
    allowed,
  ]);
  const client = await server.connect("modern");
  const call = (files: string[]) =>
    client.callTool({ name: "ask", arguments: { model: QWEN, prompt: "x", files } });
  const read = await call(["top.txt"]);
  assert.equal(read.isError, undefined, JSON.stringify(read.content));
  const refused = await call([join(other, "secret.txt")]);
  assert.equal(refused.isError, true);
  assert.match(JSON.stringify(refused.content), /--allow-dir PATH/);
});
