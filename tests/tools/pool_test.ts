/**
 * Several LM Studio servers as one pool (LM_STUDIO_URL lists them): simulators on different loopback
 * ports are different servers. One catalogue in model_list; model_load/unload/download on the server
 * named by `host` or the first that fits; ask/chat/embed routed to a server where the model is loaded
 * and has room, the result naming it; each server gets only its own token.
 */
import assert from "node:assert/strict";
import { LmStudioSim, type SimModel, slottedModel } from "../support/lmstudio_sim.ts";
import { startInProcess } from "../support/in_process.ts";
import { textOf } from "../support/mcp.ts";
import { until } from "../support/wait.ts";
import type { CallToolResult } from "../../server/sdk.ts";

/** A GGUF LLM, loaded with `parallel` slots at `context`, or only downloaded. */
function llm(key: string, options: { parallel?: number; context?: number; loaded?: boolean } = {}): SimModel {
  const model = slottedModel(key, options.parallel ?? 4);
  model.loaded_instances[0]!.config.context_length = options.context ?? 8192;
  if (options.loaded === false) model.loaded_instances = [];
  return model;
}

function embedding(key: string, loaded: boolean): SimModel {
  return {
    type: "embedding",
    key,
    display_name: key,
    format: "gguf",
    max_context_length: 2048,
    loaded_instances: loaded ? [{ id: key, config: { context_length: 2048 } }] : [],
  };
}

const name = (sim: LmStudioSim) => new URL(sim.url).host;
/** Every text block of a result. */
const allText = (result: CallToolResult) =>
  result.content.flatMap((block) => block.type === "text" ? [block.text] : []).join("\n");
const inference = (sim: LmStudioSim) =>
  sim.requests.filter((r) => r.method === "POST" && /\/chat|\/embeddings/.test(r.path));

/** A closed port: a server that is down. */
async function deadUrl(): Promise<string> {
  const sim = LmStudioSim.start();
  const url = sim.url;
  await sim.close();
  return url;
}

Deno.test("pool: model_list is one catalogue over three servers, where each model is downloaded and loaded", async () => {
  await using a = LmStudioSim.start({
    models: [llm("m/one", { parallel: 4, context: 8192 }), llm("m/two", { loaded: false })],
  });
  await using b = LmStudioSim.start({
    models: [llm("m/one", { parallel: 2, context: 4096 }), embedding("e/one", true)],
  });
  const down = await deadUrl();
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: [a.url, b.url, down].join(","), MCP_SESSIONS_DB: ":memory:" },
  });
  const result = await server.call("model_list");
  assert.equal(result.isError, undefined, textOf(result));
  const text = textOf(result);
  assert.match(
    text,
    new RegExp(
      `• m/one — .*instance m/one at context 8192 on ${
        name(a)
      } \\(4 slots\\), instance m/one at context 4096 on ` +
        `${name(b)} \\(2 slots\\), downloaded on ${name(a)}, ${name(b)}`,
    ),
  );
  assert.match(
    text,
    new RegExp(`Downloaded, not loaded \\(1\\):\\n {2}• m/two — .*downloaded on ${name(a)}$`, "m"),
  );
  assert.match(
    text,
    new RegExp(
      `Servers \\(3\\): ${name(a)} 2 models; ${name(b)} 2 models; ${
        name({ url: down } as LmStudioSim)
      } not answering`,
    ),
  );
  const data = result.structuredContent as {
    models: {
      key: string;
      loaded: boolean;
      downloaded_on: string[];
      loaded_instances: { host: string; slots: number; context_length: number }[];
    }[];
    loaded_count: number;
    total_count: number;
    hosts: { host: string; models: number | null; error?: string }[];
  };
  assert.deepEqual(data.models.map((m) => m.key), ["m/one", "m/two", "e/one"]);
  const one = data.models[0]!;
  assert.deepEqual(one.downloaded_on, [name(a), name(b)]);
  assert.deepEqual(one.loaded_instances.map((i) => [i.host, i.context_length, i.slots]), [
    [name(a), 8192, 4],
    [name(b), 4096, 2],
  ]);
  assert.equal(data.loaded_count, 2);
  assert.equal(data.total_count, 3);
  assert.deepEqual(data.hosts.map((h) => [h.host, h.models]), [[name(a), 2], [name(b), 2], [
    new URL(down).host,
    null,
  ]]);
  assert.match(data.hosts[2]!.error!, /does not answer|not reachable|refused/i);
});

Deno.test("pool: each server gets only its own token, and a redirect is refused on every server", async () => {
  await using a = LmStudioSim.start({ apiKey: "sk-lm-aaaa", models: [llm("m/one")] });
  await using b = LmStudioSim.start({ models: [llm("m/two")] });
  await using c = LmStudioSim.start({ apiKey: "sk-lm-cccc", models: [llm("m/three")] });
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: [a.url, b.url, c.url].join(","), LM_STUDIO_API_KEY: "sk-lm-aaaa,,sk-lm-cccc" },
  });
  const listed = await server.call("model_list");
  assert.equal(listed.isError, undefined, textOf(listed));
  assert.equal((listed.structuredContent as { total_count: number }).total_count, 3);
  for (const [sim, auth] of [[a, "Bearer sk-lm-aaaa"], [b, null], [c, "Bearer sk-lm-cccc"]] as const) {
    assert.ok(sim.requests.length > 0);
    assert.deepEqual([...new Set(sim.requests.map((r) => r.authorization))], [auth]);
  }
  // b redirects to a: not followed, so a never sees a request meant for b.
  const before = a.requests.length;
  b.fault("GET /api/v1/models", { status: 307, body: {}, headers: { location: `${a.url}/api/v1/models` } });
  const redirected = await server.call("model_list");
  assert.match(textOf(redirected), new RegExp(`${name(b)} not answering \\(.*redirect`, "i"));
  assert.equal(a.requests.length, before + 1, "only a's own listing reached a");
  assert.doesNotMatch(JSON.stringify(redirected), /sk-lm-/);
});

Deno.test("pool: model_load, model_unload and model_download act on the server named by host, else the first that fits", async () => {
  await using a = LmStudioSim.start({
    models: [llm("m/one", { loaded: false })],
    catalog: { "new/model": 1000 },
  });
  await using b = LmStudioSim.start({
    models: [llm("m/one", { loaded: false }), llm("m/two", { loaded: false })],
    catalog: { "new/model": 1000 },
  });
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: `${a.url},${b.url}`, LM_STUDIO_DOWNLOAD_POLL_INTERVAL_MS: "20" },
  });
  // m/two is downloaded on b only: loaded there.
  const two = await server.call("model_load", { model: "m/two" });
  assert.equal(two.isError, undefined, textOf(two));
  assert.match(textOf(two), new RegExp(`^Loaded m/two on ${name(b)} `));
  assert.equal((two.structuredContent as { host: string }).host, name(b));
  assert.equal(a.requestsTo("POST /api/v1/models/load").length, 0);
  // m/one is on both: the first, unless host says otherwise.
  await server.call("model_load", { model: "m/one" });
  assert.equal(a.model("m/one")!.loaded_instances.length, 1);
  const onB = await server.call("model_load", { model: "m/one", host: `${b.url}/v1/`, context_length: 2048 });
  assert.match(textOf(onB), new RegExp(`on ${name(b)}`));
  assert.equal(b.model("m/one")!.loaded_instances[0]!.config.context_length, 2048);
  const unknown = await server.call("model_load", { model: "m/one", host: "nowhere:1" });
  assert.equal(unknown.isError, true);
  assert.match(
    textOf(unknown),
    new RegExp(`No LM Studio server is named "nowhere:1".*${name(a)}, ${name(b)}`),
  );
  // Unload: where it is loaded; the rest of the pool is reported.
  const unloaded = await server.call("model_unload", { model: "m/two" });
  assert.equal(unloaded.isError, undefined, textOf(unloaded));
  assert.match(
    textOf(unloaded),
    new RegExp(`Unloaded m/two on ${name(b)}\\. Still loaded: m/one on ${name(b)}, m/one on ${name(a)}\\.`),
  );
  assert.equal(b.model("m/two")!.loaded_instances.length, 0);
  const unloadA = await server.call("model_unload", { model: "m/one", host: name(a) });
  assert.match(
    textOf(unloadA),
    new RegExp(`Unloaded m/one on ${name(a)}\\. Still loaded: m/one on ${name(b)}\\.`),
  );
  // Downloads: the first server, or the one named.
  const first = await server.call("model_download", { model: "new/model" });
  assert.equal(first.isError, undefined, textOf(first));
  assert.equal(a.requestsTo("POST /api/v1/models/download").length, 1);
  assert.equal(b.requestsTo("POST /api/v1/models/download").length, 0);
  const second = await server.call("model_download", { model: "new/model", host: name(b) });
  assert.match(textOf(second), new RegExp(`new/model on ${name(b)}`));
  assert.equal((second.structuredContent as { host: string }).host, name(b));
  assert.equal(b.requestsTo("POST /api/v1/models/download").length, 1);
});

Deno.test("pool: ask goes where the model is loaded and has room, and names the server", async () => {
  await using a = LmStudioSim.start({
    models: [llm("m/one", { parallel: 1 }), llm("m/only-b", { loaded: false })],
  });
  await using b = LmStudioSim.start({ models: [llm("m/one", { parallel: 1 }), llm("m/only-b")] });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: `${a.url},${b.url}` } });
  // Loaded only on b (downloaded on a too): b.
  const onlyB = await server.call("ask", { model: "m/only-b", prompt: "hello", stream: false });
  assert.equal(onlyB.isError, undefined, textOf(onlyB));
  assert.equal((onlyB.structuredContent as { host: string }).host, name(b));
  assert.match(allText(onlyB), new RegExp(`Served by ${name(b)}\\.`));
  assert.equal(inference(a).length, 0);
  // Loaded on both with one slot each: the first while a is free; b while a's slot is taken.
  a.chatScript = { tokenDelayMs: 40_000 };
  const slow = server.call("ask", { model: "m/one", prompt: "slow one" });
  await until(() => inference(a).length === 1, "the first ask to reach a");
  const second = await server.call("ask", { model: "m/one", prompt: "second", stream: false });
  assert.equal((second.structuredContent as { host: string }).host, name(b));
  assert.equal(inference(b).length, 2);
  a.chatScript = {};
  await server.client.close(); // Cancels the slow one.
  await slow.catch(() => {});
  // Nowhere: a clear error that names the servers.
  await using again = await startInProcess({ env: { LM_STUDIO_URL: `${a.url},${b.url}` } });
  const missing = await again.call("ask", { model: "m/none", prompt: "x" });
  assert.equal(missing.isError, true);
  assert.match(textOf(missing), new RegExp(`No LM Studio server has "m/none" \\(${name(a)}, ${name(b)}\\)`));
});

Deno.test("pool: when every loaded instance is full, a server that has the model downloaded takes the request", async () => {
  await using a = LmStudioSim.start({ models: [llm("m/one", { parallel: 1 })] });
  await using b = LmStudioSim.start({ models: [llm("m/one", { loaded: false })] });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: `${a.url},${b.url}` } });
  a.chatScript = { tokenDelayMs: 40_000 };
  const slow = server.call("ask", { model: "m/one", prompt: "hold a" });
  await until(() => inference(a).length === 1, "the first ask to reach a");
  const second = await server.call("ask", { model: "m/one", prompt: "second", stream: false });
  assert.equal(second.isError, undefined, textOf(second));
  assert.equal((second.structuredContent as { host: string }).host, name(b));
  assert.equal(inference(a).length, 1, "the full server got nothing more");
  assert.equal(inference(b).length, 1);
  a.chatScript = {};
  await server.client.close(); // Cancels the slow one.
  await slow.catch(() => {});
});

Deno.test("pool: a chat keeps its history here whichever server answers; embed is routed too", async () => {
  await using a = LmStudioSim.start({ models: [llm("m/one", { parallel: 1 }), embedding("e/one", false)] });
  await using b = LmStudioSim.start({ models: [llm("m/one", { parallel: 1 }), embedding("e/one", true)] });
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: `${a.url},${b.url}`, MCP_SESSIONS_DB: ":memory:" },
  });
  const first = await server.call("chat", { session_id: "s", model: "m/one", message: "first" });
  assert.equal(first.isError, undefined, textOf(first));
  assert.equal((first.structuredContent as { host: string }).host, name(a));
  // a busy: the next turn goes to b with the whole history.
  a.chatScript = { tokenDelayMs: 40_000 };
  const slow = server.call("ask", { model: "m/one", prompt: "hold a" });
  await until(() => inference(a).length === 2, "the ask to reach a");
  const second = await server.call("chat", { session_id: "s", message: "second" });
  assert.equal(second.isError, undefined, textOf(second));
  assert.equal((second.structuredContent as { host: string; turns: number }).host, name(b));
  assert.match(allText(second), new RegExp(`Served by ${name(b)}\\.`));
  assert.equal((second.structuredContent as { turns: number }).turns, 2);
  const sent = b.requestsTo("POST /v1/chat/completions")[0]!.body as { messages: { content: string }[] };
  assert.deepEqual(sent.messages.map((m) => m.content).slice(-3, -1), [
    "first",
    (first.structuredContent as { reply: string }).reply,
  ]);
  const embedded = await server.call("embed", { model: "e/one", input: "hi" });
  assert.equal(embedded.isError, undefined, textOf(embedded));
  assert.equal((embedded.structuredContent as { host: string }).host, name(b));
  assert.match(allText(embedded), new RegExp(`Served by ${name(b)}`));
  a.chatScript = {};
  await server.client.close();
  await slow.catch(() => {});
});

Deno.test("pool: one server is today's server: no host in results, no extra requests", async () => {
  await using sim = LmStudioSim.start({ models: [llm("m/one"), embedding("e/one", true)] });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" } });
  for (
    const [tool, args] of [
      ["model_list", {}],
      ["ask", { model: "m/one", prompt: "hi" }],
      ["chat", { session_id: "x", model: "m/one", message: "hi" }],
      ["embed", { model: "e/one", input: "hi" }],
      ["model_load", { model: "m/one" }],
    ] as const
  ) {
    const result = await server.call(tool, args);
    assert.equal(result.isError, undefined, textOf(result));
    assert.doesNotMatch(JSON.stringify(result), /Served by|"host"|Servers \(|downloaded_on/, tool);
  }
  assert.equal(
    sim.requestsTo("GET /api/v1/models").length,
    4,
    "one listing each for model_list, ask, embed and model_load",
  );
});

Deno.test("pool: an ask or embed whose server fails before answering goes once to another; the failed one is skipped", async () => {
  await using a = LmStudioSim.start({ models: [llm("m/one"), embedding("e/one", true)] });
  await using b = LmStudioSim.start({ models: [llm("m/one"), embedding("e/one", true)] });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: `${a.url},${b.url}` } });
  const crash = { status: 500, body: { error: { type: "internal_error", message: "engine crashed" } } };
  a.fault("POST /api/v1/chat", crash);
  a.fault("POST /v1/embeddings", crash);
  const asked = await server.call("ask", { model: "m/one", prompt: "hello", stream: false });
  assert.equal(asked.isError, undefined, allText(asked));
  assert.equal((asked.structuredContent as { host: string }).host, name(b));
  assert.match(
    allText(asked),
    new RegExp(
      `Served by ${name(b)}\\. ${
        name(a)
      } failed \\(LM Studio answered HTTP 500: engine crashed\\); the request went to ${name(b)}\\.`,
    ),
  );
  assert.equal(inference(a).length, 1);
  assert.equal(b.requestsTo("POST /api/v1/chat").length, 1, "answered once");
  // a is down for its back-off: the next calls go to b without trying it.
  const embedded = await server.call("embed", { model: "e/one", input: "hi" });
  assert.equal(embedded.isError, undefined, allText(embedded));
  assert.equal((embedded.structuredContent as { host: string }).host, name(b));
  assert.match(
    allText(embedded),
    new RegExp(`${name(a)} was skipped: it failed \\(LM Studio answered HTTP 500`),
  );
  assert.equal(inference(a).length, 1);
  // A model's own refusal is not the server's failure: it is not sent elsewhere.
  await using fresh = await startInProcess({ env: { LM_STUDIO_URL: `${a.url},${b.url}` } });
  a.clearFaults();
  a.fault("POST /api/v1/chat", {
    status: 400,
    body: { error: { type: "invalid_request", message: "bad input" } },
  });
  const refused = await fresh.call("ask", { model: "m/one", prompt: "hello", stream: false });
  assert.equal(refused.isError, true);
  assert.equal(b.requestsTo("POST /api/v1/chat").length, 1, "not retried on b");
});
