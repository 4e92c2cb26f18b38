/**
 * The relative links of the project's Markdown files, checked the way GitHub renders them: each link to a
 * file must name a file that exists, and each `#anchor` must be the slug of a heading in the file it points
 * at. `scripts/doc_lint.ts` runs {@linkcode checkMarkdownLinks} over the README, the other top-level pages
 * and `docs/`.
 *
 * @module
 */

/** One link that goes nowhere: where it is, what it says, and why it is dead. */
export interface DeadLink {
  /** The file holding the link, relative to the root. */
  file: string;
  /** Its line, from 1. */
  line: number;
  /** The target as written. */
  target: string;
  /** What is wrong with it. */
  reason: string;
}

/** Text that holds no links: fenced code blocks (their lines become empty, so line numbers stay). */
function withoutFences(text: string): string[] {
  let fence: string | undefined;
  return text.split("\n").map((line) => {
    const open = /^\s*(`{3,}|~{3,})/.exec(line);
    if (fence === undefined && open) {
      fence = open[1]!;
      return "";
    }
    if (fence !== undefined) {
      if (line.trim().startsWith(fence)) fence = undefined;
      return "";
    }
    return line;
  });
}

/**
 * GitHub's anchor for a heading: lower case, inline Markdown marks and punctuation dropped, spaces made
 * hyphens.
 *
 * @param heading The heading's text, without the leading `#`s.
 * @returns The anchor GitHub gives it (before the `-1`, `-2` of repeated headings).
 * @example
 * ```ts
 * import { slug } from "./md_links.ts";
 * slug("Model lifecycle (native `/api/v1/*`)"); // "model-lifecycle-native-apiv1"
 * ```
 */
export function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/**
 * Every anchor a Markdown file offers: its headings' slugs (repeats numbered as GitHub numbers them) and the
 * `id`/`name` of its HTML elements.
 *
 * @param text The file's text.
 * @returns The anchors, without `#`.
 */
export function anchors(text: string): Set<string> {
  const found = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of withoutFences(text)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      const base = slug(heading[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      found.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of line.matchAll(/<[a-z][^>]*\s(?:id|name)="([^"]+)"/gi)) found.add(m[1]!);
  }
  return found;
}

/**
 * The links of a Markdown file that stay in the repository: `[text](target)` and `href="target"` outside
 * code, without web addresses.
 *
 * @param text The file's text.
 * @returns Each target with its line (from 1).
 */
export function relativeLinks(text: string): { line: number; target: string }[] {
  const links: { line: number; target: string }[] = [];
  withoutFences(text).forEach((raw, i) => {
    const line = raw.replace(/`[^`]*`/g, "");
    const targets = [
      ...[...line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
      ...[...line.matchAll(/\shref="([^"]+)"/g)].map((m) => m[1]!),
    ];
    for (const target of targets) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
      links.push({ line: i + 1, target });
    }
  });
  return links;
}

/**
 * Checks every relative link of the given Markdown files: the file it names exists (inside the root), and
 * its anchor, if any, is one the target Markdown file offers.
 *
 * @param root The repository's root folder.
 * @param files The Markdown files to check, relative to the root (`README.md`, `docs/http.md`).
 * @returns The dead links, in file and line order; empty when all resolve.
 */
export async function checkMarkdownLinks(root: URL, files: string[]): Promise<DeadLink[]> {
  const dead: DeadLink[] = [];
  const texts = new Map<string, string | undefined>();
  const read = async (path: string): Promise<string | undefined> => {
    if (!texts.has(path)) {
      try {
        texts.set(path, await Deno.readTextFile(new URL(path, root)));
      } catch {
        texts.set(path, undefined);
      }
    }
    return texts.get(path);
  };
  for (const file of files) {
    const text = await read(file);
    if (text === undefined) {
      dead.push({ file, line: 0, target: file, reason: "the file itself cannot be read" });
      continue;
    }
    for (const { line, target } of relativeLinks(text)) {
      const hash = target.indexOf("#");
      const pathPart = hash === -1 ? target : target.slice(0, hash);
      const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
      const resolved = pathPart === "" ? new URL(file, root) : new URL(pathPart, new URL(file, root));
      if (!resolved.href.startsWith(root.href)) {
        dead.push({ file, line, target, reason: "it leaves the repository" });
        continue;
      }
      const rel = decodeURIComponent(resolved.href.slice(root.href.length));
      let isDir = false;
      try {
        isDir = (await Deno.stat(resolved)).isDirectory;
      } catch {
        dead.push({ file, line, target, reason: `no file ${rel}` });
        continue;
      }
      if (anchor === undefined || anchor === "") continue;
      if (isDir || !rel.endsWith(".md")) {
        dead.push({ file, line, target, reason: `${rel} is not a Markdown file, so it has no anchors` });
        continue;
      }
      const targetText = await read(rel);
      if (targetText === undefined || !anchors(targetText).has(anchor)) {
        dead.push({ file, line, target, reason: `${rel} has no heading with the anchor #${anchor}` });
      }
    }
  }
  return dead;
}

/**
 * The pages a file does not link: for the README, the `docs/` pages out of reach of a reader who starts there.
 *
 * @param text The linking file's text (the README)
 * @param pages The pages that must be linked, relative to the same folder (`docs/http.md`)
 * @returns The pages no link of `text` names (anchors aside), in the given order
 * @example
 * ```ts
 * import { unlinkedPages } from "./md_links.ts";
 * unlinkedPages("See [HTTP](docs/http.md#limits).", ["docs/http.md", "docs/eras.md"]); // ["docs/eras.md"]
 * ```
 */
export function unlinkedPages(text: string, pages: readonly string[]): string[] {
  const linked = new Set(relativeLinks(text).map(({ target }) => target.split("#")[0]!.replace(/^\.\//, "")));
  return pages.filter((page) => !linked.has(page));
}
