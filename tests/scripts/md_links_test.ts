/**
 * The doc lint's link check (scripts/md_links.ts): GitHub's heading anchors, links outside code only, and
 * every dead file or anchor reported with its line. The last test runs it over this repository's own pages.
 *
 * @module
 */
import assert from "node:assert/strict";
import { anchors, checkMarkdownLinks, relativeLinks, slug, unlinkedPages } from "../../scripts/md_links.ts";

Deno.test("slug follows GitHub: lower case, code marks and punctuation dropped, spaces made hyphens", () => {
  assert.equal(slug("Model lifecycle (native `/api/v1/*`)"), "model-lifecycle-native-apiv1");
  assert.equal(slug("Conversations: `chat`"), "conversations-chat");
  assert.equal(slug("Claude Desktop, Cursor, VS Code"), "claude-desktop-cursor-vs-code");
  assert.equal(slug("Protocol revisions: both MCP eras"), "protocol-revisions-both-mcp-eras");
  assert.equal(slug("Switching from `mcp-llm-studio`"), "switching-from-mcp-llm-studio");
  assert.equal(slug("A [linked](x.md) heading"), "a-linked-heading");
});

Deno.test("anchors numbers repeated headings and skips headings inside code fences", () => {
  const found = anchors('# Title\n## Setup\n```sh\n# not a heading\n```\n## Setup\n<a id="here"></a>\n');
  assert.deepEqual([...found].sort(), ["here", "setup", "setup-1", "title"]);
});

Deno.test("relativeLinks skips web addresses, inline code and fenced code, and keeps line numbers", () => {
  const text = [
    "[a](docs/a.md) and [web](https://example.com) and `[code](x.md)`",
    "```md",
    "[fenced](y.md)",
    "```",
    '<summary><a href="#perm">p</a></summary> [b](#anchor "title")',
  ].join("\n");
  assert.deepEqual(relativeLinks(text), [
    { line: 1, target: "docs/a.md" },
    { line: 5, target: "#anchor" },
    { line: 5, target: "#perm" },
  ]);
});

Deno.test("checkMarkdownLinks reports a missing file, a missing anchor and a link out of the repository", async () => {
  const root = await Deno.makeTempDir({ prefix: "md-links-" });
  try {
    await Deno.mkdir(`${root}/docs`);
    await Deno.writeTextFile(
      `${root}/README.md`,
      [
        "# Tool",
        "## Install",
        "[ok](docs/http.md#limits) [ok2](#install) [dir](docs/)",
        "[gone](docs/nope.md) [bad anchor](docs/http.md#nowhere)",
        "[self anchor](#instal) [out](../elsewhere.md)",
      ].join("\n"),
    );
    await Deno.writeTextFile(`${root}/docs/http.md`, "# HTTP\n## Limits\n[back](../README.md#install)\n");
    const dead = await checkMarkdownLinks(new URL(`file://${root}/`), ["README.md", "docs/http.md"]);
    assert.deepEqual(
      dead.map((d) => [d.file, d.line, d.target]),
      [
        ["README.md", 4, "docs/nope.md"],
        ["README.md", 4, "docs/http.md#nowhere"],
        ["README.md", 5, "#instal"],
        ["README.md", 5, "../elsewhere.md"],
      ],
    );
    assert.match(dead[1]!.reason, /docs\/http\.md has no heading with the anchor #nowhere/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("unlinkedPages names the pages a file never links, anchors and ./ aside", () => {
  const readme = "[a](docs/a.md#x) [b](./docs/b.md) `[c](docs/c.md)`\n```\n[d](docs/d.md)\n```\n";
  assert.deepEqual(unlinkedPages(readme, ["docs/a.md", "docs/b.md", "docs/c.md", "docs/d.md"]), [
    "docs/c.md",
    "docs/d.md",
  ]);
});

Deno.test("this repository's README, top-level pages and docs/ have no dead relative link", async () => {
  const root = new URL("../../", import.meta.url);
  const docs = [...Deno.readDirSync(new URL("docs/", root))]
    .filter((e) => e.isFile && e.name.endsWith(".md"))
    .map((e) => `docs/${e.name}`);
  assert.ok(docs.length >= 5, "the docs pages exist");
  const dead = await checkMarkdownLinks(root, ["README.md", "CONTRIBUTING.md", "SECURITY.md", ...docs]);
  assert.deepEqual(dead, []);
  assert.deepEqual(unlinkedPages(await Deno.readTextFile(new URL("README.md", root)), docs), []);
});
