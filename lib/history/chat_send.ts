/**
 * A `chat` send: serialised per session, history trimmed to fit the model's context (from the store,
 * never deleting from it), the reply generated with `/v1/chat/completions`, and the turn stored in one
 * transaction only when there is a reply. A failed or cancelled send stores nothing.
 *
 * @module
 */
import { chatCompletion, type ChatMessage } from "../lmstudio/completions.ts";
import { ContextOverflowError, InputError } from "../errors.ts";
import { type InferenceHooks, type InferenceResult, requireAnswer } from "../lmstudio/inference.ts";
import type { LmStudioClient } from "../lmstudio/client.ts";
import { findModel } from "../lmstudio/models.ts";
import { type SessionStore, type SessionSummary, TurnConflictError } from "./sessions.ts";
import { runAdmitted } from "../inference/admission.ts";
import { charBudget, loadedContextLength, requestTokens } from "../inference/context_budget.ts";

/** The reference's defaults for `chat`. */
export const CHAT_DEFAULTS: Readonly<{ temperature: number; maxTokens: number }> = Object.freeze({
  temperature: 0.7,
  maxTokens: 2048,
});

/** Characters per token we assume when trimming (conservative for English and code). */
/** With an unknown context, the most history we send (the reference's cap). */
const UNKNOWN_CONTEXT_CHARS = 10 * 1024 * 1024;

/** What a send needs. */
export interface ChatSendParams {
  /** The session to send to. */
  readonly sessionId: string;
  /** The user's message. */
  readonly message: string;
  /** The model; defaults to the session's last model. */
  readonly model?: string | undefined;
  /** Applied only when the session starts. */
  readonly system?: string | undefined;
  /** Sampling temperature. */
  readonly temperature?: number | undefined;
  /** Output limit in tokens. */
  readonly maxTokens?: number | undefined;
  /** Draft model for speculative decoding. */
  readonly draftModel?: string | undefined;
  /** Seconds of idleness before LM Studio unloads a JIT-loaded model. */
  readonly ttl?: number | undefined;
  /** Whether to stream the reply. @default true */
  readonly stream?: boolean | undefined;
  /**
   * Files sent with this message: `text` goes to LM Studio after the message; the stored turn keeps only
   * `note` (paths and digests), so history stays small and later turns still fit the context.
   */
  readonly attachment?: { readonly text: string; readonly note: string } | undefined;
}

/** What a send returns. */
export interface ChatSendResult {
  /** The generation. */
  readonly result: InferenceResult;
  /** The session after the turn was stored. */
  readonly session: SessionSummary;
  /** Stored turns that were not sent because they did not fit the context. */
  readonly omittedTurns: number;
  /** Why they were omitted. */
  readonly trimReason: string | null;
  /** Set when `system` was given for a session that already has one. */
  readonly systemIgnored: boolean;
}

/** Extra hooks of a send. */
export interface ChatHooks extends InferenceHooks {
  /** Called when another send to the same session holds it. */
  readonly onWaiting?: (() => void) | undefined;
}

/**
 * Sends one message in a session and stores the turn.
 *
 * @param client LM Studio
 * @param store The session store
 * @param params The message and options
 * @param hooks Cancellation, progress
 * @returns The reply and the session
 * @throws {EmptyAnswerError} When the reply has no text (nothing stored)
 * @throws {LmStudioError} Any LM Studio or store failure (nothing stored)
 */
export async function sendChat(
  client: LmStudioClient,
  store: SessionStore,
  params: ChatSendParams,
  hooks: ChatHooks = {},
): Promise<ChatSendResult> {
  const release = await store.lock(params.sessionId, {
    signal: hooks.signal,
    timeoutMs: client.timeouts.inferenceMs + 30_000,
    onWait: hooks.onWaiting,
  });
  try {
    for (let attempt = 0;; attempt++) {
      try {
        return await sendLocked(client, store, params, hooks);
      } catch (error) {
        // Only if a lock was broken (another tool writing the file by hand); retry with fresh history.
        if (!(error instanceof TurnConflictError) || attempt >= 2) throw error;
      }
    }
  } finally {
    release();
  }
}

async function sendLocked(
  client: LmStudioClient,
  store: SessionStore,
  params: ChatSendParams,
  hooks: ChatHooks,
): Promise<ChatSendResult> {
  const session = store.get(params.sessionId);
  const model = params.model ?? session?.model ?? undefined;
  if (!model) {
    throw new InputError(
      `chat send needs a model for the new session "${params.sessionId}": pass model (see model_list)`,
    );
  }
  const system = session ? session.system : params.system ?? null;
  const maxTokens = params.maxTokens ?? CHAT_DEFAULTS.maxTokens;
  const { context: contextTokens, key, loaded } = await loadedContext(client, model, hooks.signal);
  const sent = params.attachment ? `${params.message}\n\n${params.attachment.text}` : params.message;
  const fixedChars = (system?.length ?? 0) + sent.length;
  let budget = contextTokens === undefined
    ? UNKNOWN_CONTEXT_CHARS
    : charBudget(contextTokens, maxTokens, fixedChars);
  let maxTurns = Number.MAX_SAFE_INTEGER;
  let trimReason: string | null = contextTokens === undefined
    ? null
    : `they do not fit ${model}'s loaded context of ${contextTokens} tokens`;
  const total = session?.turns ?? 0;
  for (;;) {
    const history = store.recentTurns(params.sessionId, budget, maxTurns);
    const messages: ChatMessage[] = [
      ...(system === null ? [] : [{ role: "system" as const, content: system }]),
      ...history.flatMap((turn) => [
        { role: "user" as const, content: turn.user },
        { role: "assistant" as const, content: turn.assistant },
      ]),
      { role: "user", content: sent },
    ];
    let result: InferenceResult;
    try {
      // Within the instance's KV ledger (shared with every other call), through the load gate: sends to
      // an unloaded model made at once start one load between them.
      const tokens = requestTokens(messages.map((m) => m.content).join("\n"), maxTokens);
      ({ value: result } = await runAdmitted(
        client,
        model,
        tokens,
        () =>
          client.loads.run(key, loaded, (markLoaded) =>
            chatCompletion(
              client,
              {
                model,
                messages,
                temperature: params.temperature ?? CHAT_DEFAULTS.temperature,
                max_tokens: maxTokens,
                draft_model: params.draftModel,
                ttl: params.ttl,
              },
              params.stream ?? true,
              {
                ...hooks,
                onProgress: (event) => {
                  if (event.phase !== "prompt") markLoaded();
                  hooks.onProgress?.(event);
                },
              },
            ), hooks.signal),
        { signal: hooks.signal },
      ));
    } catch (error) {
      // LM Studio knows the context better than our estimate: halve what we send and try again.
      if (error instanceof ContextOverflowError && history.length > 0) {
        maxTurns = Math.floor(history.length / 2);
        budget = Number.MAX_SAFE_INTEGER;
        trimReason = `LM Studio said they do not fit ${model}'s context`;
        continue;
      }
      throw error;
    }
    requireAnswer(result, {
      reasoningParameter: false,
      note: "Nothing was stored; the session is unchanged.",
    });
    const stored = store.appendTurn(params.sessionId, total, system, {
      user: params.attachment ? `${params.message}\n\n${params.attachment.note}` : params.message,
      assistant: result.answer,
      reasoning: result.reasoning,
      model,
      prompt_tokens: result.stats.input_tokens,
      completion_tokens: result.stats.output_tokens,
    });
    const omitted = total - history.length;
    return {
      result,
      session: stored,
      omittedTurns: omitted,
      trimReason: omitted > 0 ? trimReason : null,
      systemIgnored: session !== undefined && params.system !== undefined && params.system !== session.system,
    };
  }
}

/** Whether `model` is loaded, its key, and the loaded context length when LM Studio says. */
async function loadedContext(
  client: LmStudioClient,
  model: string,
  signal: AbortSignal | undefined,
): Promise<{ context: number | undefined; key: string; loaded: boolean }> {
  try {
    const found = findModel(await client.listModels({ signal }), model);
    return {
      context: loadedContextLength(found ? [found] : [], model),
      key: found?.key ?? model,
      loaded: Boolean(found?.loaded_instances?.length),
    };
  } catch (error) {
    if (signal?.aborted) throw error;
    return { context: undefined, key: model, loaded: true }; // The completion call will report what is wrong.
  }
}
