// deno-lint-ignore-file no-console -- a build script reports what it builds
/**
 * `deno task compile` builds the host binary into `dist/` (`--target <triple>` for another one);
 * `deno task compile:all` cross-compiles the five release targets. Deno fetches each target's runtime
 * (`denort`), so this needs the internet. The release workflow builds each target on its own runner.
 * The permission flags are the `start` task's (see scripts/permissions.ts).
 *
 * @module
 */
import { binaryName, serverRunFlags, TARGETS } from "./permissions.ts";

function hostTarget(): string {
  const { arch, os } = Deno.build;
  if (os === "windows") return `${arch}-pc-windows-msvc`;
  if (os === "darwin") return `${arch}-apple-darwin`;
  return `${arch}-unknown-linux-gnu`;
}

async function compile(target: string, output: string): Promise<void> {
  const args = [
    "compile",
    "--frozen",
    ...serverRunFlags(),
    "--target",
    target,
    "--output",
    output,
    "main.ts",
  ];
  console.log(`deno ${args.join(" ")}`);
  const { code } = await new Deno.Command(Deno.execPath(), { args, stdout: "inherit", stderr: "inherit" })
    .output();
  if (code !== 0) throw new Error(`deno compile for ${target} failed (exit ${code})`);
}

if (import.meta.main) {
  const all = Deno.args.includes("--all");
  const at = Deno.args.indexOf("--target");
  const chosen = at >= 0 ? Deno.args[at + 1] : undefined;
  if (chosen !== undefined && !TARGETS.includes(chosen)) {
    throw new Error(`unknown target ${chosen}; one of: ${TARGETS.join(", ")}`);
  }
  const targets = all ? TARGETS : [chosen ?? hostTarget()];
  await Deno.mkdir("dist", { recursive: true });
  for (const target of targets) await compile(target, `dist/${binaryName(target)}`);
  console.log(`Built ${targets.length} binar${targets.length === 1 ? "y" : "ies"} in dist/`);
}
