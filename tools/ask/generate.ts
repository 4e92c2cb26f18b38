/**
 * One generation of `ask` with the call's options: LM Studio's native chat, or its OpenAI-compatible
 * endpoint for `json_schema` (structured output) and `ttl`. Every generation goes through the client's
 * load gate, so calls made at once on an unloaded model start one load, not one instance each, and
 * through its instance's KV ledger (lib/inference/admission.ts): it starts when its prompt and `max_tokens` fit the
 * shared cache beside every other request of this process, and a shared-cache overflow is retried alone.
 *
 * @module
 */
import { runAdmitted } from "../../lib/inference/admission.ts";
import { chatCompletion, type ContentPart } from "../../lib/lmstudio/completions.ts";
import { requestTokens } from "../../lib/inference/context_budget.ts";
import { LmStudioError } from "../../lib/errors.ts";
import type { InferenceHooks, InferenceResult } from "../../lib/lmstudio/inference.ts";
import { nativeChat } from "../../lib/lmstudio/native_chat_endpoint.ts";
import type { AskArgs } from "./input.ts";
import type { ToolDeps } from "../tool.ts";

/** What every generation of one call shares. */
export interface AskRequest {
  /** The call's arguments. */
  readonly args: AskArgs;
  /** Client, config, log. */
  readonly deps: ToolDeps;
  /** Whether to stream. */
  readonly stream: boolean;
  /** The output limit. */
  readonly maxTokens: number;
  /** Images as data URLs. */
  readonly images: string[] | undefined;
  /** Whether the OpenAI-compatible endpoint serves it (json_schema, ttl). */
  readonly openAi: boolean;
  /** The model's key in the catalogue (variants and instance ids share one load gate). */
  readonly modelKey: string;
  /** Whether the catalogue shows the model loaded. */
  readonly loaded: boolean;
}

/**
 * Runs one generation, through the load gate: when the model is not loaded and another call is loading
 * it, this one waits for that load; when nobody is, this request's own (JIT) load is the one the others
 * wait for.
 *
 * @param request The call
 * @param prompt The full prompt
 * @param hooks Cancellation, progress, warnings, queue bound
 * @param perRequestContext Whether to send `context_length` (native only; `each` items never do)
 * @returns The result, the parsed JSON for json_schema, and how often a shared-cache overflow was retried
 * @throws {LmStudioError} Whatever the generation throws
 */
export async function generate(
  request: AskRequest,
  prompt: string,
  hooks: InferenceHooks,
  perRequestContext = true,
): Promise<{ result: InferenceResult; json: unknown; retries: number }> {
  const { deps, args } = request;
  const tokens = requestTokens(prompt + (args.system ?? ""), request.maxTokens);
  const { value, retries } = await runAdmitted(
    deps.client,
    args.model,
    tokens,
    () => gated(request, prompt, hooks, perRequestContext),
    {
      signal: hooks.signal,
      onRetry: (attempt, pauseMs) =>
        deps.log.warn(
          `${args.model}: LM Studio's shared KV cache overflowed with other requests in flight; retrying alone ` +
            `in ${pauseMs} ms (attempt ${attempt})`,
        ),
    },
  );
  return { ...value, retries };
}

async function gated(
  request: AskRequest,
  prompt: string,
  hooks: InferenceHooks,
  perRequestContext: boolean,
): Promise<{ result: InferenceResult; json: unknown }> {
  return await request.deps.client.loads.run(request.modelKey, request.loaded, async (markLoaded) => {
    const onProgress = hooks.onProgress;
    const watched: InferenceHooks = {
      ...hooks,
      onProgress: (event) => {
        if (event.phase !== "prompt" && (event.phase !== "loading" || event.fraction === 1)) markLoaded();
        onProgress?.(event);
      },
    };
    return await generateNow(request, prompt, watched, perRequestContext);
  }, hooks.signal);
}

async function generateNow(
  request: AskRequest,
  prompt: string,
  hooks: InferenceHooks,
  perRequestContext: boolean,
): Promise<{ result: InferenceResult; json: unknown }> {
  const contextLength = perRequestContext ? request.args.context_length : undefined;
  const { args, deps, stream, maxTokens, images } = request;
  if (!request.openAi) {
    const result = await nativeChat(
      deps.client,
      {
        model: args.model,
        prompt,
        system: args.system,
        temperature: args.temperature,
        maxTokens,
        reasoning: args.reasoning,
        contextLength,
        images: images?.map((dataUrl) => ({ dataUrl })),
      },
      stream,
      hooks,
    );
    return { result, json: undefined };
  }
  const parts: ContentPart[] = [
    { type: "text", text: prompt },
    ...(images ?? []).map((url) => ({ type: "image_url" as const, image_url: { url } })),
  ];
  let result = await chatCompletion(
    deps.client,
    {
      model: args.model,
      messages: [
        ...(args.system === undefined ? [] : [{ role: "system" as const, content: args.system }]),
        { role: "user", content: images ? parts : prompt },
      ],
      temperature: args.temperature,
      max_tokens: maxTokens,
      ttl: args.ttl,
      response_format: args.json_schema && {
        type: "json_schema",
        json_schema: { name: "answer", strict: true, schema: args.json_schema },
      },
    },
    stream,
    hooks,
  );
  let json: unknown;
  if (args.json_schema) {
    json = parseJsonAnswer(result);
    if (!result.answer.trim()) result = { ...result, answer: JSON.stringify(json, null, 2) };
  }
  return { result, json };
}

/**
 * Parses the JSON answer; some reasoning models put it in the reasoning and leave the answer empty
 * (LM Studio issue #1698), and some wrap it in a code fence.
 */
function parseJsonAnswer(result: InferenceResult): unknown {
  const candidates = [result.answer, result.reasoning ?? ""].map((text) =>
    text.trim().replace(/^```(?:json)?\s*/i, "").replace(/\s*```$/, "")
  ).filter(Boolean);
  for (const text of candidates) {
    try {
      return JSON.parse(text);
    } catch {
      // Try the next place.
    }
  }
  const shown = (result.answer || result.reasoning || "").slice(0, 500);
  throw new LmStudioError(
    `${result.model} did not return valid JSON for json_schema` +
      (result.stop_reason === "length" ? " (it was cut off at max_tokens; raise max_tokens)" : "") +
      `. Its answer was: ${shown || "(empty)"}. Small models may not follow schemas; try a larger model`,
  );
}
