/**
 * What reading files must get right even when the tree is hostile or changes under it, through the
 * module's own API (`gatherFiles`, `readText`, `Walker`, `globMatcher`): a start folder that is a link out
 * of the allowed folders names nothing from outside; a file (or a `.gitignore`) swapped between its check
 * and its open is not read (or applied); the total per call counts every file already read; the files
 * opened per call stop at the cap, not one past it; `.gitignore` precedence matches `git ls-files` both
 * ways (a deeper `!keep`, `info/exclude` below `.gitignore`); and patterns with nested or one-character
 * ranges and characters outside the basic plane match as git and users expect.
 *
 * The swaps are made at the exact moment of the race by wrapping `Deno.open` for one path: the test
 * plays the attacker whose rename lands between two system calls.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../../lib/errors.ts";
import { type FileSet, gatherFiles, readText } from "../../lib/files/files.ts";
import { globMatcher } from "../../lib/files/glob.ts";
import { Walker } from "../../lib/files/walk.ts";
import { tempDir } from "../support/temp.ts";

async function write(root: string, path: string, content = "text\n"): Promise<void> {
  await Deno.mkdir(join(root, path, ".."), { recursive: true });
  await Deno.writeTextFile(join(root, path), content);
}

const HAS_GIT = await new Deno.Command("git", { args: ["--version"], stdout: "null", stderr: "null" })
  .output().then((out) => out.success, () => false);

/**
 * Runs `work` with `Deno.open` wrapped: for `target`, `before` runs just before the real open and
 * `after` just after it (the handle is then returned as opened). Returns how often the target was opened.
 */
async function withOpenHook<T>(
  target: string,
  hooks: { before?: () => Promise<void>; after?: () => Promise<void> },
  work: () => Promise<T>,
): Promise<{ value: T; opened: number }> {
  const original = Deno.open;
  let opened = 0;
  const wrapped = async (path: string | URL, options?: Deno.OpenOptions) => {
    const hit = String(path) === target && opened++ === 0;
    if (hit) await hooks.before?.();
    const file = await original(path, options);
    if (hit) await hooks.after?.();
    return file;
  };
  (Deno as unknown as { open: typeof Deno.open }).open = wrapped;
  try {
    return { value: await work(), opened };
  } finally {
    (Deno as unknown as { open: typeof Deno.open }).open = original;
  }
}

/** Every name a file set or an error shows the user, as one string. */
function shown(outcome: FileSet | Error): string {
  return outcome instanceof Error ? outcome.message : JSON.stringify(outcome);
}

Deno.test("a start folder that links out of the allowed folders: nothing beyond it is walked or named", async () => {
  await using tmp = await tempDir("start-link");
  await using out = await tempDir("start-link-outside");
  const root = await Deno.realPath(tmp.path);
  await write(root, "mine.txt", "mine\n");
  await write(out.path, "outside-secret-name.txt", "TOP SECRET\n");
  await write(out.path, "deeper/outside-nested-name.md", "TOP SECRET\n");
  await write(out.path, ".gitignore", "outside-ignored-name\n");
  await Deno.symlink(out.path, join(root, "link"));
  await Deno.mkdir(join(root, "sub"));
  await Deno.symlink(join(out.path, "deeper"), join(root, "sub", "inner-link"));
  for (const pattern of ["link", "link/", "link/**", "link/**/*.md", "link/deeper", "sub/inner-link/*"]) {
    const outcome = await gatherFiles([pattern], {
      base: root,
      roots: [root],
      maxFileChars: 1000,
      maxTotalChars: 10_000,
    }).catch((error: Error) => error);
    assert.ok(outcome instanceof InputError, `${pattern}: ${shown(outcome)}`);
    assert.match(outcome.message, /is outside the folders files may be read from/);
    assert.doesNotMatch(shown(outcome), /outside-(secret|nested|ignored)-name|TOP SECRET/, pattern);
  }
  // Walking the allowed folder itself: the links are passed over, and no name behind them is shown.
  const set = await gatherFiles(["."], {
    base: root,
    roots: [root],
    maxFileChars: 1000,
    maxTotalChars: 10_000,
  });
  assert.deepEqual(set.files.map((f) => f.path), ["mine.txt"]);
  assert.doesNotMatch(shown(set), /outside-(secret|nested|ignored)-name|TOP SECRET/);
});

Deno.test("a file opened outside the roots and swapped back inside before its path is resolved is not read", async () => {
  await using tmp = await tempDir("open-swap");
  await using out = await tempDir("open-swap-outside");
  const root = await Deno.realPath(tmp.path);
  await write(out.path, "notes.txt", "TOP SECRET (outside the roots)\n");
  await write(root, "docs-real/notes.txt", "mine\n");
  // When the path is checked and opened, docs/ leads outside; right after the open it is inside again.
  await Deno.symlink(out.path, join(root, "docs"));
  const path = join(root, "docs", "notes.txt");
  const { value, opened } = await withOpenHook(path, {
    after: async () => {
      await Deno.remove(join(root, "docs"));
      await Deno.rename(join(root, "docs-real"), join(root, "docs"));
    },
  }, () => readText(path, [root], 1_000));
  assert.equal(opened, 1, "the file was opened through Deno.open once");
  assert.ok(!("text" in value), `the file opened outside was read: ${JSON.stringify(value)}`);
  assert.match(value.reason, /changed while it was read/);
  // Unswapped, the same path reads (the refusal above was the swap's doing).
  assert.deepEqual(await readText(path, [root], 1_000), { text: "mine\n" });
});

Deno.test("a .gitignore swapped between its size check and its open is not applied; its folder is left out", async () => {
  await using tmp = await tempDir("ignore-swap");
  const root = await Deno.realPath(tmp.path);
  await Deno.mkdir(join(root, ".git"));
  await write(root, "pkg/.gitignore", "secret.txt\n");
  await write(root, "pkg/secret.txt", "hunter2\n");
  await write(root, "pkg/ok.txt", "fine\n");
  await write(root, "other.txt", "fine\n");
  await write(root, "swap-in", "# nothing ignored\n!secret.txt\n");
  const ignore = join(root, "pkg", ".gitignore");
  const { value, opened } = await withOpenHook(ignore, {
    before: () => Deno.rename(join(root, "swap-in"), ignore),
  }, () => gatherFiles(["."], { base: root, roots: [root], maxFileChars: 1000, maxTotalChars: 10_000 }));
  assert.equal(opened, 1, "the .gitignore was opened through Deno.open once");
  const read = value.files.map((f) => f.path);
  assert.ok(!read.includes("pkg/secret.txt"), `the swapped .gitignore was applied: ${read.join(", ")}`);
  assert.doesNotMatch(shown(value), /hunter2/);
  assert.deepEqual(read, ["other.txt"], "the folder whose .gitignore changed is left out whole");
  assert.ok(
    value.skipped.some((s) => s.path === "pkg" && /changed while it was read/.test(s.reason)),
    JSON.stringify(value.skipped),
  );
});

Deno.test("the total per call counts every file already read: files whose sum passes it do not all go in", async () => {
  await using tmp = await tempDir("total");
  const names = ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt"];
  for (const name of names) await write(tmp.path, name, `${name} ${"x".repeat(33)}\n`); // 40 characters
  const set = await gatherFiles(["."], {
    base: tmp.path,
    roots: [tmp.path],
    maxFileChars: 1_000,
    maxTotalChars: 100,
  });
  assert.deepEqual(set.files.map((f) => f.path), ["a.txt", "b.txt"]);
  assert.equal(set.chars, 80);
  assert.ok(set.chars <= 100);
  assert.deepEqual(
    set.skipped.map((s) => [s.path, s.reason]),
    ["c.txt", "d.txt", "e.txt"].map((
      n,
    ) => [n, "40 characters would pass the total of 100 for this call; pass a narrower folder or glob"]),
  );
  // A smaller file later still fits what is left.
  await write(tmp.path, "f.txt", "small\n");
  const again = await gatherFiles(["a.txt", "b.txt", "c.txt", "f.txt"], {
    base: tmp.path,
    roots: [tmp.path],
    maxFileChars: 1_000,
    maxTotalChars: 100,
  });
  assert.deepEqual(again.files.map((f) => f.path), ["a.txt", "b.txt", "f.txt"]);
});

Deno.test("the files opened per call stop at the cap: N opened, not N + 1", async () => {
  await using tmp = await tempDir("examined-cap");
  for (let i = 0; i < 6; i++) await write(tmp.path, `f${i}.txt`, `file ${i}\n`);
  const set = await gatherFiles(["."], {
    base: tmp.path,
    roots: [tmp.path],
    maxFileChars: 1_000,
    maxTotalChars: 10_000,
    maxExamined: 4,
  });
  assert.deepEqual(set.files.map((f) => f.path), ["f0.txt", "f1.txt", "f2.txt", "f3.txt"]);
  const notOpened = set.skipped.filter((s) => /^not opened: 4 files were already looked at/.test(s.reason));
  assert.deepEqual(notOpened.map((s) => s.path), ["f4.txt", "f5.txt"]);
  // Files that were opened but not read (empty ones) count too.
  await Deno.writeTextFile(join(tmp.path, "a-empty.txt"), "");
  const withEmpty = await gatherFiles(["."], {
    base: tmp.path,
    roots: [tmp.path],
    maxFileChars: 1_000,
    maxTotalChars: 10_000,
    maxExamined: 4,
  });
  assert.deepEqual(withEmpty.files.map((f) => f.path), ["f0.txt", "f1.txt", "f2.txt"]);
});

Deno.test(
  ".gitignore precedence against git ls-files: a deeper !keep re-includes, info/exclude ranks below",
  {
    ignore: !HAS_GIT,
  },
  async () => {
    await using tmp = await tempDir("precedence");
    const root = await Deno.realPath(tmp.path);
    const env = { GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1", HOME: root };
    const git = async (args: string[]) => {
      const out = await new Deno.Command("git", { args, cwd: root, env, stdout: "piped", stderr: "piped" })
        .output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      return new TextDecoder().decode(out.stdout);
    };
    await git(["init", "-q"]);
    const files: Record<string, string> = {
      // The top ignores *.log and *.md; deeper folders re-include some, one folder is ignored whole.
      ".gitignore": "*.log\n*.md\nbuild/\n!important.tmp\n",
      "top.log": "",
      "readme.md": "",
      "sub/.gitignore": "!keep.log\n",
      "sub/keep.log": "",
      "sub/other.log": "",
      "sub/deeper/.gitignore": "keep.log\n!notes.md\n",
      "sub/deeper/keep.log": "",
      "sub/deeper/notes.md": "",
      "build/.gitignore": "!keep.txt\n",
      "build/keep.txt": "",
      // info/exclude: *.tmp (a .gitignore's !important.tmp outranks it), and !readme.md, !x.md (which the
      // top .gitignore's *.md outranks: they stay ignored).
      "important.tmp": "",
      "scratch.tmp": "",
      "x.md": "",
      "plain.txt": "",
      "sub/x.md": "",
      "sub/important.tmp": "",
      "sub/scratch.tmp": "",
    };
    for (const [path, text] of Object.entries(files)) await write(root, path, text || `${path}\n`);
    await Deno.writeTextFile(join(root, ".git", "info", "exclude"), "*.tmp\n!readme.md\n!x.md\n");
    const gitSees = (await git(["ls-files", "-z", "-o", "--exclude-standard"])).split("\0")
      .filter((f) => f && !f.endsWith(".gitignore")).sort();
    // The expected set, spelled out so a change in git's rules would show here too.
    assert.deepEqual(gitSees, [
      "important.tmp",
      "plain.txt",
      "sub/deeper/notes.md",
      "sub/important.tmp",
      "sub/keep.log",
    ]);
    const walked = async (start: string) => {
      const walker = new Walker(undefined, (p) => p, () => {});
      return (await walker.walk(start, undefined)).map((p) => p.slice(root.length + 1)).sort();
    };
    assert.deepEqual(await walked(root), gitSees);
    // From a folder inside the repository, the rules above it apply in the same order.
    assert.deepEqual(await walked(join(root, "sub")), gitSees.filter((f) => f.startsWith("sub/")));
  },
);

Deno.test("globs: nested and overlapping ranges, one-character ranges, characters outside the basic plane", () => {
  const cases: [string, string[], string[]][] = [
    ["[a-zb-c].txt", ["a.txt", "b.txt", "m.txt", "z.txt"], ["B.txt", "-.txt", "ab.txt"]],
    ["[b-ca-z].txt", ["a.txt", "c.txt", "q.txt"], ["Q.txt", "0.txt"]],
    ["[a-mh-z]", ["a", "h", "m", "n", "z"], ["A", "0"]],
    ["[x-xa-a]", ["a", "x"], ["b", "w", "y"]],
    ["[a-a].txt", ["a.txt"], ["b.txt", "`.txt", "A.txt"]],
    ["[!a-a]x", ["bx", "😀x"], ["ax", "/x"]],
    ["😀.txt", ["😀.txt"], ["😁.txt", "x.txt"]],
    ["?.txt", ["😀.txt", "a.txt", "é.txt"], ["😀😀.txt", ".txt"]],
    ["[😀😁].txt", ["😀.txt", "😁.txt"], ["😂.txt", "a.txt"]],
    ["[😀-😂]", ["😀", "😁", "😂"], ["😃", "a", "\ud83d"]],
    ["[!😀]", ["a", "😁"], ["😀"]],
    ["*😀*", ["a😀b", "😀", "x😀"], ["a😁b", "dir/😀/x"]],
    ["src/**/[😀a-c]?.md", ["src/😀😁.md", "src/x/y/b1.md"], ["src/d1.md", "src/😀.md"]],
  ];
  for (const [glob, yes, no] of cases) {
    const match = globMatcher(glob);
    for (const path of yes) assert.ok(match(path), `${glob} should match ${path}`);
    for (const path of no) assert.ok(!match(path), `${glob} should not match ${path}`);
  }
});

Deno.test(".gitignore ranges and characters outside the basic plane agree with git ls-files", {
  ignore: !HAS_GIT,
}, async () => {
  await using tmp = await tempDir("nonbmp");
  const root = await Deno.realPath(tmp.path);
  const env = { GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1", HOME: root };
  const git = async (args: string[]) => {
    const out = await new Deno.Command("git", { args, cwd: root, env, stdout: "piped", stderr: "piped" })
      .output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout);
  };
  await git(["init", "-q"]);
  await Deno.writeTextFile(
    join(root, ".gitignore"),
    ["r1/[a-zb-c].txt", "r2/[a-a]*", "e1/😀.log", "e2/[😀]*", "e3/*😁", "e4/[!a-a]"].join("\n") + "\n",
  );
  const names = [
    "r1/a.txt",
    "r1/m.txt",
    "r1/B.txt",
    "r1/ab.txt",
    "r2/a1",
    "r2/b1",
    "e1/😀.log",
    "e1/😁.log",
    "e2/😀x",
    "e2/x😀",
    "e3/a😁",
    "e3/😁a",
    "e4/a",
    "e4/b",
    "e4/😀",
  ];
  for (const name of names) await write(root, name);
  const gitSees = (await git(["-c", "core.quotepath=off", "ls-files", "-z", "-o", "--exclude-standard"]))
    .split("\0").filter((f) => f && f !== ".gitignore").sort();
  const walker = new Walker(undefined, (p) => p, () => {});
  const walked = (await walker.walk(root, undefined)).map((p) => p.slice(root.length + 1)).sort();
  assert.deepEqual(walked, gitSees);
  // What git decided, so the comparison is known to test something in each direction.
  assert.ok(!gitSees.includes("r1/m.txt") && !gitSees.includes("r2/a1") && !gitSees.includes("e1/😀.log"));
  assert.ok(gitSees.includes("r1/B.txt") && gitSees.includes("r2/b1") && gitSees.includes("e1/😁.log"));
});
