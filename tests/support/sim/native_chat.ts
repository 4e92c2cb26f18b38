/**
 * `POST /api/v1/chat`, LM Studio's native chat: plain and SSE with every documented event, the shared
 * KV cache of the instance, overflow as LM Studio reports it, and the scripted faults.
 *
 * @module
 */
import {
  answerFor,
  applyStreamFault,
  canReason,
  delta,
  estimateTokens,
  generate,
  type InferenceSimOptions,
  loadedContext,
  overflowText,
  resolveModel,
  sseResponse,
  tokens,
} from "./inference.ts";
import { imageProblem, validateReasoning } from "./strict.ts";
import { CONTEXT_EXCEEDED, KvLease } from "./engine.ts";
import { json, nativeError, rec } from "./replies.ts";
import { type LmStudioSim, type RecordedRequest } from "../lmstudio_sim.ts";

export async function nativeChat(
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
    if (inputTokens > context) {
      return nativeError(400, "invalid_request", overflowText(sim, inputTokens, context));
    }
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
          await event("error", {
            error: { type: "invalid_request", message: overflowText(sim, inputTokens, context) },
          });
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
