import assert from "node:assert/strict";
import type { Timeouts } from "../../lib/config/config.ts";
import {
  AuthError,
  HttpStatusError,
  ModelNotFoundError,
  ProtocolError,
  StreamError,
  TimeoutError,
  TooLargeError,
  UnreachableError,
} from "../../lib/errors.ts";
import { CancelledError } from "../../lib/errors.ts";
import { HttpClient } from "../../lib/lmstudio/http.ts";
import { NotLmStudioError } from "../../lib/lmstudio/http_errors.ts";
import { LmStudioClient } from "../../lib/lmstudio/client.ts";
import { nativeChat } from "../../lib/lmstudio/native_chat_endpoint.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";

const TIMEOUTS: Timeouts = { defaultMs: 5_000, inferenceMs: 5_000, loadMs: 5_000, sseIdleMs: 5_000 };

function clientFor(url: string, overrides: Partial<Timeouts> = {}, apiKey?: string): LmStudioClient {
  return new LmStudioClient({ baseUrl: url, apiKey, timeouts: { ...TIMEOUTS, ...overrides } });
}

async function closedPortUrl(): Promise<string> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await Promise.resolve();
  return `http://127.0.0.1:${port}`;
}

Deno.test("LmStudioClient.listModels() returns the native catalogue", async () => {
  await using sim = LmStudioSim.start();
  const models = await clientFor(sim.url).listModels();
  assert.deepEqual(models.map((m) => m.key), [
    "qwen/qwen3-8b",
    "qwen/qwen3-4b-2507",
    "google/gemma-3-1b",
    "google/gemma-3-4b",
    "google/gemma-3n-e4b",
    "google/gemma-3-12b",
    "text-embedding-nomic-embed-text-v1.5",
  ]);
  assert.equal(models[0]?.loaded_instances?.[0]?.config?.context_length, 8192);
});

Deno.test("LmStudioClient sends the bearer token only when one is configured", async () => {
  await using sim = LmStudioSim.start({ apiKey: "sk-lm-good" });
  await clientFor(sim.url, {}, "sk-lm-good").listModels();
  await assert.rejects(clientFor(sim.url).listModels(), AuthError);
  await assert.rejects(clientFor(sim.url, {}, "sk-lm-bad").listModels(), /rejected the API token/);
  assert.deepEqual(sim.requests.map((r) => r.authorization), ["Bearer sk-lm-good", null, "Bearer sk-lm-bad"]);
});

Deno.test("LmStudioClient reports a refused connection as UnreachableError naming the URL", async () => {
  const url = await closedPortUrl();
  await assert.rejects(
    clientFor(url).listModels(),
    (error: unknown) =>
      error instanceof UnreachableError && error.message.includes(url) &&
      /Start Server/.test(error.message) && /LM_STUDIO_URL/.test(error.message),
  );
});

Deno.test("LmStudioClient times out a hung request and names the default timeout variable", async () => {
  await using sim = LmStudioSim.start();
  sim.fault("GET /api/v1/models", { hang: true });
  await assert.rejects(
    clientFor(sim.url, { defaultMs: 150 }).listModels(),
    (error: unknown) =>
      error instanceof TimeoutError && error.variable === "LM_STUDIO_TIMEOUT_DEFAULT_MS" &&
      /150 ms/.test(error.message),
  );
});

Deno.test("LmStudioClient.loadModel() names the load timeout variable", async () => {
  await using sim = LmStudioSim.start();
  sim.fault("POST /api/v1/models/load", { hang: true });
  await assert.rejects(
    clientFor(sim.url, { loadMs: 150 }).loadModel({ model: "google/gemma-3-4b" }),
    (error: unknown) => error instanceof TimeoutError && error.variable === "LM_STUDIO_TIMEOUT_LOAD_MS",
  );
});

Deno.test("LmStudioClient waits out a slow reply within its timeout", async () => {
  await using sim = LmStudioSim.start();
  sim.fault("GET /api/v1/models", { delayMs: 100, times: 1 });
  assert.equal((await clientFor(sim.url).listModels()).length, 7);
});

Deno.test("LmStudioClient keeps LM Studio's message for a 500", async () => {
  await using sim = LmStudioSim.start();
  sim.fault("GET /api/v1/models", {
    status: 500,
    body: { error: { type: "internal_error", message: "Failed to enumerate models" } },
  });
  await assert.rejects(
    clientFor(sim.url).listModels(),
    (error: unknown) => error instanceof HttpStatusError && /Failed to enumerate models/.test(error.message),
  );
});

Deno.test("LmStudioClient says to upgrade when LM Studio does not know /api/v1", async () => {
  await using sim = LmStudioSim.start();
  sim.fault("GET /api/v1/models", { raw: '{"error":"Unexpected endpoint or method. (GET /api/v1/models)"}' });
  await assert.rejects(
    clientFor(sim.url).listModels(),
    (error: unknown) => error instanceof ProtocolError && /0\.4\.0 or newer/.test(error.message),
  );
});

Deno.test("LmStudioClient rejects a reply that is not JSON", async () => {
  await using sim = LmStudioSim.start();
  sim.fault("GET /api/v1/models", { raw: "models: none", contentType: "text/plain" });
  await assert.rejects(clientFor(sim.url).listModels(), ProtocolError);
  // A web page is another program's (or a proxy's) reply: named as such (tests/lib/not_lm_studio_test.ts).
  sim.clearFaults();
  sim.fault("GET /api/v1/models", { raw: "<html>proxy</html>", contentType: "text/html" });
  await assert.rejects(clientFor(sim.url).listModels(), NotLmStudioError);
});

Deno.test("LmStudioClient rejects a reply in the wrong shape", async () => {
  await using sim = LmStudioSim.start();
  sim.fault("GET /api/v1/models", { status: 200, body: { models: [{ nope: 1 }] } });
  await assert.rejects(clientFor(sim.url).listModels(), ProtocolError);
});

Deno.test("LmStudioClient reports a connection dropped mid-reply as StreamError", async () => {
  await using sim = LmStudioSim.start();
  sim.fault("GET /api/v1/models", { drop: true });
  await assert.rejects(clientFor(sim.url).listModels(), StreamError);
});

Deno.test("LmStudioClient aborts the HTTP request when the caller cancels", async () => {
  await using sim = LmStudioSim.start();
  sim.fault("POST /api/v1/models/load", { hang: true });
  const controller = new AbortController();
  const pending = clientFor(sim.url).loadModel({ model: "google/gemma-3-4b" }, { signal: controller.signal });
  for (let i = 0; i < 100 && sim.requests.length === 0; i++) await sim.wait(10);
  controller.abort();
  await assert.rejects(pending, CancelledError);
  for (let i = 0; i < 100 && sim.requests[0]?.abortedAt === undefined; i++) await sim.wait(10);
  assert.ok(sim.requests[0]?.abortedAt !== undefined, "LM Studio saw the request aborted");
});

Deno.test("LmStudioClient.loadModel() sends only the fields LM Studio documents and reads the reply", async () => {
  await using sim = LmStudioSim.start();
  const result = await clientFor(sim.url).loadModel({
    model: "google/gemma-3-4b",
    context_length: 16384,
    flash_attention: false,
    eval_batch_size: 256,
    num_experts: 4,
    offload_kv_cache_to_gpu: false,
  });
  assert.deepEqual(sim.requests[0]?.body, {
    model: "google/gemma-3-4b",
    echo_load_config: true,
    context_length: 16384,
    eval_batch_size: 256,
    flash_attention: false,
    num_experts: 4,
    offload_kv_cache_to_gpu: false,
  });
  assert.equal(result.instanceId, "google/gemma-3-4b");
  assert.equal(result.config.context_length, 16384);
  assert.equal(typeof result.loadTimeSeconds, "number");
});

Deno.test("LmStudioClient.loadModel() accepts a reply without load_time_seconds", async () => {
  await using sim = LmStudioSim.start({ reportLoadTime: false });
  const result = await clientFor(sim.url).loadModel({ model: "google/gemma-3-4b" });
  assert.equal(result.loadTimeSeconds, undefined);
  assert.equal(result.instanceId, "google/gemma-3-4b");
});

Deno.test("LmStudioClient.unloadModel() maps an unknown instance to ModelNotFoundError", async () => {
  await using sim = LmStudioSim.start();
  await assert.rejects(clientFor(sim.url).unloadModel("nope/nope"), ModelNotFoundError);
});

Deno.test("HttpClient refuses a reply larger than its cap", async () => {
  await using sim = LmStudioSim.start();
  const http = new HttpClient({ baseUrl: sim.url, maxBodyBytes: 100 });
  await assert.rejects(
    http.json("/api/v1/models", { what: "Listing", timeoutMs: 5000, timeoutVariable: "X" }),
    TooLargeError,
  );
});

Deno.test("a stream sent with the wrong content type is still read; a JSON body instead of a stream is not", async () => {
  await using sim = LmStudioSim.start();
  const client = clientFor(sim.url);
  const events = [
    'event: message.delta\ndata: {"type":"message.delta","content":"plain "}',
    'event: message.delta\ndata: {"type":"message.delta","content":"text"}',
    'event: chat.end\ndata: {"type":"chat.end","result":{"output":[{"type":"message","content":"plain text"}]}}',
  ].join("\n\n");
  sim.fault("POST /api/v1/chat", { raw: events, contentType: "text/plain", times: 1 });
  const result = await nativeChat(client, { model: "qwen/qwen3-8b", prompt: "x" }, true);
  assert.equal(result.answer, "plain text");
  sim.fault("POST /api/v1/chat", { raw: '{"output":[]}', contentType: "application/json", times: 1 });
  await assert.rejects(
    nativeChat(client, { model: "qwen/qwen3-8b", prompt: "x" }, true),
    (error: unknown) => error instanceof ProtocolError && /instead of a stream/.test(error.message),
  );
});
