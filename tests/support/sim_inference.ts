/**
 * The simulator's inference routes, faithful to LM Studio's REST and OpenAI-compatible docs: native `POST /api/v1/chat`
 * (plain and SSE with every documented event), `POST /v1/chat/completions` (plain and SSE with
 * `[DONE]`, usage, in-band errors) and `POST /v1/embeddings`. What the "model" says and which fault
 * to inject is set per test with `sim.chatScript`.
 *
 * @module
 */
import type { LmStudioSim, RecordedRequest, SimInstance, SimModel, SimRoutes } from "./lmstudio_sim.ts";
import { CONTEXT_EXCEEDED, type KvLease } from "./sim_engine.ts";
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
  /**
   * How a prompt larger than the loaded context looks on a `/v1/chat/completions` stream: HTTP 200 with
   * `event: error` and "Input does not fit in context length…" (current servers, lmstudio-bug-tracker#2322;
   * the default), an error chunk without an event name (older servers), or a 200 stream with no content
   * delta at all (GGUF, lmstudio-bug-tracker#2339).
   */
  openAiOverflow?: "event-error" | "error-chunk" | "empty-stream";
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

/**
 * Finds the model of an inference request and its ready instance; LM Studio loads the model on demand
 * (JIT) when there is none, which the route does with {@linkcode LmStudioSim.jitLoad}.
 */
function resolveModel(
  sim: LmStudioSim,
  key: unknown,
  kind: "llm" | "embedding",
): { model: SimModel; instance: SimInstance | undefined } | { error: string; status: number } {
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
  const instance = model.loaded_instances.find((i) => i.id === key) ?? model.loaded_instances[0];
  if (!instance && (sim.options as InferenceSimOptions).jit === false) {
    return {
      error: "No models loaded. Please load a model in the developer page or use the 'lms load' command.",
      status: 404,
    };
  }
  return { model, instance };
}

function loadedContext(instance: SimInstance): number {
  const value = instance.config.context_length;
  return typeof value === "number" ? value : 4096;
}

/** "Input does not fit…", as current servers word a prompt larger than the context (#2322). */
function doesNotFit(sim: LmStudioSim, input: number, context: number): string {
  return (sim.options as InferenceSimOptions).overflowMessage ??
    `Input does not fit in context length. The input has ${input} tokens, but the context length only ` +
      `supports ${context} tokens.`;
}

/** The 200 `event: error` LM Studio streams on `/v1/chat/completions`, byte for byte as captured (#2322). */
function openAiErrorEvent(message: string): string {
  return `event: error\ndata: ${JSON.stringify({ error: { message }, message })}\n\n`;
}

/**
 * Generates `pieces` into the shared KV cache one token at a time, pausing `tokenDelayMs` after each;
 * stops when the cache ran out (every request in flight then fails) or the client left.
 */
async function generate(
  sim: LmStudioSim,
  lease: KvLease,
  pieces: readonly string[],
  script: ChatScript,
  signal: AbortSignal,
  each: (piece: string) => Promise<void> = async () => {},
): Promise<"exceeded" | "done"> {
  for (const piece of pieces) {
    if (!lease.grow(1)) return "exceeded";
    await each(piece);
    if (script.tokenDelayMs) await sim.wait(script.tokenDelayMs, signal);
    if (lease.failed.aborted) return "exceeded";
    if (signal.aborted) throw new Error("client went away");
  }
  return "done";
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
  const { model } = found;
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
  const prompt = typeof body.input === "string"
    ? body.input
    : items.filter((item) => item.type === "text").map((item) => String(item.content)).join("\n");
  const inputTokens = estimateTokens(
    prompt + (typeof body.system_prompt === "string" ? body.system_prompt : ""),
  );
  const requestedContext = typeof body.context_length === "number" ? body.context_length : undefined;
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
  let jitLoaded = false;
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
    let instance = found.instance;
    if (!instance) {
      instance = await sim.jitLoad(model, { context: requestedContext, signal: request.signal });
      if (!instance) return json({ error: "aborted" }, 499);
      jitLoaded = true;
    }
    record.instance = instance.id;
    const context = requestedContext ?? loadedContext(instance);
    if (inputTokens > context) return nativeError(400, "invalid_request", overflowText(sim));
    let lease: KvLease;
    try {
      lease = await sim.engine(instance.id).admit(inputTokens, context, request.signal);
    } catch {
      return json({ error: "aborted" }, 499);
    }
    record.admittedAt = performance.now();
    try {
      const outcome = await generate(
        sim,
        lease,
        [...reasoningTokens, ...answerTokens],
        script,
        request.signal,
      )
        .catch(() => "gone" as const);
      if (outcome === "exceeded") return nativeError(500, "internal_error", CONTEXT_EXCEEDED);
      if (outcome === "gone" || request.signal.aborted) return json({ error: "aborted" }, 499);
      return json({ model_instance_id: instance.id, output, stats: stats(undefined) });
    } finally {
      lease.release();
    }
  }
  return sseResponse(sim, request, record, script, async (send, signal) => {
    const event = (type: string, data: Record<string, unknown> = {}) =>
      send(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    let instance = found.instance;
    if (instance) await event("chat.start", { model_instance_id: instance.id });
    else {
      let id = model.key;
      instance = await sim.jitLoad(model, {
        context: requestedContext,
        signal,
        onStart: async (loading) => {
          id = loading;
          await event("chat.start", { model_instance_id: id });
          await event("model_load.start", { model_instance_id: id });
        },
        onProgress: (progress) => event("model_load.progress", { model_instance_id: id, progress }),
      });
      if (!instance) throw new Error("client went away");
      jitLoaded = true;
      await event("model_load.end", { model_instance_id: id, load_time_seconds: 0.25 });
    }
    const instanceId = instance.id;
    record.instance = instanceId;
    const context = requestedContext ?? loadedContext(instance);
    // LM Studio answers chat.start at once; the rest waits until a slot is free.
    const lease = inputTokens > context
      ? undefined
      : await sim.engine(instanceId).admit(inputTokens, context, signal);
    record.admittedAt = performance.now();
    try {
      await event("prompt_processing.start");
      const steps = script.promptSteps ?? 2;
      for (let i = 1; i <= steps; i++) await event("prompt_processing.progress", { progress: i / steps });
      await event("prompt_processing.end");
      const end = (items: unknown[], statsOf: Record<string, unknown>) =>
        event("chat.end", { result: { model_instance_id: instanceId, output: items, stats: statsOf } });
      if (!lease) {
        if ((sim.options as InferenceSimOptions).overflow === "empty-stream") {
          await end([], { input_tokens: inputTokens, total_output_tokens: 0 });
        } else {
          await event("error", { error: { type: "invalid_request", message: overflowText(sim) } });
          await end([], {});
        }
        return;
      }
      if (script.fault === "empty") {
        await end([], {});
        return;
      }
      let firstTokenAt: number | undefined;
      const exceeded = async (sent: string) => {
        await event("error", { error: { type: "internal_error", message: CONTEXT_EXCEEDED } });
        await end([{ type: "message", content: sent }], stats(firstTokenAt));
      };
      if (reasoningTokens.length) {
        await event("reasoning.start");
        for (const piece of reasoningTokens) {
          if (!lease.grow(1)) return await exceeded("");
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
            await end(
              [{ type: "message", content: answerTokens.slice(0, sent).join("") }],
              stats(firstTokenAt),
            );
          });
          if (outcome !== "continue") return outcome;
        }
        if (!lease.grow(1)) return await exceeded(answerTokens.slice(0, sent).join(""));
        firstTokenAt ??= performance.now();
        await event("message.delta", { content: piece });
        delta(record, script);
        sent++;
        if (script.tokenDelayMs) await sim.wait(script.tokenDelayMs, signal);
        if (signal.aborted) throw new Error("client went away");
      }
      if (lease.failed.aborted) return await exceeded(answerTokens.join(""));
      await event("message.end");
      await end(output, stats(firstTokenAt));
    } finally {
      lease?.release();
    }
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
  const ttl = typeof body.ttl === "number" ? body.ttl : undefined;
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
  const form = (sim.options as InferenceSimOptions).openAiOverflow ?? "event-error";
  if (body.stream !== true) {
    const instance = found.instance ?? await sim.jitLoad(model, { ttl, signal: request.signal });
    if (!instance) return json({ error: "aborted" }, 499);
    record.instance = instance.id;
    const context = loadedContext(instance);
    if (promptTokens > context) {
      return openAiError(
        400,
        form === "event-error" ? doesNotFit(sim, promptTokens, context) : overflowText(sim),
      );
    }
    let lease: KvLease;
    try {
      lease = await sim.engine(instance.id).admit(promptTokens, context, request.signal);
    } catch {
      return json({ error: "aborted" }, 499);
    }
    record.admittedAt = performance.now();
    try {
      if (script.fault === "empty") answerTokens.length = 0;
      const outcome = await generate(
        sim,
        lease,
        [...reasoningTokens, ...answerTokens],
        script,
        request.signal,
      )
        .catch(() => "gone" as const);
      if (outcome === "exceeded") {
        return json(
          { error: { message: CONTEXT_EXCEEDED, type: "server_error", param: null, code: null } },
          500,
        );
      }
      if (outcome === "gone" || request.signal.aborted) return json({ error: "aborted" }, 499);
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
    } finally {
      lease.release();
    }
  }
  const includeUsage = rec(body.stream_options).include_usage === true;
  return sseResponse(sim, request, record, script, async (send, signal) => {
    const instance = found.instance ?? await sim.jitLoad(model, { ttl, signal });
    if (!instance) throw new Error("client went away");
    record.instance = instance.id;
    const context = loadedContext(instance);
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
    const usageChunk = (counts: Record<string, number>) =>
      send(
        `data: ${
          JSON.stringify({ ...base, object: "chat.completion.chunk", choices: [], usage: counts })
        }\n\n`,
      );
    if (promptTokens > context) {
      if (form === "event-error") await send(openAiErrorEvent(doesNotFit(sim, promptTokens, context)));
      else if (form === "error-chunk") {
        await send(
          `data: ${
            JSON.stringify({ error: { message: overflowText(sim), type: "invalid_request_error" } })
          }\n\n`,
        );
      } else {
        // GGUF (#2339): a well-formed stream, usage counted, and not one content delta.
        await chunk({ role: "assistant", content: "" });
        await chunk({}, "stop");
        if (includeUsage) {
          await usageChunk({ prompt_tokens: promptTokens, completion_tokens: 0, total_tokens: promptTokens });
        }
        await send("data: [DONE]\n\n");
      }
      return;
    }
    const lease = await sim.engine(instance.id).admit(promptTokens, context, signal);
    record.admittedAt = performance.now();
    try {
      const exceeded = () => send(openAiErrorEvent(CONTEXT_EXCEEDED));
      await chunk({ role: "assistant", content: "" });
      if (script.fault === "empty") {
        // The model said nothing: LM Studio still counts the prompt, which fit.
        await chunk({}, "stop");
        if (includeUsage) {
          await usageChunk({ prompt_tokens: promptTokens, completion_tokens: 0, total_tokens: promptTokens });
        }
        await send("data: [DONE]\n\n");
        return;
      }
      for (const piece of reasoningTokens) {
        if (!lease.grow(1)) return await exceeded();
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
        if (!lease.grow(1)) return await exceeded();
        await chunk({ content: piece });
        delta(record, script);
        sent++;
        if (script.tokenDelayMs) await sim.wait(script.tokenDelayMs, signal);
        if (signal.aborted) throw new Error("client went away");
      }
      if (lease.failed.aborted) return await exceeded();
      await chunk({}, finish);
      if (includeUsage) await usageChunk(usage);
      await send("data: [DONE]\n\n");
    } finally {
      lease.release();
    }
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

async function embeddings(request: Request, raw: unknown, sim: LmStudioSim): Promise<Response> {
  const body = rec(raw);
  const found = resolveModel(sim, body.model, "embedding");
  if ("error" in found) {
    return openAiError(found.status, found.error, found.status === 404 ? "model_not_found" : null);
  }
  if (!found.instance && !(await sim.jitLoad(found.model, { signal: request.signal }))) {
    return json({ error: "aborted" }, 499);
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

/** The inference routes; the simulator tries them after the model routes. */
export const INFERENCE_ROUTES: SimRoutes = {
  "POST /api/v1/chat": nativeChat,
  "POST /v1/chat/completions": chatCompletions,
  "POST /v1/embeddings": embeddings,
};
