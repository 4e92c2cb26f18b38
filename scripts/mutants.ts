// deno-lint-ignore-file no-console -- a check script reports what it found
/**
 * `deno task mutants`: mutation testing by hand-made mutants over the security- and durability-critical
 * code. Each mutant is the kind of slip a real change makes (a comparison loosened, a bound dropped, a
 * transaction forgotten). It is applied to a scratch copy of the work tree (git's files, new ones too), the tests that guard that
 * code run there, and the mutant is killed when they fail. The score is printed; a mutant whose text is
 * no longer in the code is reported as stale (the list must follow the code) and fails the run.
 *
 * Options: `--seed N` (the order, default 20261128), `--only ID[,ID…]`, `--sample N` (N mutants drawn by
 * the seed), `--list`, `--check` (only that every mutant's text is in the code, once), `--min-score P`
 * (exit 1 below P percent; default 90).
 *
 * Run: `deno task mutants`
 *
 * @module
 */
import { join } from "node:path";
import { type Mutant, MUTANTS } from "./mutants_list.ts";
import { random } from "../tests/support/random.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const TEST_FLAGS = [
  "--allow-net=127.0.0.1,localhost",
  "--allow-env",
  "--allow-read",
  "--allow-write",
  "--allow-run",
];
/** Longest run of one mutant's tests: a mutant that hangs a test counts as killed once it is reached. */
const MUTANT_LIMIT_MS = 180_000;

function option(name: string): string | undefined {
  const index = Deno.args.indexOf(`--${name}`);
  return index < 0 ? undefined : Deno.args[index + 1];
}

async function trackedFiles(): Promise<string[]> {
  const out = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: ROOT,
    stdout: "piped",
  })
    .output();
  if (!out.success) throw new Error("git ls-files failed: run from a git checkout");
  return new TextDecoder().decode(out.stdout).split("\0").filter(Boolean);
}

async function copyTree(files: readonly string[], to: string): Promise<void> {
  for (const file of files) {
    // The work tree as it is: new files included, deleted ones skipped.
    if (!(await Deno.stat(join(ROOT, file)).then((info) => info.isFile, () => false))) continue;
    const target = join(to, file);
    await Deno.mkdir(join(target, ".."), { recursive: true });
    await Deno.copyFile(join(ROOT, file), target);
  }
}

async function runTests(dir: string, mutant: Mutant): Promise<{ failed: boolean; output: string }> {
  const filter = mutant.filter ? ["--filter", mutant.filter] : [];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "--quiet", ...TEST_FLAGS, ...filter, ...mutant.tests],
    cwd: dir,
    env: { NO_COLOR: "1", CI: "true" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(MUTANT_LIMIT_MS),
  });
  try {
    const out = await child.output();
    const output = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    // A run that ran no test cannot kill anything: a wrong filter is a stale mutant, not a kill.
    if (/\| 0 passed \| 0 failed/.test(output) || /No test modules found/.test(output)) {
      throw new Error(
        `mutant ${mutant.id}: its tests matched nothing (${mutant.tests.join(" ")} ${filter.join(" ")})`,
      );
    }
    return { failed: !out.success, output };
  } catch (error) {
    if (error instanceof DOMException && error.name === "TimeoutError") {
      return { failed: true, output: `timed out after ${MUTANT_LIMIT_MS} ms` };
    }
    throw error;
  }
}

if (import.meta.main) {
  const seed = Number(option("seed") ?? 20261128);
  const only = option("only")?.split(",");
  let mutants = only ? MUTANTS.filter((m) => only.includes(m.id)) : [...MUTANTS];
  const draw = random(seed);
  for (let i = mutants.length - 1; i > 0; i--) {
    const j = Math.floor(draw() * (i + 1));
    [mutants[i], mutants[j]] = [mutants[j]!, mutants[i]!];
  }
  const sample = option("sample");
  if (sample) mutants = mutants.slice(0, Number(sample));
  if (Deno.args.includes("--list")) {
    for (const m of mutants) console.log(`${m.id.padEnd(28)} ${m.file}  ${m.why}`);
    Deno.exit(0);
  }
  if (Deno.args.includes("--check")) {
    let bad = 0;
    for (const m of mutants) {
      const text = await Deno.readTextFile(join(ROOT, m.file));
      const at = text.indexOf(m.from);
      if (at < 0 || text.indexOf(m.from, at + 1) >= 0) {
        bad++;
        console.log(`stale: ${m.id}: "${m.from}" is ${at < 0 ? "not" : "more than once"} in ${m.file}`);
      }
    }
    console.log(`mutants: ${mutants.length - bad} of ${mutants.length} apply`);
    Deno.exit(bad ? 1 : 0);
  }
  const minScore = Number(option("min-score") ?? 90);
  const scratch = await Deno.makeTempDir({ prefix: "lmstudio-mcp-mutants-" });
  const survivors: Mutant[] = [];
  const stale: string[] = [];
  let killed = 0;
  try {
    await copyTree(await trackedFiles(), scratch);
    console.log(`mutants: ${mutants.length} (seed ${seed}) in ${scratch}`);
    for (const [index, mutant] of mutants.entries()) {
      const path = join(scratch, mutant.file);
      const original = await Deno.readTextFile(path);
      const at = original.indexOf(mutant.from);
      if (at < 0 || original.indexOf(mutant.from, at + 1) >= 0) {
        stale.push(
          `${mutant.id}: "${mutant.from}" is ${at < 0 ? "not" : "more than once"} in ${mutant.file}`,
        );
        console.log(`[${index + 1}/${mutants.length}] ${mutant.id}: STALE`);
        continue;
      }
      await Deno.writeTextFile(
        path,
        original.slice(0, at) + mutant.to + original.slice(at + mutant.from.length),
      );
      try {
        const { failed } = await runTests(scratch, mutant);
        if (failed) killed++;
        else survivors.push(mutant);
        console.log(`[${index + 1}/${mutants.length}] ${mutant.id}: ${failed ? "killed" : "SURVIVED"}`);
      } finally {
        await Deno.writeTextFile(path, original);
      }
    }
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
  const tried = mutants.length - stale.length;
  const score = tried ? (100 * killed) / tried : 0;
  for (const s of survivors) console.log(`survived: ${s.id} (${s.file}): ${s.why}`);
  for (const s of stale) console.log(`stale: ${s}`);
  console.log(`mutation score: ${killed}/${tried} killed (${score.toFixed(1)}%), ${stale.length} stale`);
  if (stale.length || score < minScore) Deno.exit(1);
}
