// deno-lint-ignore-file no-console -- a check script reports what it found
/**
 * `deno doc --lint` over the whole public surface: main.ts, transports/, server/, tools/ and lib/ (all but
 * server/sdk.ts, which
 * only re-exports the MCP SDK and would lint the SDK's own declarations).
 *
 * Every diagnostic fails the run, except one kind we cannot fix from here: a public signature that names
 * a type exported by a dependency (zod's `ZodString`, the SDK's `Transport`, …). Deno's doc linter does
 * not follow npm packages, so it calls those types private. A referenced type declared in our own code
 * is always an error.
 *
 * Then the Markdown: every relative link of the README, the other top-level pages and `docs/` must name a file
 * that exists and an anchor its target has (`scripts/md_links.ts`), and the README must link every page of
 * `docs/`, so that none is out of reach.
 *
 * Run: `deno run --allow-read --allow-run scripts/doc_lint.ts`
 *
 * @module
 */

import { checkMarkdownLinks, unlinkedPages } from "./md_links.ts";

const ROOT = new URL("../", import.meta.url);
const TOP_PAGES = ["README.md", "CONTRIBUTING.md", "SECURITY.md", "CHANGELOG.md"];

async function sources(): Promise<string[]> {
  const files = ["main.ts"];
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(new URL(`${dir}/`, ROOT))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile && entry.name.endsWith(".ts") && path !== "server/sdk.ts") files.push(path);
    }
  };
  for (const dir of ["transports", "server", "tools", "lib"]) await walk(dir);
  return files.sort();
}

const files = await sources();
const ours = (await Promise.all(files.map((f) => Deno.readTextFile(new URL(f, ROOT))))).join("\n");
const declaredHere = (name: string) =>
  new RegExp(
    `^\\s*(?:export\\s+)?(?:declare\\s+)?(?:type\\s+${name}\\s*[<=]|(?:abstract\\s+)?(?:interface|class|enum)\\s+${name}\\b)`,
    "m",
  ).test(ours);

const run = await new Deno.Command(Deno.execPath(), {
  args: ["doc", "--lint", ...files],
  cwd: ROOT,
  env: { NO_COLOR: "1" },
  stdout: "piped",
  stderr: "piped",
}).output();
const text = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
const blocks = text.split(/\n(?=error\[)/).filter((b) => b.startsWith("error["));
let allowed = 0;
const errors: string[] = [];
for (const block of blocks) {
  const privateRef = block.match(/^error\[private-type-ref\]: .* references private type '([\w$]+)'/);
  if (privateRef && !declaredHere(privateRef[1]!)) allowed++;
  else errors.push(block.split("\n  info:")[0]!.trim());
}
for (const error of errors) console.error(`${error}\n`);
console.log(
  `doc lint: ${files.length} files, ${errors.length} errors` +
    (allowed ? ` (${allowed} references to types of npm dependencies allowed)` : ""),
);

const docs: string[] = [];
for await (const entry of Deno.readDir(new URL("docs/", ROOT))) {
  if (entry.isFile && entry.name.endsWith(".md")) docs.push(`docs/${entry.name}`);
}
docs.sort();
const dead = await checkMarkdownLinks(ROOT, [...TOP_PAGES, ...docs]);
for (const d of dead) console.error(`dead link: ${d.file}:${d.line}: (${d.target}) ${d.reason}`);
const unlinked = unlinkedPages(await Deno.readTextFile(new URL("README.md", ROOT)), docs);
for (const page of unlinked) console.error(`${page} is not linked from the README`);
console.log(
  `markdown links: ${TOP_PAGES.length + docs.length} files, ${dead.length} dead, ` +
    `${unlinked.length} docs pages the README does not link`,
);
if (errors.length || (!run.success && blocks.length === 0) || dead.length || unlinked.length) {
  if (!blocks.length && !run.success) console.error(text);
  Deno.exit(1);
}
