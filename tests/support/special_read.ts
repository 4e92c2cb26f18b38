/**
 * Reads one path with `gatherFiles` (no roots, 1,000 characters per file) and prints what happened as
 * JSON. Run with `--allow-all` by `tests/lib/files_hostile_test.ts`, because Deno grants procfs paths only
 * with all permissions: a procfs file reports size 0 but holds far more (`/proc/self/pagemap`: gigabytes),
 * so a read that trusts the size never ends. A watchdog exits with code 3 once resident memory passes
 * 256 MiB, so a regression fails fast instead of filling the machine's memory.
 *
 * @module
 */
import { gatherFiles } from "../../lib/files/files.ts";

const WATCHDOG_BYTES = 256 * 1024 * 1024;
const watchdog = setInterval(() => {
  if (Deno.memoryUsage().rss > WATCHDOG_BYTES) {
    const message = `watchdog: resident memory passed ${WATCHDOG_BYTES} bytes while reading ${
      Deno.args[0]
    }\n`;
    Deno.stderr.writeSync(new TextEncoder().encode(message));
    Deno.exit(3);
  }
}, 1);
try {
  const outcome = await gatherFiles([Deno.args[0]!], {
    base: "/",
    roots: undefined,
    maxFileChars: 1_000,
    maxTotalChars: 1_000,
  }).then(
    (set) => ({ read: set.files.map((f) => f.path), skipped: set.skipped }),
    (error: Error) => ({ error: error.message }),
  );
  await Deno.stdout.write(new TextEncoder().encode(JSON.stringify(outcome)));
} finally {
  clearInterval(watchdog);
}
