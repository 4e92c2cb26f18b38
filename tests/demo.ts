// deno-lint-ignore-file no-console -- the demo prints what a user would see
/**
 * `deno task demo`: starts the LM Studio simulator and the real server, then drives the server as an
 * MCP client does and prints what a user would see.
 *
 * @module
 */
import { LmStudioSim } from "./support/lmstudio_sim.ts";
import { startServer } from "./support/mcp.ts";
import type { CallToolResult } from "../server/sdk.ts";

const BOLD = Deno.noColor ? ["", ""] : ["\x1b[1m", "\x1b[0m"];

function show(title: string, args: Record<string, unknown>, result: CallToolResult, progress: string[]) {
  console.log(`\n${BOLD[0]}→ ${title}(${JSON.stringify(args)})${BOLD[1]}`);
  for (const line of progress) console.log(`  ⋯ ${line}`);
  for (const block of result.content) {
    if (block.type === "text") console.log(block.text.replace(/^/gm, result.isError ? "  ✗ " : "  "));
  }
}

async function main(): Promise<void> {
  await using sim = LmStudioSim.start({
    catalog: { "ibm/granite-4-micro": 2_279_145_003 },
    loadDelayMs: 1200,
    downloadSteps: 5,
  });
  console.log(`LM Studio simulator on ${sim.url}; starting lmstudio-mcp on stdio…`);
  const started = performance.now();
  await using server = await startServer({
    env: {
      LM_STUDIO_URL: sim.url,
      LM_STUDIO_DOWNLOAD_POLL_INTERVAL_MS: "300",
      LM_STUDIO_HEARTBEAT_MS: "500",
      MCP_SESSIONS_DB: ":memory:",
    },
  });
  const { tools } = await server.client.listTools();
  console.log(
    `Connected in ${Math.round(performance.now() - started)} ms; tools: ${
      tools.map((t) => t.name).join(", ")
    }`,
  );
  const steps: [string, Record<string, unknown>][] = [
    ["model_list", {}],
    ["model_download", { model: "ibm/granite-4-micro" }],
    ["model_load", { model: "ibm/granite-4-micro", context_length: 8192 }],
    ["model_list", { loaded_only: true }],
    ["model_unload", { model: "ibm/granite-4-micro" }],
    ["model_unload", { model: "ibm/granite-4-micro" }],
    ["ask", { model: "qwen/qwen3-8b", prompt: "Why is the sky blue? One sentence.", reasoning: "on" }],
    ["ask", {
      model: "qwen/qwen3-8b",
      prompt: "Capital of France and its population?",
      json_schema: {
        type: "object",
        properties: { city: { type: "string" }, population: { type: "integer" } },
        required: ["city", "population"],
      },
    }],
    ["embed", { model: "text-embedding-nomic-embed-text-v1.5", input: ["red", "green", "blue", "cyan"] }],
    ["chat", {
      session_id: "demo",
      model: "qwen/qwen3-8b",
      system: "You are terse.",
      message: "Name a prime number.",
    }],
    ["chat", { session_id: "demo", message: "And the next one?" }],
    ["chat", { action: "list" }],
    ["chat", { action: "history", session_id: "demo" }],
  ];
  for (const [name, args] of steps) {
    if (name === "chat") sim.chatScript = { reasoning: null };
    if (name === "ask") {
      sim.chatScript = args.json_schema
        ? { json: { city: "Paris", population: 2_102_650 }, reasoning: null }
        : {
          tokenDelayMs: 40,
          reasoning: "Sunlight scatters off air molecules; shorter wavelengths scatter more (Rayleigh).",
          answer: "Air molecules scatter short blue wavelengths of sunlight far more than red ones, so " +
            "blue light reaches our eyes from every part of the sky.",
        };
    }
    const progress: string[] = [];
    const result = await server.client.callTool({ name, arguments: args }, {
      onprogress: (p) => progress.push(p.message ?? `${p.progress}`),
    }) as CallToolResult;
    show(name, args, result, progress);
  }
}

if (import.meta.main) await main();
