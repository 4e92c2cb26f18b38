/**
 * What the simulator's inference routes share: the model's script (`sim.chatScript`), token counting,
 * model resolution with on-demand (JIT) loads, overflow messages as LM Studio words them, the SSE writer
 * and stream faults.
 *
 * @module
 */
import { KvLease } from "./engine.ts";
import { encoder, rec } from "./replies.ts";
import { type LmStudioSim, type RecordedRequest, type SimInstance, type SimModel } from "../lmstudio_sim.ts";

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

/** Splits text into token-like pieces that keep their leading whitespace. */
export function tokens(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [];
}

/**
 * Tokens as a real tokenizer counts them, roughly: one per Han, kana or Hangul character (the Qwen3,
 * Gemma3 and o200k tokenizers give 1.3–2.1 characters per token on Chinese, Japanese and Korean, so one
 * per character is the strict end), CJK punctuation and full-width forms included; one per four
 * characters of anything else (English prose and code run 3.4–4.1).
 */
export function estimateTokens(text: string): number {
  let cjk = 0;
  let other = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isCjkUnit(c)) cjk++;
    else if (c >= 0xd840 && c <= 0xd8bf) {
      cjk++; // A supplementary Han character: its low surrogate follows.
      i++;
    } else other++;
  }
  return cjk + Math.ceil(other / 4);
}

function isCjkUnit(c: number): boolean {
  return (c >= 0x3000 && c <= 0x30ff) || (c >= 0x3130 && c <= 0x318f) || (c >= 0x31f0 && c <= 0x9fff) ||
    (c >= 0xac00 && c <= 0xd7af) || (c >= 0x1100 && c <= 0x11ff) || (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0xff00 && c <= 0xffef);
}

/**
 * LM Studio's refusal of a prompt larger than the context; llama.cpp names both sizes (n_keep, n_ctx)
 * when they are known.
 */
export function overflowText(sim: LmStudioSim, input?: number, context?: number): string {
  const custom = (sim.options as InferenceSimOptions).overflowMessage;
  if (custom !== undefined) return custom;
  if (input === undefined || context === undefined) return OVERFLOW_MESSAGE;
  return OVERFLOW_MESSAGE.replace(
    "context length.",
    `context length (n_keep: ${input} >= n_ctx: ${context}).`,
  );
}

export const OVERFLOW_MESSAGE =
  "The number of tokens to keep from the initial prompt is greater than the context " +
  "length. Try to load the model with a larger context length, or provide a shorter input";

/**
 * Finds the model of an inference request and its ready instance; LM Studio loads the model on demand
 * (JIT) when there is none, which the route does with {@linkcode LmStudioSim.jitLoad}.
 */
export function resolveModel(
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

export function loadedContext(instance: SimInstance): number {
  const value = instance.config.context_length;
  return typeof value === "number" ? value : 4096;
}

/** "Input does not fit…", as current servers word a prompt larger than the context (#2322). */
export function doesNotFit(sim: LmStudioSim, input: number, context: number): string {
  return (sim.options as InferenceSimOptions).overflowMessage ??
    `Input does not fit in context length. The input has ${input} tokens, but the context length only ` +
      `supports ${context} tokens.`;
}

/** The 200 `event: error` LM Studio streams on `/v1/chat/completions`, byte for byte as captured (#2322). */
export function openAiErrorEvent(message: string): string {
  return `event: error\ndata: ${JSON.stringify({ error: { message }, message })}\n\n`;
}

/**
 * Generates `pieces` into the shared KV cache one token at a time, pausing `tokenDelayMs` after each;
 * stops when the cache ran out (every request in flight then fails) or the client left.
 */
export async function generate(
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

export function canReason(model: SimModel, requested: unknown): boolean {
  const reasoning = rec(model.capabilities?.reasoning);
  return Array.isArray(reasoning.allowed_options) && requested !== "off";
}

/** A streamed SSE response whose body is written by `write`; records an early client abort. */
/** Counts one streamed delta and tells the script. */
export function delta(record: RecordedRequest, script: ChatScript): void {
  record.deltas = (record.deltas ?? 0) + 1;
  script.onDelta?.(record);
}

export function sseResponse(
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

export function answerFor(script: ChatScript, body: Record<string, unknown>, fallback: string): string {
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

/**
 * Injects a mid-stream fault; both stream routes share it. Returns "drop" to break the connection,
 * "end" to finish the stream now, or "continue" to go on with the next delta.
 */
export async function applyStreamFault(
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

export function messageText(message: unknown): string {
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
