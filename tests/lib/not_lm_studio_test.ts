/**
 * Another program at `LM_STUDIO_URL` is named as such, never blamed on LM Studio: the diagnosis
 * (`notLmStudio` in lib/lmstudio/http_errors.ts), the doctor (`--check`) and the tool errors, against real HTTP
 * servers on loopback that answer the way other programs do (a web app's 404 page, a JSON API's 404, another
 * model server, a plain-text 404, a page served with 200, a 405). LM Studio's own replies (the simulator, and
 * the bodies real servers send) stay LM Studio's.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/config.ts";
import { runDoctor } from "../../lib/config/doctor.ts";
import {
  errorFromReply,
  notLmStudio,
  NotLmStudioError,
  type RequestSeen,
} from "../../lib/lmstudio/http_errors.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { startInProcess } from "../support/in_process.ts";
import { textOf } from "../support/mcp.ts";

const LIST: RequestSeen = {
  baseUrl: "http://127.0.0.1:3000",
  method: "GET",
  path: "/api/v1/models",
  namesSomething: false,
};
const CHAT: RequestSeen = { ...LIST, method: "POST", path: "/api/v1/chat", namesSomething: true };

/** How other programs answer a request for LM Studio's model list. */
const FOREIGN: Record<string, { status: number; type: string; body: string; says: RegExp }> = {
  "a web app's 404 page": {
    status: 404,
    type: "text/html; charset=utf-8",
    body: "<!DOCTYPE html>\n<html><body><pre>Cannot GET /api/v1/models</pre></body></html>",
    says: /HTTP 404 \(text\/html\): "<!DOCTYPE html> <html>.*web page, and LM Studio answers with JSON/,
  },
  "a JSON API's 404": {
    status: 404,
    type: "application/json",
    body: '{"detail":"Not Found"}',
    says: /HTTP 404 \(application\/json\): "\{\\"detail\\":\\"Not Found\\"\}".*errors in an "error" key/,
  },
  "another model server's 404": {
    status: 404,
    type: "application/json",
    body: '{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}',
    says: /HTTP 404 .*every LM Studio serves GET \/api\/v1\/models/,
  },
  "a plain-text 404": {
    status: 404,
    type: "text/plain",
    body: "404 page not found",
    says: /HTTP 404 \(text\/plain\): "404 page not found".*404 replies are JSON errors/,
  },
  "a page served with 200": {
    status: 200,
    type: "text/html",
    body: "<html><head><title>My dashboard</title></head></html>",
    says: /HTTP 200 \(text\/html\).*web page/,
  },
  "a 405": {
    status: 405,
    type: "text/plain",
    body: "Method Not Allowed",
    says: /HTTP 405 .*Unexpected endpoint or method/,
  },
};

/** A real HTTP server on loopback answering every request with one reply. */
function otherProgram(reply: { status: number; type: string; body: string }) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(reply.body, { status: reply.status, headers: { "content-type": reply.type } }),
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("notLmStudio names each other program's reply: what answered, and what LM Studio sends", () => {
  for (const [name, reply] of Object.entries(FOREIGN)) {
    const error = notLmStudio({ status: reply.status, contentType: reply.type, text: reply.body }, LIST);
    assert.ok(error instanceof NotLmStudioError, name);
    assert.match(
      error.message,
      /^The server at http:\/\/127\.0\.0\.1:3000 does not look like LM Studio: /,
      name,
    );
    assert.match(error.message, /GET \/api\/v1\/models got /, name);
    assert.match(error.message, reply.says, name);
    assert.match(error.message, /Point LM_STUDIO_URL at LM Studio's server/, name);
  }
});

Deno.test("notLmStudio leaves LM Studio's own replies to LM Studio", () => {
  const lmStudio: [string, number, string, RequestSeen][] = [
    [
      "an unknown route (old LM Studio)",
      200,
      '{"error":"Unexpected endpoint or method. (GET /api/v1/models)"}',
      LIST,
    ],
    [
      "a model that is not found",
      404,
      '{"error":{"type":"model_not_found","message":"Model x not found"}}',
      CHAT,
    ],
    [
      "a rejected token",
      401,
      '{"error":{"code":"invalid_api_key","message":"Malformed LM Studio API token"}}',
      LIST,
    ],
    ["a validation error", 400, '{"error":{"message":"Unrecognized key(s) in object: \'ttl\'"}}', CHAT],
    ["an engine failure in plain text", 500, "plain engine failure", CHAT],
    ["a body cut short", 200, '{"models":[', LIST],
    ["the model list", 200, '{"models":[]}', LIST],
  ];
  for (const [name, status, text, request] of lmStudio) {
    assert.equal(notLmStudio({ status, contentType: "application/json", text }, request), undefined, name);
  }
  // And the mapping after it is unchanged: LM Studio's 404 about a model is still "not found".
  assert.match(
    errorFromReply(404, lmStudio[1]![2], { hadKey: false, model: "x" }).message,
    /not found|model_list/i,
  );
});

Deno.test("notLmStudio quotes at most 160 characters of a long body, on one line", () => {
  const error = notLmStudio(
    { status: 404, contentType: "", text: `<html>\n${"x".repeat(10_000)}</html>` },
    LIST,
  )!;
  assert.match(error.answered, /^HTTP 404 \(no content type\): "<html> x{153}…"$/);
});

Deno.test("--check against another program says it does not look like LM Studio, with what answered", async () => {
  for (const [name, reply] of Object.entries(FOREIGN)) {
    await using other = otherProgram(reply);
    const { config } = parseConfig({ LM_STUDIO_URL: other.url, MCP_SESSIONS_DB: ":memory:" });
    const results = await runDoctor(config);
    const first = results[0]!;
    assert.equal(first.ok, false, name);
    assert.equal(
      first.message.startsWith(`${other.url} does not look like LM Studio: GET /api/v1/models got HTTP `),
      true,
      `${name}: ${first.message}`,
    );
    assert.doesNotMatch(first.message, /LM Studio (answered|at .* failed)/, name);
    assert.match(first.fix ?? "", /Point LM_STUDIO_URL at LM Studio's server/, name);
    assert.deepEqual(results.map((r) => r.ok), [false, true], `${name}: one cause, then the sessions DB`);
  }
});

Deno.test("tools against another program say it does not look like LM Studio, never 'LM Studio answered'", async () => {
  await using other = otherProgram(FOREIGN["a web app's 404 page"]!);
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: other.url, MCP_SESSIONS_DB: ":memory:" },
  });
  const calls: [string, Record<string, unknown>][] = [
    ["model_list", {}],
    ["model_load", { model: "qwen/qwen3-8b" }],
    ["ask", { model: "qwen/qwen3-8b", prompt: "hi", stream: true }],
    ["ask", { model: "qwen/qwen3-8b", prompt: "hi", stream: false }],
    ["chat", { session_id: "s", model: "qwen/qwen3-8b", message: "hi" }],
    ["embed", { model: "nomic", input: "hi" }],
  ];
  for (const [tool, args] of calls) {
    const result = await server.call(tool, args);
    const text = textOf(result);
    assert.equal(result.isError, true, `${tool}: ${text}`);
    assert.match(
      text,
      new RegExp(`The server at ${other.url.replaceAll(".", "\\.")} does not look like LM Studio`),
      tool,
    );
    assert.match(text, /got HTTP 404 \(text\/html\)/, tool);
    assert.doesNotMatch(text, /LM Studio answered HTTP/, tool);
  }
});

Deno.test("a web page served with 200 where a stream or JSON is expected is another program's", async () => {
  // A proxy in front of LM Studio that answers one route with its own page: the list is LM Studio's, the chat
  // is not, on the streamed path and the plain one.
  await using sim = LmStudioSim.start();
  const page = FOREIGN["a page served with 200"]!;
  sim.fault("POST /api/v1/chat", { raw: page.body, contentType: page.type });
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" } });
  for (const stream of [true, false]) {
    const result = await server.call("ask", { model: "qwen/qwen3-8b", prompt: "hi", stream });
    assert.equal(result.isError, true);
    assert.match(
      textOf(result),
      /does not look like LM Studio: POST \/api\/v1\/chat got HTTP 200 \(text\/html\): "<html><head><title>My dashboard/,
      `stream: ${stream}`,
    );
  }
});

Deno.test("the simulator, as strict as LM Studio, is still LM Studio: --check passes", async () => {
  await using sim = LmStudioSim.start();
  const { config } = parseConfig({ LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" });
  const results = await runDoctor(config);
  assert.ok(results.every((r) => r.ok), JSON.stringify(results));
});
