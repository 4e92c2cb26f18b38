/**
 * The simulator's inference routes, faithful to LM Studio's REST and OpenAI-compatible docs: native `POST /api/v1/chat`
 * (plain and SSE with every documented event), `POST /v1/chat/completions` (plain and SSE with
 * `[DONE]`, usage, in-band errors) and `POST /v1/embeddings`. What the "model" says and which fault
 * to inject is set per test with `sim.chatScript`.
 *
 * @module
 */
import type { LmStudioSim, RecordedRequest, SimModel, SimRoutes } from "./lmstudio_sim.ts";
import { imageProblem, validateReasoning } from "./sim_strict.ts";

/** How the simulated model behaves on the next inference requests. */
export interface ChatScript {
  /** The answer; default: "Echo: <prompt>" (native) or "Reply #n to: <last message>" (OpenAI). */
  answer?: string | ((body: Record<string, unknown>) => string);
  /** Reasoning; default: some text when the model can reason and reasoning is not "off". */
  reasoning?: string | null;
  /** Send reasoning inline as `<think>…</think>` in the answer text instead of separately. */
  inlineThink?: boolean;
  /** Pause between streamed deltas. */
  tokenDelayMs?: number;
  /** Pause before the first event (a long prompt). */
  firstEventDelayMs?: number;
  /** Send each byte of the stream as its own chunk. */
  byteChunks?: boolean;
  /** A fault, applied after `faultAfter` answer deltas. */
  fault?: "drop" | "malformed" | "error-event" | "silent" | "no-end" | "empty";
  /** Deltas before the fault. @default 2 */
  faultAfter?: number;
  /** The JSON answer for `response_format` (default: a sample built from the schema). */
  json?: unknown;
  /** Prompt-processing progress steps. @default 2 */
  promptSteps?: number;
  /** Called after each streamed delta is written (a test can act at an exact point of a stream). */
  onDelta?: (record: RecordedRequest) => void;
  /** Called when a streamed reply has been completely written. */
  onEnd?: (record: RecordedRequest) => void;
}

/** Options the inference routes read from `SimOptions`. */
export interface InferenceSimOptions {
  /** Whether an unloaded model is loaded on demand. @default true */
  jit?: boolean;
  /** How a context overflow looks on a native stream: LM Studio's error, or an empty 200 stream. */
  overflow?: "error" | "empty-stream";
  /** LM Studio's overflow message: llama.cpp's (default) or MLX's "Context size has been exceeded". */
  overflowMessage?: string;
  /** Embedding dimension. @default 768 */
  embeddingDimension?: number;
}

/**
 * What a dropped body errors with. Deno's HTTP server prints a failed response body; a plain string
 * (not an Error) prints as this one line instead of a stack trace, so a passing run reads clean.
 */
export const SIMULATED_DROP = "[LM Studio simulator] connection dropped on purpose (injected fault)";

const encoder = new TextEncoder();

function rec(body: unknown): Record<string, unknown> {
  return typeof body === "object" && body !== null && !Array.isArray(body)
    ? body as Record<string, unknown>
    : {};
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

function nativeError(status: number, type: string, message: string): Response {
  return json({ error: { type, message } }, status);
}

function openAiError(status: number, message: string, code: string | null = null): Response {
  return json({ error: { message, type: "invalid_request_error", param: "model", code } }, status);
}

/** Splits text into token-like pieces that keep their leading whitespace. */
export function tokens(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [];
}

/** A rough token estimate: one per four characters. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

function overflowText(sim: LmStudioSim): string {
  return (sim.options as InferenceSimOptions).overflowMessage ?? OVERFLOW_MESSAGE;
}

const OVERFLOW_MESSAGE = "The number of tokens to keep from the initial prompt is greater than the context " +
  "length. Try to load the model with a larger context length, or provide a shorter input";

/** Resolves the model of an inference request, loading it on demand (JIT) like LM Studio. */
function resolveModel(
  sim: LmStudioSim,
  key: unknown,
  kind: "llm" | "embedding",
): { model: SimModel; jitLoaded: boolean } | { error: string; status: number } {
  if (typeof key !== "string" || !key) return { error: '"model" is required', status: 400 };
  const model = sim.models.find((m) =>
    m.key === key || m.variants?.includes(key) || m.loaded_instances.some((i) => i.id === key)
  );
  if (!model) return { error: `Model "${key}" not found. Please specify a valid model.`, status: 404 };
  if (model.type !== kind) {
    return {
      error: `Model "${key}" is ${model.type === "llm" ? "not an embedding model" : "an embedding model"}`,
      status: 400,
    };
  }
  if (model.loaded_instances.length) return { model, jitLoaded: false };
  if ((sim.options as InferenceSimOptions).jit === false) {
    return {
      error: "No models loaded. Please load a model in the developer page or use the 'lms load' command.",
      status: 404,
    };
  }
  model.loaded_instances.push({ id: model.key, config: { context_length: 4096 } });
  return { model, jitLoaded: true };
}

function loadedContext(model: SimModel): number {
  const value = model.loaded_instances[0]?.config.context_length;
  return typeof value === "number" ? value : 4096;
}

function canReason(model: SimModel, requested: unknown): boolean {
  const reasoning = rec(model.capabilities?.reasoning);
  return Array.isArray(reasoning.allowed_options) && requested !== "off";
}

/** A streamed SSE response whose body is written by `write`; records an early client abort. */
/** Counts one streamed delta and tells the script. */
function delta(record: RecordedRequest, script: ChatScript): void {
  record.deltas = (record.deltas ?? 0) + 1;
  script.onDelta?.(record);
}

function sseResponse(
  sim: LmStudioSim,
  request: Request,
  record: RecordedRequest,
  script: ChatScript,
  write: (send: (text: string) => Promise<void>, signal: AbortSignal) => Promise<"drop" | "end" | void>,
): Response {
  const stop = new AbortController();
  request.signal.addEventListener("abort", () => stop.abort(), { once: true });
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = async (text: string) => {
        if (stop.signal.aborted) throw new Error("client went away");
        const bytes = encoder.encode(text);
        if (script.byteChunks) {
          for (const byte of bytes) controller.enqueue(new Uint8Array([byte]));
        } else controller.enqueue(bytes);
        await Promise.resolve();
      };
      try {
        if (script.firstEventDelayMs) await sim.wait(script.firstEventDelayMs, stop.signal);
        const outcome = await write(send, stop.signal);
        if (outcome !== "drop") {
          record.endedAt = performance.now();
          script.onEnd?.(record);
        }
        if (outcome === "drop") {
          controller.error(SIMULATED_DROP);
          return;
        }
        controller.close();
      } catch {
        record.abortedAt ??= performance.now();
        try {
          controller.close();
        } catch {
          // Already closed or errored.
        }
      }
    },
    cancel() {
      record.abortedAt ??= performance.now();
      stop.abort();
    },
  });
  return new Response(body, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
}

function answerFor(script: ChatScript, body: Record<string, unknown>, fallback: string): string {
  if (typeof script.answer === "function") return script.answer(body);
  return script.answer ?? fallback;
}

/** A JSON value that fits a (simple) JSON Schema. */
export function sampleFor(schema: unknown): unknown {
  const s = rec(schema);
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[0];
  switch (s.type) {
    case "string":
      return "sample";
    case "number":
    case "integer":
      return 1;
    case "boolean":
      return true;
    case "array":
      return [sampleFor(s.items)];
    case "null":
      return null;
    default: {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(rec(s.properties))) out[key] = sampleFor(value);
      return out;
    }
  }
}

async function nativeChat(
  request: Request,
  raw: unknown,
  sim: LmStudioSim,
  record: RecordedRequest,
): Promise<Response> {
  const body = rec(raw);
  const script = sim.chatScript;
  if (body.input === undefined || body.input === "" || (Array.isArray(body.input) && !body.input.length)) {
    return nativeError(400, "invalid_request", '"input" is required');
  }
  const found = resolveModel(sim, body.model, "llm");
  if ("error" in found) {
    return nativeError(
      found.status,
      found.status === 404 ? "model_not_found" : "invalid_request",
      found.error,
    );
  }
  const { model, jitLoaded } = found;
  const allowed = rec(model.capabilities?.reasoning).allowed_options;
  const badReasoning = validateReasoning(
    body.reasoning,
    model.key,
    Array.isArray(allowed) ? allowed : undefined,
  );
  if (badReasoning) return json(badReasoning, 400);
  const items = Array.isArray(body.input) ? body.input.map(rec) : [];
  for (const item of items) {
    const problem = item.type === "image" ? imageProblem(item.data_url, "native") : undefined;
    if (problem) return nativeError(400, "invalid_request", problem);
  }
  if (items.some((item) => item.type === "image") && model.capabilities?.vision !== true) {
    return nativeError(400, "invalid_request", `Model '${model.key}' does not support image inputs`);
  }
  const instanceId = model.loaded_instances[0]?.id ?? model.key;
  const prompt = typeof body.input === "string"
    ? body.input
    : items.filter((item) => item.type === "text").map((item) => String(item.content)).join("\n");
  const inputTokens = estimateTokens(
    prompt + (typeof body.system_prompt === "string" ? body.system_prompt : ""),
  );
  const context = typeof body.context_length === "number" ? body.context_length : loadedContext(model);
  const overflow = inputTokens > context;
  let answer = answerFor(script, body, `Echo: ${prompt}`);
  const reasoning = script.reasoning !== undefined
    ? script.reasoning
    : canReason(model, body.reasoning)
    ? `Thinking about "${prompt.slice(0, 40)}" carefully.`
    : null;
  if (script.inlineThink && reasoning) answer = `<think>${reasoning}</think>${answer}`;
  const separateReasoning = script.inlineThink ? null : reasoning;
  const max = typeof body.max_output_tokens === "number" ? body.max_output_tokens : Infinity;
  const reasoningTokens = separateReasoning ? tokens(separateReasoning).slice(0, max) : [];
  const answerTokens = tokens(answer).slice(0, Math.max(0, max - reasoningTokens.length));
  const started = performance.now();
  const stats = (firstTokenAt: number | undefined) => ({
    input_tokens: inputTokens,
    total_output_tokens: reasoningTokens.length + answerTokens.length,
    reasoning_output_tokens: reasoningTokens.length,
    tokens_per_second: 42.5,
    time_to_first_token_seconds: firstTokenAt === undefined ? 0 : Math.round(firstTokenAt - started) / 1000,
    ...(jitLoaded ? { model_load_time_seconds: 0.25 } : {}),
  });
  const output = [
    ...(separateReasoning ? [{ type: "reasoning", content: reasoningTokens.join("") }] : []),
    { type: "message", content: answerTokens.join("") },
  ];
  if (body.stream !== true) {
    if (overflow) return nativeError(400, "invalid_request", overflowText(sim));
    if (script.tokenDelayMs) await sim.wait(script.tokenDelayMs * answerTokens.length, request.signal);
    if (request.signal.aborted) return json({ error: "aborted" }, 499);
    return json({ model_instance_id: instanceId, output, stats: stats(undefined) });
  }
  return sseResponse(sim, request, record, script, async (send, signal) => {
    const event = (type: string, data: Record<string, unknown> = {}) =>
      send(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    await event("chat.start", { model_instance_id: instanceId });
    if (jitLoaded) {
      await event("model_load.start", { model_instance_id: instanceId });
      for (const progress of [0.25, 0.5, 0.75]) {
        await event("model_load.progress", { model_instance_id: instanceId, progress });
        if (sim.options.loadDelayMs) await sim.wait(sim.options.loadDelayMs / 3, signal);
      }
      await event("model_load.end", { model_instance_id: instanceId, load_time_seconds: 0.25 });
    }
    await event("prompt_processing.start");
    const steps = script.promptSteps ?? 2;
    for (let i = 1; i <= steps; i++) await event("prompt_processing.progress", { progress: i / steps });
    await event("prompt_processing.end");
    if (overflow) {
      if ((sim.options as InferenceSimOptions).overflow === "empty-stream") {
        await event("chat.end", {
          result: {
            model_instance_id: instanceId,
            output: [],
            stats: { input_tokens: inputTokens, total_output_tokens: 0 },
          },
        });
      } else {
        await event("error", { error: { type: "invalid_request", message: overflowText(sim) } });
        await event("chat.end", { result: { model_instance_id: instanceId, output: [], stats: {} } });
      }
      return;
    }
    if (script.fault === "empty") {
      await event("chat.end", { result: { model_instance_id: instanceId, output: [], stats: {} } });
      return;
    }
    let firstTokenAt: number | undefined;
    if (reasoningTokens.length) {
      await event("reasoning.start");
      for (const piece of reasoningTokens) {
        firstTokenAt ??= performance.now();
        await event("reasoning.delta", { content: piece });
        delta(record, script);
        if (script.tokenDelayMs) await sim.wait(script.tokenDelayMs, signal);
      }
      await event("reasoning.end");
    }
    await event("message.start");
    let sent = 0;
    for (const piece of answerTokens) {
      if (script.fault && sent === (script.faultAfter ?? 2)) {
        const outcome = await applyStreamFault(script.fault, sim, send, signal, async () => {
          await event("error", { error: { type: "internal_error", message: "Compute error." } });
          await event("chat.end", {
            result: {
              model_instance_id: instanceId,
              output: [{ type: "message", content: answerTokens.slice(0, sent).join("") }],
              stats: stats(firstTokenAt),
            },
          });
        });
        if (outcome !== "continue") return outcome;
      }
      firstTokenAt ??= performance.now();
      await event("message.delta", { content: piece });
      delta(record, script);
      sent++;
      if (script.tokenDelayMs) await sim.wait(script.tokenDelayMs, signal);
      if (signal.aborted) throw new Error("client went away");
    }
    await event("message.end");
    await event("chat.end", {
      result: { model_instance_id: instanceId, output, stats: stats(firstTokenAt) },
    });
  });
}

/**
 * Injects a mid-stream fault; both stream routes share it. Returns "drop" to break the connection,
 * "end" to finish the stream now, or "continue" to go on with the next delta.
 */
async function applyStreamFault(
  fault: NonNullable<ChatScript["fault"]>,
  sim: LmStudioSim,
  send: (text: string) => Promise<void>,
  signal: AbortSignal,
  errorEvent: () => Promise<void>,
): Promise<"drop" | "end" | "continue"> {
  switch (fault) {
    case "drop":
      await sim.wait(50, signal); // Let the sent deltas reach the client first.
      return "drop";
    case "malformed":
      await send("data: {this is not json\n\n");
      await send("garbage line without a colon\n\n");
      return "continue";
    case "error-event":
      await errorEvent();
      return "end";
    case "silent":
      await sim.wait(60_000, signal);
      return "end";
    case "no-end":
    case "empty":
      return "end";
  }
}

function messageText(message: unknown): string {
  const content = rec(message).content;
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((part) => {
      const text = rec(part).text;
      return typeof text === "string" ? text : "";
    }).join("\n");
  }
  return "";
}

async function chatCompletions(
  request: Request,
  raw: unknown,
  sim: LmStudioSim,
  record: RecordedRequest,
): Promise<Response> {
  const body = rec(raw);
  const script = sim.chatScript;
  const messages = Array.isArray(body.messages) ? body.messages : undefined;
  if (!messages?.length) return openAiError(400, "'messages' field is required and must not be empty", null);
  const found = resolveModel(sim, body.model, "llm");
  if ("error" in found) {
    return openAiError(found.status, found.error, found.status === 404 ? "model_not_found" : null);
  }
  if (typeof body.draft_model === "string" && !sim.models.some((m) => m.key === body.draft_model)) {
    return openAiError(404, `Draft model "${body.draft_model}" not found.`, "model_not_found");
  }
  const { model } = found;
  for (const message of messages) {
    const content = rec(message).content;
    for (const part of Array.isArray(content) ? content.map(rec) : []) {
      if (part.type !== "image_url") continue;
      const problem = imageProblem(rec(part.image_url).url, "openai");
      if (problem) return openAiError(400, problem);
    }
  }
  const userTurns = messages.filter((m) => rec(m).role === "user");
  const last = messageText(userTurns.at(-1));
  const promptTokens = estimateTokens(messages.map(messageText).join("\n"));
  const overflow = promptTokens > loadedContext(model);
  const format = rec(body.response_format);
  let answer = format.type === "json_schema" && script.answer === undefined
    ? JSON.stringify(script.json ?? sampleFor(rec(format.json_schema).schema))
    : answerFor(script, body, `Reply #${userTurns.length} to: ${last}`);
  const reasoning = script.reasoning !== undefined
    ? script.reasoning
    : canReason(model, undefined)
    ? `Considering "${last.slice(0, 40)}".`
    : null;
  if (script.inlineThink && reasoning) answer = `<think>${reasoning}</think>${answer}`;
  const separateReasoning = script.inlineThink ? null : reasoning;
  const max = typeof body.max_tokens === "number" && body.max_tokens > 0 ? body.max_tokens : Infinity;
  const reasoningTokens = separateReasoning ? tokens(separateReasoning).slice(0, max) : [];
  const answerTokens = tokens(answer).slice(0, Math.max(0, max - reasoningTokens.length));
  const finish = reasoningTokens.length + answerTokens.length >= max ? "length" : "stop";
  const usage = {
    prompt_tokens: promptTokens,
    completion_tokens: reasoningTokens.length + answerTokens.length,
    total_tokens: promptTokens + reasoningTokens.length + answerTokens.length,
  };
  const id = `chatcmpl-${crypto.randomUUID().slice(0, 8)}`;
  const created = Math.floor(Date.now() / 1000);
  const base = { id, created, model: model.key, system_fingerprint: model.key };
  if (body.stream !== true) {
    if (overflow) return openAiError(400, overflowText(sim));
    if (script.tokenDelayMs) await sim.wait(script.tokenDelayMs * answerTokens.length, request.signal);
    if (request.signal.aborted) return json({ error: "aborted" }, 499);
    if (script.fault === "empty") answerTokens.length = 0;
    return json({
      ...base,
      object: "chat.completion",
      choices: [{
        index: 0,
        logprobs: null,
        finish_reason: finish,
        message: {
          role: "assistant",
          content: answerTokens.join(""),
          ...(separateReasoning ? { reasoning_content: reasoningTokens.join("") } : {}),
        },
      }],
      usage,
    });
  }
  const includeUsage = rec(body.stream_options).include_usage === true;
  return sseResponse(sim, request, record, script, async (send, signal) => {
    const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) =>
      send(
        `data: ${
          JSON.stringify({
            ...base,
            object: "chat.completion.chunk",
            choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
          })
        }\n\n`,
      );
    if (overflow) {
      await send(
        `data: ${
          JSON.stringify({ error: { message: overflowText(sim), type: "invalid_request_error" } })
        }\n\n`,
      );
      return;
    }
    await chunk({ role: "assistant", content: "" });
    if (script.fault === "empty") {
      await chunk({}, "stop");
      await send("data: [DONE]\n\n");
      return;
    }
    for (const piece of reasoningTokens) {
      await chunk({ reasoning_content: piece });
      delta(record, script);
      if (script.tokenDelayMs) await sim.wait(script.tokenDelayMs, signal);
    }
    let sent = 0;
    for (const piece of answerTokens) {
      if (script.fault && sent === (script.faultAfter ?? 2)) {
        const outcome = await applyStreamFault(script.fault, sim, send, signal, async () => {
          const error = { error: { message: "Compute error." }, message: "Compute error." };
          await send(`data: ${JSON.stringify(error)}\n\n`);
        });
        if (outcome !== "continue") return outcome;
      }
      await chunk({ content: piece });
      delta(record, script);
      sent++;
      if (script.tokenDelayMs) await sim.wait(script.tokenDelayMs, signal);
      if (signal.aborted) throw new Error("client went away");
    }
    await chunk({}, finish);
    if (includeUsage) {
      await send(
        `data: ${JSON.stringify({ ...base, object: "chat.completion.chunk", choices: [], usage })}\n\n`,
      );
    }
    await send("data: [DONE]\n\n");
  });
}

/** A deterministic unit-ish vector for a text. */
export function fakeVector(text: string, dimension: number): number[] {
  let seed = 2166136261;
  for (let i = 0; i < text.length; i++) seed = Math.imul(seed ^ text.charCodeAt(i), 16777619) >>> 0;
  const out: number[] = [];
  for (let i = 0; i < dimension; i++) {
    seed = Math.imul(seed ^ (seed >>> 15), 2246822507) >>> 0;
    out.push(Math.round(((seed / 4294967295) * 2 - 1) * 1e6) / 1e6);
  }
  return out;
}

function embeddings(_request: Request, raw: unknown, sim: LmStudioSim): Response {
  const body = rec(raw);
  const found = resolveModel(sim, body.model, "embedding");
  if ("error" in found) {
    return openAiError(found.status, found.error, found.status === 404 ? "model_not_found" : null);
  }
  const input = typeof body.input === "string"
    ? [body.input]
    : Array.isArray(body.input)
    ? body.input
    : undefined;
  if (!input?.length || input.some((t) => typeof t !== "string")) {
    return openAiError(400, "'input' must be a string or an array of strings");
  }
  const dimension = (sim.options as InferenceSimOptions).embeddingDimension ?? 768;
  return json({
    object: "list",
    data: (input as string[]).map((text, index) => ({
      object: "embedding",
      embedding: fakeVector(text, dimension),
      index,
    })),
    model: found.model.key,
    usage: { prompt_tokens: 0, total_tokens: 0 },
  });
}

type Route = (request: Request, raw: unknown, sim: LmStudioSim, record: RecordedRequest) => Promise<Response>;

/**
 * Holds one of the model's parallel slots from the request until its reply is fully sent (or the client
 * leaves), so requests beyond the slots queue as they do in LM Studio.
 */
function withSlot(route: Route): Route {
  return async (request, raw, sim, record) => {
    const model = rec(raw).model;
    const release = await sim.acquireSlot(typeof model === "string" ? model : "", request.signal);
    // A client that goes away frees its slot even if its reply was never read.
    request.signal.addEventListener("abort", release, { once: true });
    let response: Response;
    try {
      response = await route(request, raw, sim, record);
    } catch (error) {
      release();
      throw error;
    }
    if (!response.body) {
      release();
      return response;
    }
    const reader = response.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            release();
            controller.close();
          } else controller.enqueue(value);
        } catch (error) {
          release();
          controller.error(error);
        }
      },
      cancel(reason) {
        release();
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  };
}

/** The inference routes; the simulator tries them after the model routes. */
export const INFERENCE_ROUTES: SimRoutes = {
  "POST /api/v1/chat": withSlot(nativeChat),
  "POST /v1/chat/completions": withSlot(chatCompletions),
  "POST /v1/embeddings": embeddings,
};
