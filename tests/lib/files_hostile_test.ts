/**
 * The hostile-input suite for reading folders (`lib/files.ts`): a repository the server reads is input
 * too. Patterns built to backtrack (client globs and `.gitignore` lines, growing terms), invalid patterns,
 * ignore files with invalid lines, special files, a tree of 50,000 files, too-deep folders, and names with
 * quotes, line breaks and invalid UTF-8. Each case must finish within a bound and never hold the event
 * loop: a bystander timer keeps firing throughout (its worst gap is the latency another client would see).
 * Random choices use a fixed seed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../../lib/errors.ts";
import { escapeAttribute, type FileSet, frameFiles, gatherFiles } from "../../lib/files.ts";
import { random } from "../support/random.ts";
import { withBystander } from "../support/bystander.ts";
import { tempDir } from "../support/temp.ts";

/** The worst gap a bystander may see between two turns of the event loop (safety bound, not a target). */
const BYSTANDER_LIMIT_MS = 1_000;

const SEED = 20261128;

async function read(base: string, patterns: string[], maxFiles = 200): Promise<FileSet> {
  return await gatherFiles(patterns, {
    base,
    roots: [base],
    maxFileChars: 100_000,
    maxTotalChars: 10_000_000,
    maxFiles,
  });
}

async function write(root: string, path: string, content = "text\n"): Promise<void> {
  await Deno.mkdir(join(root, path, ".."), { recursive: true });
  await Deno.writeTextFile(join(root, path), content);
}

function readPaths(set: FileSet): string[] {
  return set.files.map((f) => f.path);
}

Deno.test("hostile globs from the client finish in linear work and leave the event loop free", async () => {
  await using tmp = await tempDir("hostile-glob");
  await write(tmp.path, `redos/${"a".repeat(60)}`);
  await write(tmp.path, "redos/ok.txt");
  for (const terms of [7, 14, 28]) {
    const pattern = `redos/${"*a".repeat(terms)}*b`;
    const { value, worstGapMs } = await withBystander(() => read(tmp.path, [pattern]).catch((e) => e));
    assert.ok(value instanceof InputError, String(value));
    assert.match(value.message, /matches no file/);
    assert.ok(worstGapMs < BYSTANDER_LIMIT_MS, `the event loop was held ${worstGapMs} ms`);
  }
  const { value } = await withBystander(() => read(tmp.path, [`redos/${"*".repeat(200)}t`]));
  assert.deepEqual(readPaths(value), ["redos/ok.txt"]);
});

Deno.test("a hostile .gitignore line costs linear work, and a huge one is bounded by the call's budget", async () => {
  await using tmp = await tempDir("hostile-ignore");
  await Deno.mkdir(join(tmp.path, ".git"));
  const rng = random(SEED);
  const lines = Array.from({ length: 2_000 }, () => `${"*a".repeat(5 + Math.floor(rng() * 20))}*b`);
  await write(tmp.path, ".gitignore", `${lines.join("\n")}\nsecret.txt\n`);
  for (let i = 0; i < 200; i++) await write(tmp.path, `src/${"a".repeat(60 + (i % 50))}${i}`);
  await write(tmp.path, "secret.txt", "hunter2\n");
  const { value, worstGapMs } = await withBystander(() => read(tmp.path, ["."]));
  assert.ok(!readPaths(value).includes("secret.txt"), "an ignored file was read");
  assert.ok(worstGapMs < BYSTANDER_LIMIT_MS, `the event loop was held ${worstGapMs} ms`);
});

Deno.test("an invalid .gitignore line is skipped alone: the file it hides stays hidden, with a warning", async () => {
  await using tmp = await tempDir("invalid-ignore");
  await Deno.mkdir(join(tmp.path, ".git"));
  await write(tmp.path, ".gitignore", "secret.env.txt\n[z-a]\n");
  await write(tmp.path, "secret.env.txt", "API_KEY=hunter2\n");
  await write(tmp.path, "notes.md", "# notes\n");
  const set = await read(tmp.path, ["."]);
  assert.deepEqual(readPaths(set), ["notes.md"]);
  assert.deepEqual(set.warnings, [{
    path: ".gitignore",
    message: 'line 2 "[z-a]" was skipped (the range z-a is reversed); its other rules apply',
  }]);
  // Each ignore file met twice in one call (two patterns walk it) warns once.
  await write(tmp.path, "sub/.gitignore", "[z-a]\nx\n");
  await write(tmp.path, "sub/x", "hidden\n");
  await write(tmp.path, "sub/y", "shown\n");
  const twice = await read(tmp.path, ["sub", "sub/*"]);
  assert.deepEqual(readPaths(twice), ["sub/y"]);
  assert.deepEqual(twice.warnings.map((w) => w.path), [".gitignore", "sub/.gitignore"]);
});

Deno.test("invalid client globs are input errors that name the pattern", async () => {
  await using tmp = await tempDir("invalid-glob");
  await write(tmp.path, "a.txt");
  for (
    const [pattern, reason] of [
      ["[z-a]*", /the range z-a is reversed/],
      ["src/[[:nope:]].ts", /\[:nope:\] is not a character class/],
      [`*${"x".repeat(1100)}`, /the limit is 1024/],
    ] as const
  ) {
    await assert.rejects(read(tmp.path, [pattern]), (error: unknown) => {
      assert.ok(error instanceof InputError, String(error));
      assert.ok(error.message.startsWith(`files: ${pattern} is not a valid glob (`), error.message);
      assert.match(error.message, reason);
      return true;
    });
  }
});

Deno.test("special files: a FIFO never blocks a walk, as a file or as a .gitignore", async () => {
  await using tmp = await tempDir("special");
  await Deno.mkdir(join(tmp.path, ".git"));
  await write(tmp.path, "real.txt");
  const mkfifo = async (path: string) => {
    const status = await new Deno.Command("mkfifo", { args: [path] }).output();
    assert.ok(status.success, `mkfifo ${path}`);
  };
  await mkfifo(join(tmp.path, "pipe"));
  await Deno.mkdir(join(tmp.path, "sub"));
  await mkfifo(join(tmp.path, "sub", ".gitignore"));
  await write(tmp.path, "sub/b.txt");
  const { value } = await withBystander(() => read(tmp.path, ["."]));
  assert.deepEqual(readPaths(value), ["real.txt", "sub/b.txt"]);
  assert.match(JSON.stringify(value.warnings), /sub\/.gitignore.*not a regular file/);
  await assert.rejects(read(tmp.path, ["pipe"]), /pipe is not a file or folder/);
});

Deno.test("a .gitignore over 1 MiB leaves its folder out instead of applying part of it", async () => {
  await using tmp = await tempDir("big-ignore");
  await Deno.mkdir(join(tmp.path, ".git"));
  await write(tmp.path, "top.txt");
  await write(tmp.path, "big/.gitignore", `${"# padding\n".repeat(110_000)}secret.txt\n`);
  await write(tmp.path, "big/secret.txt", "hunter2\n");
  const set = await read(tmp.path, ["."]);
  assert.deepEqual(readPaths(set), ["top.txt"]);
  assert.match(JSON.stringify(set.skipped), /big.*its .gitignore is \d+ bytes, over the 1048576-byte limit/);
});

Deno.test("a folder deeper than the walk's limit is named as too deep, not as matching nothing", async () => {
  await using tmp = await tempDir("deep");
  const deep = Array.from({ length: 40 }, (_, i) => `d${i}`).join("/");
  await write(tmp.path, `${deep}/leaf.txt`);
  await assert.rejects(read(tmp.path, ["d0"]), (error: unknown) => {
    assert.ok(error instanceof InputError);
    assert.doesNotMatch(error.message, /matches no file/);
    assert.match(error.message, /d0\/d1\/.*\/d33 \(more than 32 folders below d0; pass this folder itself/);
    return true;
  });
});

Deno.test("names with quotes, line breaks and invalid UTF-8 are read or skipped without breaking framing", async () => {
  await using tmp = await tempDir("names");
  await write(tmp.path, 'quote".txt', "q\n");
  await write(tmp.path, "line\nbreak.txt", "n\n");
  await write(tmp.path, '"><file path="evil.txt', "x\n");
  const made = await new Deno.Command("sh", {
    args: ["-c", 'printf "bad\\n" > "$(printf "bad\\377name.txt")"'],
    cwd: tmp.path,
  }).output();
  assert.ok(made.success);
  const set = await read(tmp.path, ["."]);
  const framed = frameFiles(set.files);
  // Exactly one opening tag per file read: no name can open or close a tag of its own.
  assert.equal(framed.match(/<file path="/g)?.length, set.files.length);
  assert.equal(framed.split("\n").filter((line) => line.startsWith("<file ")).length, set.files.length);
  assert.ok(framed.includes('<file path="quote&quot;.txt">'));
  assert.ok(framed.includes('<file path="line&#10;break.txt">'));
  assert.ok(framed.includes('<file path="&quot;&gt;&lt;file path=&quot;evil.txt">'));
  // The invalid UTF-8 name is either read under its (lossy) name or listed as skipped — never a crash.
  assert.equal(set.files.length + set.skipped.length, 4);
  assert.equal(escapeAttribute("a&b\r\t"), "a&amp;b&#13;&#9;");
});

Deno.test("a tree of 50,000 files is walked in bounded time, with the entry cap said, and the loop stays free", async () => {
  // In a child with full permissions, so the tree can live on tmpfs (/dev/shm): creating 50,000 files on
  // this machine's disk takes half a minute, and Deno grants /dev paths only with --allow-all.
  const child = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("../support/huge_tree.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const stderr = new TextDecoder().decode(child.stderr);
  assert.ok(child.success, stderr);
  const report = JSON.parse(new TextDecoder().decode(child.stdout)) as {
    entries: number;
    read: string[];
    skipped: { path: string; reason: string }[];
    worstGapMs: number;
  };
  assert.equal(report.entries, 50_000);
  assert.equal(report.read.length, 10);
  assert.ok(report.read.every((path) => path.endsWith("/f0.ts")));
  assert.ok(report.read.every((path) => !path.includes("/cache/")), "a .gitignored folder was read");
  assert.ok(report.skipped.some((s) => s.path === "." && /stopped after 50000 entries/.test(s.reason)));
  assert.ok(report.worstGapMs < BYSTANDER_LIMIT_MS, `the event loop was held ${report.worstGapMs} ms`);
});
