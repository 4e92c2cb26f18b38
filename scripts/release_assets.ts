// deno-lint-ignore-file no-console -- a release script reports what it writes
/**
 * Release assets, from the binaries in `dist/` (run by .github/workflows/release.yml):
 * - one `.mcpb` bundle per target (manifest.json with that platform + the binary), for Claude Desktop;
 * - `SHA256SUMS` over every binary and bundle;
 * - `server.json` for the MCP registry, listing the bundles with their SHA-256.
 *
 * Usage: `deno run --allow-read --allow-write --allow-run scripts/release_assets.ts v0.1.0`
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };
import manifest from "../manifest.json" with { type: "json" };
import serverJson from "../server.json" with { type: "json" };
import { binaryName, TARGETS } from "./permissions.ts";

const PLATFORM: Record<string, string> = { linux: "linux", apple: "darwin", windows: "win32" };

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function bundle(target: string, version: string): Promise<string> {
  const stage = await Deno.makeTempDir();
  const exe = target.includes("windows") ? "lmstudio-mcp.exe" : "lmstudio-mcp";
  await Deno.mkdir(`${stage}/server`);
  await Deno.copyFile(`dist/${binaryName(target)}`, `${stage}/server/${exe}`);
  if (!target.includes("windows")) await Deno.chmod(`${stage}/server/${exe}`, 0o755);
  const platform = Object.entries(PLATFORM).find(([key]) => target.includes(key))?.[1];
  const own = {
    ...manifest,
    version,
    server: { ...manifest.server, entry_point: `server/${exe}` },
    compatibility: { platforms: platform ? [platform] : manifest.compatibility.platforms },
  };
  await Deno.writeTextFile(`${stage}/manifest.json`, JSON.stringify(own, null, 2) + "\n");
  const out = `${Deno.cwd()}/dist/${binaryName(target).replace(/\.exe$/, "")}.mcpb`;
  const zip = await new Deno.Command("zip", {
    args: ["-q", "-r", out, "manifest.json", "server"],
    cwd: stage,
  })
    .output();
  if (!zip.success) throw new Error(`zip failed for ${target}`);
  await Deno.remove(stage, { recursive: true });
  return out;
}

if (import.meta.main) {
  const tag = Deno.args[0] ?? `v${denoJson.version}`;
  const version = tag.replace(/^v/, "");
  if (version !== denoJson.version) {
    throw new Error(`tag ${tag} does not match deno.json ${denoJson.version}`);
  }
  const base = `${serverJson.repository.url}/releases/download/${tag}`;
  const sums: string[] = [];
  const packages = [];
  for (const target of TARGETS) {
    const binary = `dist/${binaryName(target)}`;
    sums.push(`${await sha256(binary)}  ${binaryName(target)}`);
    const mcpb = await bundle(target, version);
    const name = mcpb.split("/").pop()!;
    const hash = await sha256(mcpb);
    sums.push(`${hash}  ${name}`);
    packages.push({
      registryType: "mcpb",
      identifier: `${base}/${name}`,
      fileSha256: hash,
      transport: { type: "stdio" },
    });
  }
  await Deno.writeTextFile("dist/SHA256SUMS", sums.join("\n") + "\n");
  await Deno.writeTextFile(
    "dist/server.json",
    JSON.stringify({ ...serverJson, version, packages }, null, 2) + "\n",
  );
  console.log(`Wrote ${TARGETS.length} .mcpb bundles, SHA256SUMS and server.json to dist/`);
}
