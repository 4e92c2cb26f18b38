/**
 * The server's Deno permission flags, read from the one place they are written: the `start` task in
 * deno.json. The compile script, the tests and the client checks all use these, so what is tested is
 * what ships.
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };

/** The compile targets of `deno task compile:all` (see `deno compile --help`). */
export const TARGETS: readonly string[] = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

/**
 * The run flags of `deno task start`: `--no-prompt`, every `--allow-*`, and `--v8-flags` (a small young
 * generation and V8's optimize-for-size mode: under 10,000 fuzzed calls the resident memory goes from
 * 65 to 77 MB and stays there, instead of climbing to 177 MB without flags).
 *
 * @returns The flags, in order
 */
export function serverRunFlags(): string[] {
  const flags = denoJson.tasks.start.split(/\s+/)
    .map((arg) => arg.replace(/^'(.*)'$/, "$1"))
    .filter((arg) => arg === "--no-prompt" || arg.startsWith("--allow-") || arg.startsWith("--v8-flags="));
  if (!flags.some((f) => f.startsWith("--allow-net"))) {
    throw new Error("deno.json tasks.start has no --allow-net");
  }
  return flags;
}

/**
 * The flags `deno task start` runs the server from source with: {@linkcode serverRunFlags} and
 * `--cached-only`. Deno's module graph asks the npm registry about every npm package it imports, in the
 * background, whenever that package's registry entry is not in Deno's cache — and `deno task` fills the
 * cache from deno.lock without those entries, so without `--cached-only` every start of a short-lived
 * server (`--check`, a client's health check) contacts the registry again. `deno task` downloads what
 * the lock file names before the server starts, so the server itself never needs the network for code.
 * The task also starts the server in `$INIT_CWD` (where `deno task` was started, unless the environment
 * already names one) rather than the clone, so relative `files` paths mean what the client meant, and it
 * sets `DENO_NO_UPDATE_CHECK=1` (Deno's own once-a-day check for a newer Deno).
 *
 * @returns The flags, in order
 */
export function sourceRunFlags(): string[] {
  const start = denoJson.tasks.start.split(/\s+/);
  if (!start.includes("--cached-only")) throw new Error("deno.json tasks.start has no --cached-only");
  return ["--cached-only", ...serverRunFlags()];
}

/**
 * The file name of the binary for a target.
 *
 * @param target A `deno compile --target` triple
 * @returns e.g. `lmstudio-mcp-x86_64-pc-windows-msvc.exe`
 */
export function binaryName(target: string): string {
  return `lmstudio-mcp-${target}${target.includes("windows") ? ".exe" : ""}`;
}
