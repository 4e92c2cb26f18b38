/**
 * Builds a tree of 50,000 files (60 packages of 500, one package in ten under a `.gitignore`d `cache/`,
 * and one flat folder of 20,000 whose names are sorted without holding the event loop),
 * walks it with `gatherFiles` while a bystander timer runs, prints what was read as JSON, and removes the
 * tree. Run with `--allow-all` by `tests/lib/files_hostile_test.ts`, so the tree can live on tmpfs
 * (`/dev/shm`, which Deno grants only with all permissions): on disk, making 50,000 files takes half a
 * minute on some machines.
 *
 * @module
 */
import { join } from "node:path";
import { gatherFiles } from "../../lib/files/files.ts";
import { withBystander } from "./bystander.ts";

const onTmpfs = await Deno.stat("/dev/shm").then((info) => info.isDirectory, () => false);
const root = await Deno.makeTempDir({
  prefix: "lmstudio-mcp-huge-",
  ...(onTmpfs ? { dir: "/dev/shm" } : {}),
});
try {
  await Deno.mkdir(join(root, ".git"));
  await Deno.writeTextFile(join(root, ".gitignore"), "*.tmp\n[z-a]\n**/cache/**\n");
  const made = await new Deno.Command("sh", {
    args: [
      "-c",
      `for d in $(seq 0 59); do
      if [ $((d % 10)) = 3 ]; then dir=pkg$d/cache; else dir=pkg$d/src; fi
      mkdir -p $dir && (cd $dir && for f in $(seq 0 499); do echo x > f$f.ts; done)
    done
    mkdir flat && (cd flat && seq -f "n%g.txt" 0 19999 | xargs touch)`,
    ],
    cwd: root,
    stdin: "null",
  }).output();
  if (!made.success) throw new Error(new TextDecoder().decode(made.stderr));
  let entries = 0;
  const count = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile) entries++;
      else if (entry.isDirectory && entry.name !== ".git") await count(join(dir, entry.name));
    }
  };
  await count(root);
  const { value, worstGapMs, turns } = await withBystander(() =>
    gatherFiles(["**/*.ts"], {
      base: root,
      roots: [root],
      maxFileChars: 100_000,
      maxTotalChars: 10_000_000,
      maxFiles: 10,
    })
  );
  await Deno.stdout.write(new TextEncoder().encode(JSON.stringify({
    entries: entries - 1, // the .gitignore
    read: value.files.map((f) => f.path),
    skipped: value.skipped.filter((s) => !/over the limit of 10 files/.test(s.reason)),
    worstGapMs: Math.round(worstGapMs),
    turns,
  })));
} finally {
  await Deno.remove(root, { recursive: true });
}
