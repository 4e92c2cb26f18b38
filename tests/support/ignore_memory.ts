/**
 * Reads a folder whose nested levels each hold a hostile 1 MiB `.gitignore` (built by
 * `tests/lib/files_hostile_test.ts`) with `gatherFiles`, while a bystander timer runs and resident memory
 * is sampled, and prints what it measured as JSON: in its own process, so the memory measured is the
 * walk's alone. Run with `--allow-read=<folder>`; the folder is the only argument.
 *
 * @module
 */
import { gatherFiles } from "../../lib/files/files.ts";
import { withBystander } from "./bystander.ts";

const root = Deno.args[0]!;
const rss = () => Deno.memoryUsage().rss;
const before = rss();
let peak = before;
const sampler = setInterval(() => (peak = Math.max(peak, rss())), 5);
try {
  const started = performance.now();
  const { value, worstGapMs, turns } = await withBystander(() =>
    gatherFiles(["."], { base: root, roots: [root], maxFileChars: 100_000, maxTotalChars: 10_000_000 })
  );
  peak = Math.max(peak, rss());
  await Deno.stdout.write(new TextEncoder().encode(JSON.stringify({
    ms: Math.round(performance.now() - started),
    rssGrowthMiB: Math.round((peak - before) / 1048576),
    worstGapMs: Math.round(worstGapMs),
    turns,
    read: value.files.map((f) => f.path),
    skipped: value.skipped,
  })));
} finally {
  clearInterval(sampler);
}
