/**
 * What a real LM Studio expects of our requests, and what a new user met first: the tools in process
 * against the strict simulator.
 */
import assert from "node:assert/strict";
import { ProtocolError } from "@modelcontextprotocol/client";
import { firstTokenSeconds } from "../../lib/lmstudio/inference.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { startInProcess } from "../support/in_process.ts";
import { textOf } from "../support/mcp.ts";
import { writeReferenceDb } from "../support/reference_db.ts";
import { tempDir } from "../support/temp.ts";
import { within } from "../support/wait.ts";

const QWEN = "qwen/qwen3-8b";
const GEMMA = "google/gemma-3-4b";
const NOMIC = "text-embedding-nomic-embed-text-v1.5";

Deno.test("model_load never sends gpu or ttl, says so, and sends the load options LM Studio documents", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("model_load", {
    model: GEMMA,
    gpu: "max",
    ttl: 600,
    context_length: 8192,
    eval_batch_size: 256,
    num_experts: 4,
    offload_kv_cache_to_gpu: false,
    flash_attention: true,
  });
  assert.equal(result.isError, undefined, textOf(result));
  assert.deepEqual(sim.requestsTo("POST /api/v1/models/load")[0]?.body, {
    model: GEMMA,
    echo_load_config: true,
    context_length: 8192,
    eval_batch_size: 256,
    flash_attention: true,
    num_experts: 4,
    offload_kv_cache_to_gpu: false,
  });
  const text = textOf(result);
  assert.match(
    text,
    /gpu=max was not applied: LM Studio's REST API has no GPU offload setting[\s\S]*lms load/,
  );
  assert.match(text, /ttl=600 was not applied[\s\S]*Pass ttl to ask or chat/);
});

Deno.test("model_load with only gpu on a loaded model does not load a second instance", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("model_load", { model: QWEN, gpu: 0.5 });
  assert.equal(result.isError, undefined, textOf(result));
  assert.match(textOf(result), /already loaded[\s\S]*gpu=0\.5 was not applied/);
  assert.equal(sim.requestsTo("POST /api/v1/models/load").length, 0);
});

Deno.test("union-typed inputs say what they expect", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const gpu = await server.call("model_load", { model: GEMMA, gpu: "most" });
  assert.equal(gpu.isError, true);
  assert.match(textOf(gpu), /gpu must be a number from 0 to 1, "max" or "off"/);
  const input = await server.call("embed", { model: NOMIC, input: { text: "x" } });
  assert.match(textOf(input), /input must be a non-empty string or a list of 1 to 1024 non-empty strings/);
});

Deno.test("ask checks reasoning against the model's allowed options before sending", async () => {
  await using sim = LmStudioSim.start();
  sim.model(QWEN)!.capabilities = {
    vision: false,
    reasoning: { allowed_options: ["off", "low", "medium", "high", "xhigh"], default: "medium" },
  };
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const xhigh = await server.call("ask", { model: QWEN, prompt: "hard one", reasoning: "xhigh" });
  assert.equal(xhigh.isError, undefined, textOf(xhigh));
  assert.equal((sim.requestsTo("POST /api/v1/chat")[0]?.body as { reasoning: string }).reasoning, "xhigh");
  const on = await server.call("ask", { model: QWEN, prompt: "x", reasoning: "on" });
  assert.equal(on.isError, true);
  assert.equal(
    textOf(on),
    'qwen/qwen3-8b does not allow reasoning "on"; it allows: off, low, medium, high, xhigh',
  );
  const none = await server.call("ask", { model: "google/gemma-3-1b", prompt: "x", reasoning: "off" });
  assert.match(textOf(none), /has no reasoning setting[\s\S]*omit reasoning/);
  assert.equal(sim.requestsTo("POST /api/v1/chat").length, 1, "refused settings never reach LM Studio");
});

Deno.test("ask refuses an embedding model and embed refuses a language model before calling LM Studio", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const ask = await server.call("ask", { model: NOMIC, prompt: "hi" });
  assert.equal(ask.isError, true);
  assert.match(textOf(ask), /is not a language model \(type embedding\)[\s\S]*use embed/);
  const embed = await server.call("embed", { model: GEMMA, input: "hi" });
  assert.match(textOf(embed), /google\/gemma-3-4b is not an embedding model \(type llm\)/);
  assert.equal(sim.requestsTo("POST /api/v1/chat").length + sim.requestsTo("POST /v1/embeddings").length, 0);
});

Deno.test("ask with ttl goes through the endpoint that honours it", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("ask", { model: GEMMA, prompt: "hi", ttl: 300 });
  assert.equal(result.isError, undefined, textOf(result));
  assert.equal((sim.requestsTo("POST /v1/chat/completions")[0]?.body as { ttl: number }).ttl, 300);
  assert.equal(sim.requestsTo("POST /api/v1/chat").length, 0);
  const mixed = await server.call("ask", { model: QWEN, prompt: "hi", ttl: 300, reasoning: "off" });
  assert.match(textOf(mixed), /reasoning cannot be combined with ttl/);
});

Deno.test("ask and chat recognise MLX's context overflow; chat's trimming retry runs", async () => {
  await using sim = LmStudioSim.start({ overflowMessage: "Context size has been exceeded" });
  sim.model(QWEN)!.loaded_instances[0]!.config = {}; // No context known: only LM Studio's error tells.
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" } });
  const big = (tag: string) => `${tag} ${"word ".repeat(1200)}`; // ~1,500 tokens of the 4,096 loaded.
  const ask = await server.call("ask", { model: QWEN, prompt: big("a").repeat(3), stream: false });
  assert.equal(ask.isError, true);
  assert.match(textOf(ask), /does not fit[\s\S]*Context size has been exceeded[\s\S]*context_length/);
  for (const tag of ["t1", "t2"]) {
    const sent = await server.call("chat", { session_id: "mlx", model: QWEN, message: big(tag) });
    assert.equal(sent.isError, undefined, textOf(sent));
  }
  const last = await server.call("chat", { session_id: "mlx", message: big("t3") });
  assert.equal(last.isError, undefined, textOf(last));
  assert.match(JSON.stringify(last.content), /LM Studio said they do not fit/);
});

Deno.test("LM Studio resetting the connection before replying is not reported as not running", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = (async () => {
    for await (const conn of listener) {
      await conn.read(new Uint8Array(4096)).catch(() => null);
      conn.close(); // Running, but drops the request before any reply.
    }
  })();
  try {
    await using server = await startInProcess({
      env: { LM_STUDIO_URL: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}` },
    });
    const result = await server.call("model_list");
    assert.equal(result.isError, true);
    assert.match(textOf(result), /accepted the connection but closed it before replying[\s\S]*server log/);
    assert.doesNotMatch(textOf(result), /start the local server|fetch failed/);
  } finally {
    listener.close();
    await within(accepting.catch(() => {}), "the test listener to stop"); // Ends with the listener.
  }
});

Deno.test("sessions imported from mcp-llm-studio with any id can be read, continued and deleted", async () => {
  await using tmp = await tempDir("import");
  const db = `${tmp.path}/sessions.db`;
  const ids = ["bug #12", "notes (draft)", "a\tb", " padded "];
  await writeReferenceDb(
    db,
    ids.flatMap((id, i) => [[id, "user", `q${i}`, 1000 + i], [id, "assistant", `a${i}`, 1001 + i]] as const),
  );
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: db } });
  const listed = await server.call("chat", { action: "list" });
  for (const id of ids) {
    assert.ok(
      (listed.structuredContent as { sessions: { session_id: string }[] }).sessions.some((s) =>
        s.session_id === id
      ),
    );
    const history = await server.call("chat", { action: "history", session_id: id });
    assert.equal(history.isError, undefined, `${id}: ${textOf(history)}`);
    assert.match(textOf(history), /1 turn,/);
    const sent = await server.call("chat", { session_id: id, model: QWEN, message: "more" });
    assert.equal(sent.isError, undefined, `${id}: ${textOf(sent)}`);
    const read = await server.client.readResource({
      uri: `lmstudio-mcp://sessions/${encodeURIComponent(id)}`,
    });
    assert.match(JSON.stringify(read.contents), /more/);
    const deleted = await server.call("chat", { action: "delete", session_id: id });
    assert.equal(deleted.isError, undefined, `${id}: ${textOf(deleted)}`);
  }
});

Deno.test("session resources: singular turns, -32602 with the URI for an unknown id, invalid params for a bad escape", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" } });
  await server.call("chat", { session_id: "one", model: QWEN, message: "hi" });
  const { resources } = await server.client.listResources();
  assert.match(resources[0]?.description ?? "", /^1 turn with qwen\/qwen3-8b/);
  const missing = await server.client.readResource({ uri: "lmstudio-mcp://sessions/nobody" }).catch((e) => e);
  assert.ok(missing instanceof ProtocolError);
  assert.equal(missing.code, -32602, "resource not found is -32602 (2026-07-28 spec, every revision)");
  assert.deepEqual(missing.data, { uri: "lmstudio-mcp://sessions/nobody" });
  const bad = await server.client.readResource({ uri: "lmstudio-mcp://sessions/%E0%A4%A" }).catch((e) => e);
  assert.ok(bad instanceof ProtocolError);
  assert.equal(bad.code, -32602);
  assert.equal(server.stderr(), "", "input errors log no stack");
});

Deno.test("a whitespace-only prompt is refused before anything is sent", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("ask", { model: QWEN, prompt: " \n\t " });
  assert.equal(result.isError, true);
  assert.match(textOf(result), /must not be empty or only white space/);
  assert.equal(sim.requests.length, 0);
});

Deno.test("firstTokenSeconds() keeps time to first token on the clock of the total", () => {
  assert.equal(firstTokenSeconds(0.2, 5, 1), 0.2, "measured here wins");
  assert.equal(firstTokenSeconds(null, 0.4, 1), 0.4, "LM Studio's figure stands in when it fits");
  assert.equal(firstTokenSeconds(null, 3, 1), null, "never a first token after the end");
  assert.equal(firstTokenSeconds(null, null, 1), null);
});
