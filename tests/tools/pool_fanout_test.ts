/**
 * each/prompts over several LM Studio servers (simulators on different loopback ports): requests on
 * every server where the model is loaded, each within its own width and KV budget; a server that fails
 * mid-job is marked down and its unfinished requests move to the others (every item answered once, none
 * twice); a server down at start is skipped with a note; cancelling stops the requests on every server.
 */
import assert from "node:assert/strict";
import { LmStudioSim, type RecordedRequest, type SimModel, slottedModel } from "../support/lmstudio_sim.ts";
import { startInProcess } from "../support/in_process.ts";
import { textOf } from "../support/mcp.ts";
import { until } from "../support/wait.ts";
import type { CallToolResult } from "../../server/sdk.ts";
import { pathToFileURL } from "node:url";
import { tempDir } from "../support/temp.ts";

const KEY = "m/pool";

function llm(options: { parallel?: number; context?: number; loaded?: boolean } = {}): SimModel {
  const model = slottedModel(KEY, options.parallel ?? 2);
  model.loaded_instances[0]!.config.context_length = options.context ?? 8192;
  if (options.loaded === false) model.loaded_instances = [];
  return model;
}

const name = (url: string) => new URL(url).host;
const chats = (sim: LmStudioSim) => sim.requestsTo("POST /api/v1/chat");
const allText = (result: CallToolResult) =>
  result.content.flatMap((block) => block.type === "text" ? [block.text] : []).join("\n");
const prompts = (n: number) => Array.from({ length: n }, (_, i) => `item-${String(i).padStart(2, "0")}`);
/** Which item a request carried. */
const itemOf = (r: RecordedRequest) => /item-\d\d/.exec(JSON.stringify(r.body))?.[0];

type Fanout = {
  items: { item: string; answer: string | null; error: string | null }[];
  fanout: {
    at_once: number;
    notes?: string[];
    hosts?: {
      host: string;
      requests: number;
      answers: number;
      at_once: number;
      failed?: string;
      moved?: number;
    }[];
  };
};

/** How often each item was answered in full, over every server. */
function answeredTimes(sims: LmStudioSim[]): Map<string, number> {
  const times = new Map<string, number>();
  for (const sim of sims) {
    for (const r of chats(sim)) {
      if (r.endedAt === undefined || r.abortedAt !== undefined) continue;
      const item = itemOf(r)!;
      times.set(item, (times.get(item) ?? 0) + 1);
    }
  }
  return times;
}

Deno.test("pool fan-out: prompts go to every server where the model is loaded, each within its own width", async () => {
  await using a = LmStudioSim.start({ models: [llm({ parallel: 2 })] });
  await using b = LmStudioSim.start({ models: [llm({ parallel: 3 })] });
  await using c = LmStudioSim.start({ models: [llm({ loaded: false })] });
  for (const sim of [a, b]) {
    sim.chatScript = { reasoning: null, tokenDelayMs: 5, answer: "one two three four" };
  }
  await using server = await startInProcess({ env: { LM_STUDIO_URL: [a.url, b.url, c.url].join(",") } });
  const result = await server.call("ask", {
    model: KEY,
    prompt: "Say",
    prompts: prompts(20),
    max_tokens: 50,
  });
  assert.equal(result.isError, undefined, textOf(result));
  const data = result.structuredContent as Fanout;
  assert.ok(data.items.every((i) => i.error === null && i.answer === "one two three four"));
  const hosts = data.fanout.hosts!;
  assert.deepEqual(hosts.map((h) => h.host), [name(a.url), name(b.url)]);
  assert.equal(hosts.reduce((n, h) => n + h.requests, 0), 20);
  assert.equal(hosts.reduce((n, h) => n + h.answers, 0), 20);
  assert.ok(hosts.every((h) => h.requests > 0), "both servers took requests");
  assert.ok(hosts[0]!.at_once <= 2 && hosts[1]!.at_once <= 3, "each within its own width");
  assert.ok((a.peakInFlight.get(KEY) ?? 0) <= 2 && (b.peakInFlight.get(KEY) ?? 0) <= 3);
  assert.equal(chats(c).length, 0, "not loaded on c: nothing sent there");
  assert.match(
    allText(result),
    new RegExp(`Servers: ${name(a.url)} \\d+ requests?, \\d+ answers?, [12] at once; ${name(b.url)} `),
  );
  assert.match(
    allText(result),
    new RegExp(`${name(c.url)} has ${KEY} downloaded but not loaded: model_load it there`),
  );
  assert.deepEqual([...answeredTimes([a, b]).values()].filter((n) => n !== 1), [], "each answered once");
});

Deno.test("pool fan-out: each server's own KV budget bounds what runs on it at once", async () => {
  // a: 4 slots in 4,096 tokens; b: 4 slots in 32,768. Each item needs ~1,700 tokens (prompt + max_tokens).
  await using a = LmStudioSim.start({ models: [llm({ parallel: 4, context: 4096 })] });
  await using b = LmStudioSim.start({ models: [llm({ parallel: 4, context: 32768 })] });
  for (const sim of [a, b]) sim.chatScript = { reasoning: null, tokenDelayMs: 5, answer: "ok ok ok" };
  await using server = await startInProcess({ env: { LM_STUDIO_URL: `${a.url},${b.url}` } });
  const long = prompts(12).map((p) => `${p} ${"word ".repeat(300)}`);
  const result = await server.call("ask", { model: KEY, prompt: "Sum up", prompts: long, max_tokens: 1000 });
  assert.equal(result.isError, undefined, textOf(result));
  const hosts = (result.structuredContent as Fanout).fanout.hosts!;
  assert.ok(hosts[0]!.at_once <= 2, `a fits two at once in 4,096 tokens, ran ${hosts[0]!.at_once}`);
  assert.equal(a.contextExceeded + b.contextExceeded, 0, "no shared cache overflowed");
  assert.equal(hosts[0]!.answers + hosts[1]!.answers, 12);
});

Deno.test("pool fan-out: a server that fails mid-job is marked down; its requests move, answered once", async () => {
  for (const failure of ["refused", "reset", "5xx"] as const) {
    await using a = LmStudioSim.start({ models: [llm({ parallel: 2 })] });
    await using b = LmStudioSim.start({ models: [llm({ parallel: 2 })] });
    const script = { reasoning: null, tokenDelayMs: 10, answer: "alpha beta gamma delta" };
    a.chatScript = { ...script };
    b.chatScript = { ...script };
    await using server = await startInProcess({ env: { LM_STUDIO_URL: `${a.url},${b.url}` } });
    const call = server.call("ask", { model: KEY, prompt: "Say", prompts: prompts(16), max_tokens: 50 });
    // Once a has answered one request, it fails.
    await until(() => chats(a).some((r) => r.endedAt !== undefined), "a to answer one request");
    if (failure === "refused") await a.close(); // Its streams in flight end; then nothing listens.
    else if (failure === "reset") a.chatScript = { ...script, fault: "drop", faultAfter: 1 };
    else {
      a.fault("POST /api/v1/chat", {
        status: 500,
        body: { error: { type: "internal_error", message: "engine died" } },
      });
      a.chatScript = { ...script, fault: "drop", faultAfter: 1 };
    }
    const result = await call;
    assert.equal(result.isError, undefined, `${failure}: ${textOf(result)}`);
    const data = result.structuredContent as Fanout;
    assert.deepEqual(data.items.filter((i) => i.error !== null), [], failure);
    assert.equal(data.items.length, 16);
    const times = answeredTimes([a, b]);
    assert.equal(times.size, 16, `${failure}: every item answered`);
    assert.deepEqual([...times.values()].filter((n) => n !== 1), [], `${failure}: none twice`);
    const [onA, onB] = data.fanout.hosts!;
    assert.ok(onA!.failed, `${failure}: a's failure is reported`);
    assert.equal(onA!.answers + onB!.answers, 16);
    assert.match(allText(result), new RegExp(`${name(a.url)} failed mid-job .* went to the other servers`));
    // a is down for its back-off, even though it still lists its models: the next call sends it nothing.
    assert.equal((await server.call("model_list")).isError, undefined);
    const before = chats(a).length;
    const next = await server.call("ask", {
      model: KEY,
      prompt: "again",
      prompts: prompts(4),
      max_tokens: 50,
    });
    assert.equal(next.isError, undefined, textOf(next));
    assert.equal(chats(a).length, before, `${failure}: a skipped while down`);
    assert.match(allText(next), new RegExp(`${name(a.url)} was skipped: it failed`));
  }
});

Deno.test("pool fan-out: a server down at start is skipped with a note; every server down fails clearly", async () => {
  await using a = LmStudioSim.start({ models: [llm()] });
  const gone = LmStudioSim.start();
  const down = gone.url;
  await gone.close();
  await using b = LmStudioSim.start({ models: [llm()] });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: [a.url, down, b.url].join(",") } });
  const result = await server.call("ask", { model: KEY, prompt: "Say", prompts: prompts(6), max_tokens: 50 });
  assert.equal(result.isError, undefined, textOf(result));
  const data = result.structuredContent as Fanout;
  assert.ok(data.items.every((i) => i.error === null));
  assert.deepEqual(data.fanout.hosts!.map((h) => h.host), [name(a.url), name(b.url)]);
  assert.ok(
    data.fanout.notes!.some((n) => n.startsWith(`${name(down)} was skipped`)),
    data.fanout.notes!.join("\n"),
  );
  await a.close();
  await b.close();
  await using fresh = await startInProcess({ env: { LM_STUDIO_URL: [a.url, down, b.url].join(",") } });
  const none = await fresh.call("ask", { model: KEY, prompt: "Say", prompts: prompts(2) });
  assert.equal(none.isError, true);
  assert.match(
    textOf(none),
    new RegExp(
      `^No LM Studio server answers: ${name(a.url)} \\(.+\\); ${name(down)} \\(.+\\); ${name(b.url)} \\(`,
    ),
  );
});

Deno.test("pool fan-out: cancelling stops the requests on every server and starts no more", async () => {
  await using a = LmStudioSim.start({ models: [llm({ parallel: 2 })] });
  await using b = LmStudioSim.start({ models: [llm({ parallel: 2 })] });
  for (const sim of [a, b]) {
    sim.chatScript = { reasoning: null, tokenDelayMs: 50, answer: "word ".repeat(200) };
  }
  await using server = await startInProcess({ env: { LM_STUDIO_URL: `${a.url},${b.url}` } });
  const controller = new AbortController();
  const call = server.client.callTool(
    { name: "ask", arguments: { model: KEY, prompt: "x", prompts: prompts(12), max_tokens: 300 } },
    { signal: controller.signal },
  );
  const streaming = (sim: LmStudioSim) => chats(sim).filter((c) => (c.deltas ?? 0) > 0).length;
  await until(() => streaming(a) === 2 && streaming(b) === 2, "two requests to stream on each server");
  controller.abort();
  await assert.rejects(call);
  for (const sim of [a, b]) {
    await until(
      () => chats(sim).every((c) => c.abortedAt !== undefined),
      "every request in flight to be aborted",
    );
    assert.equal(chats(sim).length, 2, "no request started after the cancel");
  }
});

Deno.test("pool fan-out: a folder packed into several requests is read on every server, then combined", async () => {
  await using tmp = await tempDir("pool-folder");
  for (let i = 0; i < 8; i++) {
    const lines = Array.from({ length: 120 }, (_, n) => `item-0${i} line ${n}: some words of text here`);
    await Deno.writeTextFile(`${tmp.path}/f${i}.txt`, lines.join("\n"));
  }
  await using a = LmStudioSim.start({ models: [llm({ parallel: 4, context: 4096 })] });
  await using b = LmStudioSim.start({ models: [llm({ parallel: 4, context: 4096 })] });
  for (const sim of [a, b]) sim.chatScript = { reasoning: null, tokenDelayMs: 5, answer: "a short summary" };
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: `${a.url},${b.url}` },
    roots: () => [{ uri: pathToFileURL(tmp.path).href, name: "folder" }],
  });
  const result = await server.call("ask", { model: KEY, prompt: "Summarise", files: ["."] });
  assert.equal(result.isError, undefined, allText(result));
  const packing = (result.structuredContent as {
    packing: {
      requests: number;
      failed: number;
      hosts?: { host: string; requests: number; answers: number }[];
    };
  }).packing;
  assert.ok(packing.requests > 2, `several requests: ${packing.requests}`);
  assert.equal(packing.failed, 0);
  assert.deepEqual(packing.hosts!.map((h) => h.host), [name(a.url), name(b.url)]);
  assert.ok(packing.hosts!.every((h) => h.answers > 0), JSON.stringify(packing.hosts));
  assert.equal(packing.hosts!.reduce((n, h) => n + h.answers, 0), packing.requests);
  assert.match(allText(result), /Servers: /);
  assert.equal(a.contextExceeded + b.contextExceeded, 0);
});
