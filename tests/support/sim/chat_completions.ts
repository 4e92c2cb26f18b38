/**
 * `POST /v1/chat/completions`, the OpenAI-compatible endpoint: plain and SSE with `[DONE]`, usage and
 * in-band errors, `response_format`, the shared KV cache, and each overflow form current servers send.
 *
 * @module
 */
import {
  answerFor,
  applyStreamFault,
  canReason,
  delta,
  doesNotFit,
  estimateTokens,
  generate,
  type InferenceSimOptions,
  loadedContext,
  messageText,
  openAiErrorEvent,
  overflowText,
  resolveModel,
  sampleFor,
  sseResponse,
  tokens,
} from "./inference.ts";
import { imageProblem } from "./strict.ts";
import { CONTEXT_EXCEEDED, KvLease } from "./engine.ts";
import { json, openAiError, rec } from "./replies.ts";
import { type LmStudioSim, type RecordedRequest } from "../lmstudio_sim.ts";

export async function chatCompletions(
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
