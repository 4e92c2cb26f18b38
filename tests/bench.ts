// deno-lint-ignore-file no-console -- the benchmark prints its numbers
/**
 * `deno task bench [--compare-reference] [--json] [--quick]`: numbers, never assertions, against the
 * simulator on 127.0.0.1.
 *
 * For lmstudio-mcp and (with `--compare-reference`) `mcp-llm-studio` 3.1.5 in the same run: cold start
 * (spawn → initialize answered, median and p95), the tool list's visible bytes, the time added per small
 * call (p50/p99 over the same direct HTTP request), resident memory after 1,000 mixed calls (and after a
 * pause), and a chat send on sessions of 10, 1,000 and 5,000 turns. For ours also: the SDK's own cold-start
 * floor and a bare Deno responder's, a 1,000-token streamed `ask` against reading the stream directly,
 * `each` on 4 parallel slots against 1, `each` over large files on a 4,096-token model whose 4 slots share
 * one KV cache (wall time, files read, at once, overflows), the longest the event loop is held while a
 * folder with a hostile `.gitignore` is read (what tests assert only as counts), and HTTP against stdio.
 *
 * A second table, "defaults", runs delegation as a user who changed nothing meets it: a model loaded at
 * 4,096 tokens with 4 parallel slots sharing one KV cache, `max_tokens` not set, over this repository's
 * `lib/` and over a folder of Chinese, Japanese and Korean text (built from tests/fixtures/tokens), alone
 * and two calls at once: files read, requests sent, the most in flight, overflows, wall time.
 * `--defaults` runs only that table.
 *
 * A third table, "pool", runs `ask` with 32 prompts on one LM Studio against two equal ones listed in
 * LM_STUDIO_URL (each loaded with 4 slots; the simulator spends the same time on every token, so the
 * ratio measures how the work is spread), and on two where one is stopped mid-job: wall time, requests
 * and answers per server, items answered twice (0), failed (0). `--pool` runs only that table.
 *
 * The reference is installed on demand into a cache folder (`npm install`, then `npm rebuild
 * better-sqlite3`, since current npm skips install scripts); without Node and npm its column is skipped.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { eventStream } from "../lib/lmstudio/sse.ts";
import { TOOL_LIST_BUDGET, visibleBytes } from "../server/tool_list.ts";
import { spawnHttpServer } from "./support/http_server.ts";
import { startInProcess } from "./support/in_process.ts";
import { LmStudioSim } from "./support/lmstudio_sim.ts";
import { cacheDir, childEnv, MAIN, ROOT, RUN_FLAGS } from "./support/mcp.ts";
import { writeReferenceDb } from "./support/reference_db.ts";
import { tokens } from "./support/sim/inference.ts";
import { withBystander } from "./support/bystander.ts";
import { random } from "./support/random.ts";
import { gatherFiles } from "../lib/files/files.ts";

const flags = parseArgs({
  args: Deno.args,
  options: {
    "compare-reference": { type: "boolean" },
    json: { type: "boolean" },
    quick: { type: "boolean" },
    defaults: { type: "boolean" },
    pool: { type: "boolean" },
  },
}).values;
const QUICK = flags.quick === true;
const COUNTS = QUICK
  ? { starts: 3, calls: 60, mixed: 100, sends: 2, turns: [10, 1000], streams: 2 }
  : { starts: 20, calls: 500, mixed: 1000, sends: 10, turns: [10, 1000, 5000], streams: 20 };
const QWEN = "qwen/qwen3-8b";
const EMBED = "text-embedding-nomic-embed-text-v1.5";
const REFERENCE = "mcp-llm-studio@3.1.5";

/** A server to measure: how to start it. */
interface Target {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
}

type Row = {
  metric: string;
  ours: number | null;
  reference: number | null;
  unit: string;
  lowerIsBetter: boolean;
};
const rows: Row[] = [];
const notes: string[] = [];
const say = (line: string) => {
  if (!flags.json) console.error(line);
};

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
const median = (values: readonly number[]) => quantile(values, 0.5);

async function rssMb(pid: number | undefined): Promise<number | null> {
  if (pid === undefined || Deno.build.os === "windows") return null;
  const out = await new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(pid)], stdout: "piped" })
    .output();
  const kb = Number(new TextDecoder().decode(out.stdout).trim());
  return Number.isFinite(kb) && kb > 0 ? Math.round(kb / 102.4) / 10 : null;
}

/** Spawn → the `initialize` reply, written and read by hand (no client library in the measurement). */
async function coldStart(target: Target, env: Record<string, string>): Promise<number> {
  const home = await Deno.makeTempDir({ prefix: "lmstudio-mcp-bench-" });
  const started = performance.now();
  const child = new Deno.Command(target.command, {
    args: [...target.args],
    env: await childEnv(home, env),
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(
    JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "bench", version: "0" },
      },
    }) + "\n",
  ));
  let text = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    if (text.includes('"id":1')) break;
  }
  const elapsed = performance.now() - started;
  await writer.close().catch(() => {});
  child.kill("SIGKILL");
  await child.status;
  await Deno.remove(home, { recursive: true }).catch(() => {});
  return elapsed;
}

async function connect(target: Target, env: Record<string, string>) {
  const home = await Deno.makeTempDir({ prefix: "lmstudio-mcp-bench-" });
  const transport = new StdioClientTransport({
    command: target.command,
    args: [...target.args],
    env: await childEnv(home, env),
    cwd: home,
    stderr: "ignore",
  });
  const client = new Client({ name: "bench", version: "0" });
  await client.connect(transport);
  return {
    client,
    pid: transport.pid ?? undefined,
    failures: 0,
    async call(name: string, args: Record<string, unknown> = {}) {
      const result = await client.callTool({ name, arguments: args });
      if (result.isError) this.failures++;
      return result;
    },
    close: async () => {
      await client.close();
      await Deno.remove(home, { recursive: true }).catch(() => {});
    },
  };
}

function record(
  metric: string,
  unit: string,
  ours: number | null,
  reference: number | null,
  lowerIsBetter = true,
) {
  rows.push({ metric, ours, reference, unit, lowerIsBetter });
}

async function compareBoth(
  sim: LmStudioSim,
  targets: { ours: Target; reference: Target | undefined },
  measure: (target: Target) => Promise<number | null | Record<string, number | null>>,
): Promise<{ ours: Record<string, number | null>; reference: Record<string, number | null> }> {
  const wrap = (value: number | null | Record<string, number | null>) =>
    typeof value === "object" && value !== null ? value : { value };
  const ours = wrap(await measure(targets.ours));
  let reference: Record<string, number | null> = {};
  if (targets.reference) {
    sim.requests.length = 0;
    reference = wrap(await measure(targets.reference));
  }
  sim.requests.length = 0;
  return { ours, reference };
}

/** Installs the reference into a cache folder on demand; undefined (with a note) when it cannot. */
async function referenceTarget(): Promise<Target | undefined> {
  const has = async (command: string) => {
    try {
      return (await new Deno.Command(command, { args: ["--version"], stdout: "null", stderr: "null" })
        .output())
        .success;
    } catch {
      return false;
    }
  };
  if (!(await has("node")) || !(await has("npm"))) {
    notes.push("Node.js or npm is missing: the reference column is skipped.");
    return undefined;
  }
  const base = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "."}/.cache`;
  const dir = `${base}/lmstudio-mcp-bench/reference-3.1.5`;
  const pkg = `${dir}/node_modules/mcp-llm-studio/package.json`;
  const npm = async (args: string[]) => {
    const out = await new Deno.Command("npm", { args, stdout: "piped", stderr: "piped" }).output();
    if (!out.success) {
      throw new Error(`npm ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).slice(-500)}`);
    }
  };
  try {
    await Deno.stat(pkg);
  } catch {
    say(`installing ${REFERENCE} into ${dir} …`);
    await Deno.mkdir(dir, { recursive: true });
    await npm(["install", "--prefix", dir, "--no-audit", "--no-fund", REFERENCE]);
    await npm(["rebuild", "--prefix", dir, "better-sqlite3"]);
  }
  const manifest = JSON.parse(await Deno.readTextFile(pkg)) as { bin?: string | Record<string, string> };
  const bin = typeof manifest.bin === "string" ? manifest.bin : Object.values(manifest.bin ?? {})[0];
  if (!bin) throw new Error(`${REFERENCE} has no bin`);
  return {
    name: "mcp-llm-studio 3.1.5",
    command: "node",
    args: [`${dir}/node_modules/mcp-llm-studio/${bin}`],
  };
}

async function main(): Promise<void> {
  if (flags.defaults) return await defaultsTable();
  if (flags.pool) return await poolTable();
  await using sim = LmStudioSim.start();
  // A long loaded context, so that the 500 KB prompts of the memory run are answered, not refused.
  const qwen = sim.model(QWEN)!;
  (qwen.loaded_instances[0]!.config as Record<string, unknown>).context_length = 262_144;
  const env = { LM_STUDIO_URL: sim.url, DENO_DIR: await cacheDir() };
  const ours: Target = {
    name: "lmstudio-mcp",
    command: Deno.execPath(),
    args: ["run", "--quiet", ...RUN_FLAGS, MAIN],
  };
  const reference = flags["compare-reference"] ? await referenceTarget() : undefined;
  const targets = { ours, reference };
  say(
    `lmstudio-mcp benchmark${
      QUICK ? " (--quick)" : ""
    }: Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} ` +
      `cores, ${Deno.build.os}/${Deno.build.arch}, simulator at ${sim.url}`,
  );

  // Cold start, with the floors: a bare SDK Server, and a bare Deno responder.
  const floorSdk: Target = {
    name: "SDK floor",
    command: Deno.execPath(),
    args: ["run", "--quiet", ...RUN_FLAGS, `${ROOT}tests/support/floors/sdk_server.ts`],
  };
  const floorBare: Target = {
    name: "bare",
    command: Deno.execPath(),
    args: ["run", "--quiet", ...RUN_FLAGS, `${ROOT}tests/support/floors/bare.ts`],
  };
  const starts = async (target: Target) => {
    await coldStart(target, env); // Warm the module cache.
    const times: number[] = [];
    for (let i = 0; i < COUNTS.starts; i++) times.push(await coldStart(target, env));
    return { p50: median(times), p95: quantile(times, 0.95) };
  };
  const start = await compareBoth(sim, targets, starts);
  const sdk = await starts(floorSdk);
  const bare = await starts(floorBare);
  record("cold start, median (spawn → initialize)", "ms", start.ours.p50!, start.reference.p50 ?? null);
  record("cold start, p95", "ms", start.ours.p95!, start.reference.p95 ?? null);
  record("  bare SDK Server on stdio (the floor)", "ms", sdk.p50!, null);
  record("  bare Deno responder", "ms", bare.p50!, null);
  notes.push(`cold start is ${(start.ours.p50! / sdk.p50!).toFixed(2)}× the bare SDK Server's`);

  // Visible tool list bytes.
  const bytes = await compareBoth(sim, targets, async (target) => {
    const server = await connect(target, env);
    try {
      return visibleBytes((await server.client.listTools()).tools).total;
    } finally {
      await server.close();
    }
  });
  record(
    `tools/list, bytes a model reads (budget ${TOOL_LIST_BUDGET})`,
    "B",
    bytes.ours.value!,
    bytes.reference.value ?? null,
  );

  // Time added per small call: model_list against the same HTTP request made directly.
  const perCall = await compareBoth(sim, targets, async (target) => {
    const server = await connect(target, env);
    try {
      sim.requests.length = 0;
      await server.call("model_list");
      const path = sim.requests[0]?.path ?? "/api/v1/models";
      const direct: number[] = [];
      const bridged: number[] = [];
      for (let i = 0; i < COUNTS.calls; i++) {
        let t = performance.now();
        await (await fetch(`${sim.url}${path}`)).text();
        direct.push(performance.now() - t);
        t = performance.now();
        await server.call("model_list");
        bridged.push(performance.now() - t);
      }
      return { p50: median(bridged) - median(direct), p99: quantile(bridged, 0.99) - quantile(direct, 0.99) };
    } finally {
      await server.close();
    }
  });
  record(
    `added per model_list call, p50 (${COUNTS.calls} calls)`,
    "ms",
    perCall.ours.p50!,
    perCall.reference.p50 ?? null,
  );
  record("added per model_list call, p99", "ms", perCall.ours.p99!, perCall.reference.p99 ?? null);
  // The protocol's own cost per call: a bare SDK Server answering a trivial tool, same client, same pipes.
  const floor = await connect(floorSdk, env);
  try {
    const pings: number[] = [];
    for (let i = 0; i < COUNTS.calls; i++) {
      const t = performance.now();
      await floor.call("ping");
      pings.push(performance.now() - t);
    }
    record("  a bare SDK Server's trivial tool call, p50 (the floor)", "ms", median(pings), null);
  } finally {
    await floor.close();
  }

  // Resident memory after mixed calls, some with 500 KB prompts, and after a pause.
  const big = "lorem ipsum ".repeat(43_000); // ~500 KB
  const texts = Array.from({ length: 20 }, (_, i) => `text number ${i}`);
  const memory = await compareBoth(sim, targets, async (target) => {
    const dir = await Deno.makeTempDir({ prefix: "lmstudio-mcp-bench-" });
    const server = await connect(target, { ...env, MCP_SESSIONS_DB: `${dir}/sessions.db` });
    try {
      sim.chatScript = { reasoning: null, answer: "A short answer." };
      const start = await rssMb(server.pid);
      for (let i = 0; i < COUNTS.mixed; i++) {
        switch (i % 5) {
          case 0:
            await server.call("model_list");
            break;
          case 1:
            await server.call("ask", { model: QWEN, prompt: i % 10 === 1 ? big : `question ${i}` });
            break;
          case 2:
            await server.call("chat", {
              action: "send",
              session_id: `s${i % 20}`,
              model: QWEN,
              message: `message ${i}`,
            });
            break;
          case 3:
            await server.call("embed", { model: EMBED, input: texts });
            break;
          default:
            await server.call("ask", { model: QWEN, prompt: `another ${i}` });
        }
        if (i % 100 === 99) sim.requests.length = 0;
      }
      const after = await rssMb(server.pid);
      await new Promise((r) => setTimeout(r, 2000));
      const later = await rssMb(server.pid);
      if (server.failures) notes.push(`${target.name}: ${server.failures} of the mixed calls failed`);
      return { start, after, later };
    } finally {
      sim.chatScript = {};
      await server.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  });
  record("RSS after initialize", "MB", memory.ours.start ?? null, memory.reference.start ?? null);
  record(
    `RSS after ${COUNTS.mixed} mixed calls (500 KB prompts)`,
    "MB",
    memory.ours.after ?? null,
    memory.reference.after ?? null,
  );
  record("  … and 2 s later", "MB", memory.ours.later ?? null, memory.reference.later ?? null);

  // A chat send on long sessions (the reference's own history layout, which both read), with a usual
  // loaded context of 8,192 tokens: each server sends what it decides fits.
  (qwen.loaded_instances[0]!.config as Record<string, unknown>).context_length = 8192;
  for (const turns of COUNTS.turns) {
    const sends = await compareBoth(sim, targets, async (target) => {
      const dir = await Deno.makeTempDir({ prefix: "lmstudio-mcp-bench-" });
      const rows: [string, "system" | "user" | "assistant", string, number][] = [[
        "long",
        "system",
        "Be brief.",
        0,
      ]];
      for (let i = 0; i < turns; i++) {
        rows.push(["long", "user", `question ${i} ${"q".repeat(150)}`, i], [
          "long",
          "assistant",
          `answer ${i} ${"a".repeat(250)}`,
          i,
        ]);
      }
      await writeReferenceDb(`${dir}/sessions.db`, rows);
      const server = await connect(target, { ...env, MCP_SESSIONS_DB: `${dir}/sessions.db` });
      try {
        sim.chatScript = { reasoning: null, answer: "ok" };
        await server.call("chat", { action: "send", session_id: "long", model: QWEN, message: "warm" });
        const times: number[] = [];
        for (let i = 0; i < COUNTS.sends; i++) {
          const t = performance.now();
          await server.call("chat", {
            action: "send",
            session_id: "long",
            model: QWEN,
            message: `next ${i}`,
          });
          times.push(performance.now() - t);
        }
        if (server.failures) {
          notes.push(`${target.name}: ${server.failures} chat sends failed at ${turns} turns`);
        }
        return median(times);
      } finally {
        sim.chatScript = {};
        await server.close();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    });
    record(
      `chat send on a ${turns.toLocaleString("en-US")}-turn session`,
      "ms",
      sends.ours.value!,
      sends.reference.value ?? null,
    );
  }

  // Ours only: streaming, parallel each, HTTP.
  await streamed(sim, ours, env);
  await parallelEach(sim);
  await fanOutFits();
  await eventLoopHolds();
  await httpVsStdio(env);

  if (flags.json) {
    console.log(JSON.stringify(
      {
        machine: {
          cores: navigator.hardwareConcurrency,
          os: Deno.build.os,
          arch: Deno.build.arch,
          deno: Deno.version.deno,
        },
        quick: QUICK,
        reference: reference?.name ?? null,
        rows,
        notes,
      },
      null,
      2,
    ));
    return;
  }
  const fmt = (v: number | null) =>
    v === null ? "—" : Number.isInteger(v) || v >= 100 ? v.toFixed(0) : v.toFixed(2);
  const header = ["", "lmstudio-mcp", ...(reference ? ["mcp-llm-studio 3.1.5", "ratio"] : [])];
  const lines = rows.map((r) => [
    `${r.metric} (${r.unit})`,
    fmt(r.ours),
    ...(reference
      ? [fmt(r.reference), r.ours !== null && r.reference ? `${(r.ours / r.reference).toFixed(2)}×` : ""]
      : []),
  ]);
  const widths = header.map((_, i) => Math.max(header[i]!.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => i ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)).join(" | ")} |`;
  console.log(line(header));
  console.log(`| ${widths.map((w, i) => (i ? "-".repeat(w - 1) + ":" : "-".repeat(w))).join(" | ")} |`);
  for (const l of lines) console.log(line(l));
  for (const note of notes) console.log(`- ${note}`);
  console.log("");
  await defaultsTable();
  console.log("");
  await poolTable();
}

/** One row of the pool table. */
interface PoolRow {
  readonly run: string;
  readonly ms: number;
  readonly perHost: string;
  readonly answered: number;
  readonly twice: number;
  readonly failed: number;
}

/**
 * `ask` with 32 prompts over one server, two equal servers, and two where one stops mid-job (see the
 * module's comment). Each server: the model loaded at 8,192 tokens with 4 slots, 20 answer tokens at a
 * fixed time per token.
 */
async function poolTable(): Promise<void> {
  const tokenMs = QUICK ? 10 : 25;
  const answer = Array.from({ length: 20 }, (_, i) => `w${i}`).join(" ");
  const prompts = Array.from({ length: 32 }, (_, i) => `item-${String(i).padStart(2, "0")}`);
  const out: PoolRow[] = [];
  const start = () => {
    const sim = LmStudioSim.start();
    const config = sim.model(QWEN)!.loaded_instances[0]!.config as Record<string, unknown>;
    config.context_length = 8192;
    config.parallel = 4;
    sim.chatScript = { reasoning: null, tokenDelayMs: tokenMs, answer };
    return sim;
  };
  const runs: { run: string; servers: number; stopAfter?: number }[] = [
    { run: "one server", servers: 1 },
    { run: "two equal servers", servers: 2 },
    { run: "two, the first stopped mid-job", servers: 2, stopAfter: 4 },
  ];
  for (const run of runs) {
    const sims = Array.from({ length: run.servers }, start);
    try {
      await using server = await startInProcess({ env: { LM_STUDIO_URL: sims.map((s) => s.url).join(",") } });
      const chats = (sim: LmStudioSim) => sim.requestsTo("POST /api/v1/chat");
      let stopped: Promise<void> | undefined;
      if (run.stopAfter !== undefined) {
        const first = sims[0]!;
        first.chatScript = {
          ...first.chatScript,
          onEnd: () => {
            if (chats(first).filter((r) => r.endedAt !== undefined).length >= run.stopAfter!) {
              stopped ??= first.close();
            }
          },
        };
      }
      const t = performance.now();
      const result = await server.call("ask", { model: QWEN, prompt: "Classify", prompts, max_tokens: 100 });
      const ms = performance.now() - t;
      await stopped;
      const data = result.structuredContent as {
        items?: { error: string | null }[];
        fanout?: {
          at_once: number;
          hosts?: { host: string; requests: number; answers: number; at_once: number }[];
        };
      } | undefined;
      const times = new Map<string, number>();
      for (const sim of sims) {
        for (const r of chats(sim)) {
          if (r.endedAt === undefined || r.abortedAt !== undefined) continue;
          const item = /item-\d\d/.exec(JSON.stringify(r.body))?.[0] ?? "?";
          times.set(item, (times.get(item) ?? 0) + 1);
        }
      }
      const hosts = data?.fanout?.hosts ??
        [{
          host: "the server",
          requests: chats(sims[0]!).length,
          answers: 32,
          at_once: data?.fanout?.at_once ?? 0,
        }];
      out.push({
        run: run.run,
        ms,
        perHost: hosts.map((h, i) => `#${i + 1}: ${h.requests}/${h.answers}/${h.at_once}`).join(", "),
        answered: (data?.items ?? []).filter((i) => i.error === null).length,
        twice: [...times.values()].filter((n) => n > 1).length,
        failed: (data?.items ?? []).filter((i) => i.error !== null).length + (result.isError ? 1 : 0),
      });
    } finally {
      for (const sim of sims) await sim.close();
    }
  }
  if (flags.json) {
    console.log(JSON.stringify({ pool: out }, null, 2));
    return;
  }
  console.log(
    `Pool: ask with 32 prompts, model loaded at 8,192 tokens with 4 slots on each server, ${tokenMs} ms per ` +
      "token, 20-token answers",
  );
  console.log(
    "| run | wall ms | speed-up | per server: requests/answers/at once | answered | twice | failed |",
  );
  console.log("|---|--:|--:|---|--:|--:|--:|");
  for (const r of out) {
    console.log(
      `| ${r.run} | ${r.ms.toFixed(0)} | ${
        (out[0]!.ms / r.ms).toFixed(2)
      }× | ${r.perHost} | ${r.answered} | ${r.twice} | ${r.failed} |`,
    );
  }
}

/** One row of the defaults table. */
interface DefaultsRow {
  readonly call: string;
  readonly found: number;
  readonly read: number;
  readonly requests: number;
  readonly atOnce: number;
  readonly overflows: number;
  readonly failed: number;
  readonly ms: number;
}

/** A folder of Chinese, Japanese and Korean text: 12 files of 600 to 7,000 characters, lines of ~80. */
async function cjkFolder(dir: string): Promise<void> {
  const samples = await Promise.all(
    ["chinese", "japanese", "korean"].map((name) =>
      Deno.readTextFile(new URL(`./fixtures/tokens/${name}.md`, import.meta.url))
    ),
  );
  const sizes = [600, 1200, 2500, 7000];
  for (const [i, sample] of samples.entries()) {
    for (const [j, size] of sizes.entries()) {
      let text = "";
      for (let n = 0; text.length < size; n++) text += `${n + 1}. ${sample}\n`;
      await Deno.writeTextFile(`${dir}/${["zh", "ja", "ko"][i]}-${j}.md`, text.slice(0, size));
    }
  }
}

/**
 * Delegation at LM Studio's defaults (see the module's comment): each call on a fresh in-process server
 * against one simulator whose model is loaded at 4,096 tokens with 4 slots sharing one cache.
 */
async function defaultsTable(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lmstudio-mcp-bench-cjk-" });
  const lib = new URL("../lib", import.meta.url).pathname;
  const out: DefaultsRow[] = [];
  try {
    await cjkFolder(dir);
    const count = async (path: string) => {
      let n = 0;
      for await (const entry of Deno.readDir(path)) if (entry.isFile) n++;
      return n;
    };
    const found = { lib: await count(lib), cjk: await count(dir) };
    const runs: { call: string; args: Record<string, unknown>[] }[] = [
      { call: "ask files: lib/", args: [{ files: [lib] }] },
      { call: "ask files: lib/, each", args: [{ files: [lib], each: true }] },
      { call: "ask files: CJK folder", args: [{ files: [dir] }] },
      { call: "ask files: CJK folder, each", args: [{ files: [dir], each: true }] },
      {
        call: "two at once: lib/ and CJK each",
        args: [{ files: [lib] }, { files: [dir], each: true }],
      },
    ];
    for (const run of runs) {
      await using sim = LmStudioSim.start();
      const config = sim.model(QWEN)!.loaded_instances[0]!.config as Record<string, unknown>;
      config.context_length = 4096;
      config.parallel = 4;
      sim.chatScript = { reasoning: null, tokenDelayMs: 2, answer: "word ".repeat(60).trim() };
      await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
      const t = performance.now();
      const results = await Promise.all(
        run.args.map((args) =>
          server.call("ask", { model: QWEN, prompt: "Summarise what this is about", ...args })
        ),
      );
      const ms = performance.now() - t;
      let read = 0;
      let overflows = 0;
      let failed = 0;
      for (const result of results) {
        const data = result.structuredContent as {
          items?: { error: string | null }[];
          files?: { read: { path: string }[] };
        } | undefined;
        read += new Set((data?.files?.read ?? []).map((f) => f.path.replace(/ \(lines .*$/, ""))).size;
        const errors = [
          ...(data?.items ?? []).map((i) => i.error ?? ""),
          ...(result.isError ? [JSON.stringify(result.content)] : []),
        ];
        overflows += errors.filter((e) => /does not fit|exceeded|greater than the context/i.test(e)).length;
        failed += errors.filter(Boolean).length;
      }
      out.push({
        call: run.call,
        found: run.args.reduce((n, a) => n + ((a.files as string[])[0] === lib ? found.lib : found.cjk), 0),
        read,
        requests: sim.requestsTo("POST /api/v1/chat").length +
          sim.requestsTo("POST /v1/chat/completions").length,
        atOnce: sim.peakInFlight.get(QWEN) ?? 0,
        overflows: Math.max(overflows, sim.contextExceeded),
        failed,
        ms,
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  if (flags.json) {
    console.log(JSON.stringify({ defaults: out }, null, 2));
    return;
  }
  console.log(
    "Defaults: model loaded at 4,096 tokens, parallel 4, one shared KV cache, max_tokens not set",
  );
  console.log("| call | files read | requests | at once | overflows | failed | wall ms |");
  console.log("|---|--:|--:|--:|--:|--:|--:|");
  for (const r of out) {
    console.log(
      `| ${r.call} | ${r.read} of ${r.found} | ${r.requests} | ${r.atOnce} | ${r.overflows} | ${r.failed} | ${
        r.ms.toFixed(0)
      } |`,
    );
  }
}

async function streamed(sim: LmStudioSim, ours: Target, env: Record<string, string>): Promise<void> {
  const answer = Array.from({ length: 1000 }, (_, i) => `w${i}`).join(" ");
  if (tokens(answer).length !== 1000) throw new Error("the answer is not 1,000 tokens");
  const body = { model: QWEN, input: "Count", stream: true, store: false, max_output_tokens: 2000 };
  const server = await connect(ours, env);
  try {
    // At the simulator's full speed (every token at once), then at 1,000 tokens/s (faster than local
    // models generate), where what the bridge adds per token is measured against real pacing.
    for (
      const [label, tokenDelayMs, runs] of [["", 0, COUNTS.streams], [
        " at 1,000 tokens/s",
        1,
        QUICK ? 1 : 5,
      ]] as const
    ) {
      sim.chatScript = { answer, reasoning: null, tokenDelayMs };
      await server.call("ask", { model: QWEN, prompt: "warm up", max_tokens: 2000 });
      const direct: number[] = [];
      const bridged: number[] = [];
      for (let i = 0; i < runs; i++) {
        let t = performance.now();
        const reply = await fetch(`${sim.url}/api/v1/chat`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        for await (const event of eventStream(reply.body!)) JSON.parse(event.data); // As the bridge reads them.
        direct.push(performance.now() - t);
        t = performance.now();
        await server.call("ask", { model: QWEN, prompt: "Count", max_tokens: 2000 });
        bridged.push(performance.now() - t);
      }
      record(`streamed 1,000-token ask${label}, through the bridge`, "ms", median(bridged), null);
      record("  the same stream read directly", "ms", median(direct), null);
      notes.push(
        `a streamed ask${label} is ${
          (median(bridged) / median(direct)).toFixed(3)
        }× reading its stream directly`,
      );
    }
  } finally {
    sim.chatScript = {};
    await server.close();
  }
}

async function parallelEach(sim: LmStudioSim): Promise<void> {
  const config = sim.model(QWEN)!.loaded_instances[0]!.config as Record<string, unknown>;
  sim.chatScript = {
    reasoning: null,
    tokenDelayMs: 10,
    answer: "one two three four five six seven eight nine ten",
  };
  const prompts = Array.from({ length: 16 }, (_, i) => `item ${i}`);
  const run = async (slots: number) => {
    config.parallel = slots;
    // A fresh server each time: the model catalogue (and so the slot count) is cached for 2 s.
    await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
    const t = performance.now();
    // Answers of ten words: a max_tokens that lets 4 run at once within the 8,192-token context.
    const result = await server.call("ask", { model: QWEN, prompt: "Classify", prompts, max_tokens: 100 });
    if (result.isError) throw new Error(JSON.stringify(result.content));
    return performance.now() - t;
  };
  const one = await run(1);
  const four = await run(4);
  config.parallel = 4;
  sim.chatScript = {};
  record("ask prompts × 16 on 4 parallel slots", "ms", four, null);
  record("  the same on 1 slot", "ms", one, null);
  notes.push(`each/prompts on 4 slots: ${(one / four).toFixed(2)}× faster than one at a time`);
}

/**
 * `each` over large files on a model loaded at 4,096 tokens with 4 parallel slots, where the requests in
 * flight share one KV cache (as LM Studio allocates them): wall time, files read, how many ran at once,
 * and overflows (requests LM Studio failed with "Context size has been exceeded." or an input overflow).
 */
async function fanOutFits(): Promise<void> {
  await using sim = LmStudioSim.start();
  const config = sim.model(QWEN)!.loaded_instances[0]!.config as Record<string, unknown>;
  config.context_length = 4096;
  config.parallel = 4;
  const dir = await Deno.makeTempDir({ prefix: "lmstudio-mcp-bench-" });
  try {
    // 12 files of 2,000 to 5,500 characters (each fits the context alone), and 4 of 8,000 to 14,000.
    const sizes = [
      2000,
      2300,
      2700,
      3000,
      3300,
      3700,
      4000,
      4300,
      4700,
      5000,
      5300,
      5500,
      8000,
      10_000,
      12_000,
      14_000,
    ];
    for (const [i, size] of sizes.entries()) {
      await Deno.writeTextFile(
        `${dir}/file${String(i).padStart(2, "0")}.md`,
        "lorem ipsum dolor ".repeat(size / 18 + 1).slice(0, size),
      );
    }
    sim.chatScript = { reasoning: null, tokenDelayMs: 5, answer: "word ".repeat(60).trim() };
    for (const maxTokens of [2048, 512]) {
      await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
      const before = sim.contextExceeded;
      const t = performance.now();
      const result = await server.call("ask", {
        model: QWEN,
        prompt: "Summarise this file",
        files: [dir],
        each: true,
        max_tokens: maxTokens,
      });
      const wall = performance.now() - t;
      const data = result.structuredContent as {
        items?: { error: string | null }[];
        files?: { read: unknown[] };
        fanout?: { at_once: number };
      };
      const overflows = (data.items ?? []).filter((i) => /does not fit|exceeded/.test(i.error ?? "")).length;
      const answered = (data.items ?? []).filter((i) => i.error === null).length;
      const label =
        `each over ${sizes.length} large files, 4,096-token model, 4 slots, max_tokens ${maxTokens}`;
      record(label, "ms", wall, null);
      record(`  files read (of ${sizes.length})`, "files", data.files?.read.length ?? 0, null, false);
      record("  answered", "items", answered, null, false);
      record("  ran at once", "requests", data.fanout?.at_once ?? 0, null, false);
      record("  overflows", "requests", overflows + (sim.contextExceeded - before), null);
    }
  } finally {
    sim.chatScript = {};
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * How long reading a folder whose `.gitignore` holds 2,000 lines built to backtrack holds the event loop
 * (the longest gap a 5 ms bystander timer sees, median and worst of a few runs), and how many turns the
 * bystander got: the tests assert only that it got many (a count), these are the milliseconds.
 */
async function eventLoopHolds(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lmstudio-mcp-bench-" });
  try {
    await Deno.mkdir(`${dir}/.git`);
    await Deno.mkdir(`${dir}/src`);
    const rng = random(20261128);
    const lines = Array.from({ length: 2_000 }, () => `${"*a".repeat(5 + Math.floor(rng() * 20))}*b`);
    await Deno.writeTextFile(`${dir}/.gitignore`, `${lines.join("\n")}\nsecret.txt\n`);
    for (let i = 0; i < 200; i++) {
      await Deno.writeTextFile(`${dir}/src/${"a".repeat(60 + (i % 50))}${i}`, "x\n");
    }
    const gaps: number[] = [];
    const turns: number[] = [];
    for (let run = 0; run < (QUICK ? 2 : 5); run++) {
      const measured = await withBystander(() =>
        gatherFiles(["."], { base: dir, roots: [dir], maxFileChars: 100_000, maxTotalChars: 10_000_000 })
          .catch((error: unknown) => error)
      );
      gaps.push(measured.worstGapMs);
      turns.push(measured.turns);
    }
    record("event loop held by a hostile .gitignore walk, median", "ms", median(gaps), null);
    record("  worst", "ms", Math.max(...gaps), null);
    record("  bystander turns during the walk, median", "turns", median(turns), null, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function httpVsStdio(env: Record<string, string>): Promise<void> {
  await using server = await spawnHttpServer({ env });
  const http = new Client({ name: "bench", version: "0" });
  await http.connect(new StreamableHTTPClientTransport(new URL(server.url)));
  const stdio = await connect({
    name: "ours",
    command: Deno.execPath(),
    args: ["run", "--quiet", ...RUN_FLAGS, MAIN],
  }, env);
  const overHttp: number[] = [];
  const overStdio: number[] = [];
  for (let i = 0; i < COUNTS.calls; i++) {
    let t = performance.now();
    await http.callTool({ name: "model_list", arguments: {} });
    overHttp.push(performance.now() - t);
    t = performance.now();
    await stdio.call("model_list");
    overStdio.push(performance.now() - t);
  }
  await http.close();
  await stdio.close();
  record("model_list over Streamable HTTP, p50", "ms", median(overHttp), null);
  record("  over stdio, p50", "ms", median(overStdio), null);
}

if (import.meta.main) await main();
