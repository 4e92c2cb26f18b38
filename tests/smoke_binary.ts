// deno-lint-ignore-file no-console -- the smoke test reports each step
/**
 * Smoke test of a built server: `--version`, `--help`, `--check`, then initialize + tools/list + two
 * tool calls over stdio against the LM Studio simulator. The release workflow runs it on each target's
 * own OS with the compiled binary; the test suite runs it with `deno run main.ts`.
 *
 * Usage: `deno run --allow-net=127.0.0.1,localhost --allow-env --allow-read --allow-run
 *   tests/smoke_binary.ts <executable> [args…]`
 *
 * @module
 */
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { resolve } from "node:path";
import denoJson from "../deno.json" with { type: "json" };
import { LmStudioSim } from "./support/lmstudio_sim.ts";
import { childEnv } from "./support/mcp.ts";
import { TOOL_NAMES } from "./support/tool_calls.ts";

const EXPECTED_TOOLS = TOOL_NAMES;

async function run(command: string, args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(command, { args, env, clearEnv: true, stdout: "piped", stderr: "piped" })
    .output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

function check(condition: unknown, what: string): void {
  if (!condition) throw new Error(`smoke test failed: ${what}`);
  console.log(`ok - ${what}`);
}

/**
 * Runs every smoke step; throws on the first failure.
 *
 * @param command The executable
 * @param prefix Arguments before the server's own (e.g. `run main.ts` for Deno)
 */
export async function smoke(command: string, prefix: string[] = []): Promise<void> {
  await using sim = LmStudioSim.start();
  const home = await Deno.makeTempDir({ prefix: "lmstudio-mcp-smoke-" });
  const env = await childEnv(home, { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: `${home}/sessions.db` });
  try {
    const version = await run(command, [...prefix, "--version"], env);
    check(
      version.code === 0 && version.stdout.trim() === denoJson.version,
      `--version prints ${denoJson.version}`,
    );
    const help = await run(command, [...prefix, "--help"], env);
    check(help.code === 0 && help.stdout.includes("Usage:"), "--help prints the usage");
    const doctor = await run(command, [...prefix, "--check"], env);
    check(
      doctor.code === 0,
      `--check passes against the simulator${doctor.code ? `:\n${doctor.stdout}` : ""}`,
    );
    const transport = new StdioClientTransport({ command, args: prefix, env, cwd: home, stderr: "pipe" });
    const client = new Client({ name: "lmstudio-mcp-smoke", version: "0" });
    await client.connect(transport);
    try {
      const info = client.getServerVersion();
      check(
        info?.name === "lmstudio-mcp" && info.version === denoJson.version,
        "initialize names the server",
      );
      const { tools } = await client.listTools();
      check(
        EXPECTED_TOOLS.every((name) => tools.some((t) => t.name === name)),
        "tools/list has the seven tools",
      );
      const list = await client.callTool({ name: "model_list", arguments: {} }) as {
        isError?: boolean;
        content: { type: string; text?: string }[];
      };
      check(
        !list.isError && list.content[0]?.text?.includes("qwen/qwen3-8b"),
        "model_list reaches LM Studio",
      );
      const chat = await client.callTool({
        name: "chat",
        arguments: { session_id: "smoke", model: "qwen/qwen3-8b", message: "hi" },
      }) as { isError?: boolean; content: { type: string; text?: string }[] };
      check(!chat.isError && chat.content[0]?.text === "Reply #1 to: hi", "chat answers and stores a turn");
    } finally {
      await client.close();
    }
  } finally {
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const [given, ...prefix] = Deno.args;
  if (!given) throw new Error("usage: smoke_binary.ts <executable> [args…]");
  // The server runs in a temp working directory: make a relative path (dist/…) absolute.
  const command = /[\\/]/.test(given) ? resolve(given) : given;
  await smoke(command, prefix.map((arg) => arg.endsWith(".ts") ? resolve(arg) : arg));
  console.log("smoke test passed");
}
