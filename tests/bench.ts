// deno-lint-ignore-file no-console -- the benchmark prints its numbers
/**
 * `deno task bench`: numbers, never assertions. Against the simulator on 127.0.0.1:
 * - start-up: spawn → `initialize` answered (what an MCP client waits for);
 * - the time the bridge adds to a 1,000-token streamed `ask` over reading the simulator directly;
 * - the time it adds per small call (`model_list` vs `GET /api/v1/models`), and RSS after 300 calls.
 *
 * @module
 */
import { LmStudioSim } from "./support/lmstudio_sim.ts";
import { childEnv, ROOT, RUN_FLAGS, startServer } from "./support/mcp.ts";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/stdio"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { tokens } from "./support/sim_inference.ts";
import { startInProcess } from "./support/in_process.ts";
import { eventStream } from "../lib/sse.ts";
import { openSessionStore } from "../lib/sessions.ts";

const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? "15");

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function ms(value: number): string {
  return `${value.toFixed(1)} ms`;
}

async function rssMb(pid: number | null): Promise<string> {
  if (pid === null || Deno.build.os === "windows") return "n/a";
  try {
    const out = await new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(pid)], stdout: "piped" })
      .output();
    const kb = Number(new TextDecoder().decode(out.stdout).trim());
    return Number.isFinite(kb) && kb > 0 ? `${(kb / 1024).toFixed(1)} MB` : "n/a";
  } catch {
    return "n/a (no ps)";
  }
}

async function startup(sim: LmStudioSim): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < Math.min(RUNS, 10); i++) {
    const started = performance.now();
    const server = await startServer({ env: { LM_STUDIO_URL: sim.url } });
    times.push(performance.now() - started);
    await server.close();
  }
  console.log(`start-up (spawn → initialize answered), median of ${times.length}: ${ms(median(times))}`);
  const task: number[] = [];
  for (let i = 0; i < Math.min(RUNS, 10); i++) {
    const started = performance.now();
    const transport = new StdioClientTransport({
      command: Deno.execPath(),
      args: ["task", "--quiet", `--config=${ROOT}deno.json`, "start"],
      env: await childEnv(await Deno.makeTempDir(), { LM_STUDIO_URL: sim.url }),
      cwd: ROOT,
      stderr: "pipe",
    });
    const client = new Client({ name: "bench", version: "0" });
    await client.connect(transport);
    task.push(performance.now() - started);
    await client.close();
  }
  console.log(`start-up through \`deno task start\`, median of ${task.length}: ${ms(median(task))}`);
}

async function streamedAnswer(sim: LmStudioSim): Promise<void> {
  const answer = Array.from({ length: 1000 }, (_, i) => `w${i}`).join(" ");
  if (tokens(answer).length !== 1000) throw new Error("the answer is not 1,000 tokens");
  sim.chatScript = { answer, reasoning: null };
  const body = {
    model: "qwen/qwen3-8b",
    input: "Count",
    stream: true,
    store: false,
    max_output_tokens: 2000,
  };
  const whole: number[] = [];
  const direct: number[] = [];
  const bridged: number[] = [];
  await using server = await startServer({ env: { LM_STUDIO_URL: sim.url } });
  await server.call("ask", { model: "qwen/qwen3-8b", prompt: "warm up" });
  const post = () =>
    fetch(`${sim.url}/api/v1/chat`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  for (let i = 0; i < RUNS; i++) {
    let started = performance.now();
    await (await post()).text();
    whole.push(performance.now() - started);
    started = performance.now();
    let events = 0;
    for await (const _ of eventStream((await post()).body!)) events++;
    direct.push(performance.now() - started);
    if (events < 1000) throw new Error(`only ${events} events`);
    started = performance.now();
    const result = await server.call("ask", { model: "qwen/qwen3-8b", prompt: "Count", max_tokens: 2000 });
    bridged.push(performance.now() - started);
    if (result.isError) throw new Error("ask failed");
  }
  console.log(
    `1,000-token streamed ask, median of ${RUNS}: reading the simulator directly event by event ` +
      `${ms(median(direct))} (whole body at once ${ms(median(whole))}); through the bridge (MCP stdio ` +
      `round trip included) ${ms(median(bridged))}; added ${ms(median(bridged) - median(direct))}`,
  );
}

async function smallCalls(sim: LmStudioSim): Promise<void> {
  await using server = await startServer({ env: { LM_STUDIO_URL: sim.url } });
  const direct: number[] = [];
  const bridged: number[] = [];
  for (let i = 0; i < 300; i++) {
    let started = performance.now();
    await (await fetch(`${sim.url}/api/v1/models`)).json();
    direct.push(performance.now() - started);
    started = performance.now();
    await server.call("model_list");
    bridged.push(performance.now() - started);
  }
  console.log(
    `model_list, median of 300: direct ${ms(median(direct))}, bridge ${ms(median(bridged))}, added ` +
      `${ms(median(bridged) - median(direct))} per call; server RSS after 300 calls: ${await rssMb(
        server.pid,
      )}`,
  );
}

/** The same small call over stdio and over Streamable HTTP (both real processes, loopback). */
async function httpVsStdio(sim: LmStudioSim): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--config=${ROOT}deno.json`,
      ...RUN_FLAGS,
      `${ROOT}main.ts`,
      "--http",
      "127.0.0.1:0",
    ],
    env: await childEnv(await Deno.makeTempDir(), { LM_STUDIO_URL: sim.url }),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  let url: string | undefined;
  for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
    log += text;
    url = /serving MCP at (http:\/\/\S+?\/mcp)\b/.exec(log)?.[1];
    if (url) break;
  }
  if (!url) throw new Error(`the HTTP server did not start: ${log}`);
  const client = new Client({ name: "bench", version: "0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  await using stdio = await startServer({ env: { LM_STUDIO_URL: sim.url } });
  const overHttp: number[] = [];
  const overStdio: number[] = [];
  for (let i = 0; i < 300; i++) {
    let started = performance.now();
    await client.callTool({ name: "model_list", arguments: {} });
    overHttp.push(performance.now() - started);
    started = performance.now();
    await stdio.call("model_list");
    overStdio.push(performance.now() - started);
  }
  await client.close();
  child.kill("SIGTERM");
  await child.status;
  console.log(
    `model_list, median of 300: over stdio ${ms(median(overStdio))}, over HTTP ${ms(median(overHttp))} ` +
      `(HTTP adds ${ms(median(overHttp) - median(overStdio))} per call)`,
  );
}

async function chatSends(sim: LmStudioSim): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lmstudio-mcp-bench-" });
  const db = `${dir}/sessions.db`;
  const store = openSessionStore(db);
  for (let i = 0; i < 5000; i++) {
    store.appendTurn("long", i, i === 0 ? "You are a benchmark." : null, {
      user: `question ${i} ${"q".repeat(150)}`,
      assistant: `answer ${i} ${"a".repeat(250)}`,
      reasoning: null,
      model: "qwen/qwen3-8b",
      prompt_tokens: 40,
      completion_tokens: 60,
    });
  }
  store.close();
  sim.chatScript = { answer: "ok", reasoning: null };
  await using server = await startServer({ env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: db } });
  const bridged: number[] = [];
  const direct: number[] = [];
  const fresh: number[] = [];
  await server.call("chat", { session_id: "warm", model: "qwen/qwen3-8b", message: "warm up" });
  for (let i = 0; i < RUNS; i++) {
    let started = performance.now();
    const result = await server.call("chat", { session_id: "long", message: `more ${i}` });
    bridged.push(performance.now() - started);
    if (result.isError) throw new Error("chat failed");
    const body = sim.requestsTo("POST /v1/chat/completions").at(-1)!.body;
    started = performance.now();
    const response = await fetch(`${sim.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    for await (const _ of eventStream(response.body!)) { /* read every event */ }
    direct.push(performance.now() - started);
    started = performance.now();
    await server.call("chat", { session_id: `fresh-${i}`, model: "qwen/qwen3-8b", message: "hi" });
    fresh.push(performance.now() - started);
  }
  const sent =
    (sim.requestsTo("POST /v1/chat/completions").at(-2)!.body as { messages: unknown[] }).messages.length;
  console.log(
    `chat send on a 5,000-turn session (${sent} messages fit the context and were sent), median of ${RUNS}: ` +
      `${ms(median(bridged))} through the bridge vs ${
        ms(median(direct))
      } posting the same messages directly; ` +
      `added ${
        ms(median(bridged) - median(direct))
      } (history read, trimming, locking, one committed transaction, ` +
      `MCP round trip). A send to a new session: ${ms(median(fresh))}`,
  );
  await Deno.remove(dir, { recursive: true });
}

/**
 * `ask` with `prompts`: 16 items on the simulator's 4 parallel slots against the same 16 on 1 slot (what
 * sending them one by one costs); and what delegating a folder saves the orchestrator's context.
 */
async function delegation(sim: LmStudioSim): Promise<void> {
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const qwen = sim.model("qwen/qwen3-8b")!;
  const config = qwen.loaded_instances[0]!.config as Record<string, unknown>;
  sim.chatScript = {
    reasoning: null,
    tokenDelayMs: 10,
    answer: "one two three four five six seven eight nine ten",
  };
  const prompts = Array.from({ length: 16 }, (_, i) => `item ${i}`);
  const run = async (slots: number) => {
    config.parallel = slots;
    const started = performance.now();
    const result = await server.call("ask", { model: "qwen/qwen3-8b", prompt: "Classify", prompts });
    if (result.isError) throw new Error(JSON.stringify(result.content));
    return performance.now() - started;
  };
  const single = await (async () => {
    const started = performance.now();
    await server.call("ask", { model: "qwen/qwen3-8b", prompt: "Classify item 0" });
    return performance.now() - started;
  })();
  const one = await run(1);
  const four = await run(4);
  config.parallel = 4;
  console.log(
    `ask prompts × 16: ${ms(four)} on 4 slots vs ${ms(one)} on 1 slot (${
      (one / four).toFixed(2)
    }× faster); ` +
      `one request alone: ${ms(single)}, so 16 on 4 slots ≈ ${(four / single).toFixed(1)} single requests`,
  );
  sim.chatScript = { reasoning: null, answer: "A short summary of the folder." };
  const folder = await server.call("ask", {
    model: "qwen/qwen3-8b",
    prompt: "Summarise",
    files: [`${ROOT}lib`],
    each: true,
    combine: "Merge",
  });
  const data = folder.structuredContent as {
    answer: string;
    files: { chars: number; estimated_tokens: number };
  };
  const returned = JSON.stringify(folder.content).length;
  console.log(
    `context saved on lib/ (${data.files.chars.toLocaleString("en-US")} characters, ~${
      data.files.estimated_tokens.toLocaleString("en-US")
    } tokens read by the server): the orchestrator got ${returned.toLocaleString("en-US")} characters back`,
  );
  sim.chatScript = {};
}

if (import.meta.main) {
  await using sim = LmStudioSim.start();
  // BENCH_ONLY=name runs one part: startup, stream, small, chat, delegation, http.
  const only = Deno.env.get("BENCH_ONLY");
  const parts: [string, () => Promise<void>][] = [
    ["startup", () => startup(sim)],
    ["stream", () => streamedAnswer(sim)],
    ["small", () => smallCalls(sim)],
    ["chat", () => chatSends(sim)],
    ["delegation", () => delegation(sim)],
    ["http", () => httpVsStdio(sim)],
  ];
  console.log(`lmstudio-mcp benchmark (simulator on ${sim.url}, Deno ${Deno.version.deno})`);
  for (const [name, run] of parts) {
    if (only && only !== name) continue;
    sim.chatScript = {};
    await run();
  }
}
