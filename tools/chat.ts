/**
 * `chat`: multi-turn conversations kept in SQLite. `send` and `reset` are the reference's; `list`,
 * `history`, `delete` and `export` manage the stored sessions from the same tool, so a model finds
 * everything about sessions in one place (see the README for why).
 *
 * Over 350 lines on purpose: the tool's six actions (send, reset, list, history, export, delete) share one
 * input schema and one session check.
 *
 * @module
 */
import { z } from "zod";
import { CHAT_DEFAULTS, sendChat } from "../lib/history/chat_send.ts";
import { type FileSet, frameFiles } from "../lib/files/files.ts";
import {
  contextOf,
  FilesField,
  filesLine,
  filesReport,
  FilesReportSchema,
  type ReadFiles,
  readFilesFor,
} from "./common/file_input.ts";
import { InputError } from "../lib/errors.ts";
import { findModel, formatBytes } from "../lib/lmstudio/models.ts";
import { iso, sessionJson, sessionMarkdown } from "../lib/history/session_export.ts";
import type { SessionStore, SessionSummary } from "../lib/history/sessions.ts";
import { ModelKey, NonBlank } from "./common/fields.ts";
import { inferenceBlocks, progressHook, StatsSchema } from "./common/inference_view.ts";
import { plural, textAndStructured } from "./common/result.ts";
import { defineTool, type ToolContext, type ToolDeps, type ToolSpec } from "./tool.ts";
import { hostReport, routeCall } from "./common/route.ts";
import type { CallToolResult } from "@modelcontextprotocol/server";

const MIB = 1024 * 1024;
const MAX_EXPORT_CHARS = 4 * MIB;

/**
 * A session id: any text of 1 to 256 characters, as mcp-llm-studio accepted, so that every session
 * imported from it (ids like `bug #12`) can be read, continued and deleted. Ids are only ever bound as
 * SQL parameters and hashed for lock file names, never used as paths.
 */
export const SessionId = (): z.ZodString =>
  z.string().min(1, "must not be empty").max(256)
    .refine((id) => id.isWellFormed(), { error: "must be valid Unicode (it holds an unpaired surrogate)" });

const SessionInfoSchema = z.object({
  session_id: z.string(),
  model: z.string().nullable(),
  turns: z.number().int(),
  chars: z.number().int(),
  created_at: z.string(),
  last_activity: z.string(),
});

function info(session: SessionSummary): z.infer<typeof SessionInfoSchema> {
  return {
    session_id: session.id,
    model: session.model,
    turns: session.turns,
    chars: session.chars,
    created_at: iso(session.created_at),
    last_activity: iso(session.updated_at),
  };
}

/** The `chat` tool. */
export const chat: ToolSpec = defineTool("chat", () => ({
  title: "Chat with a local model (kept sessions)",
  description: "Multi-turn chat with a local model, kept by session_id across restarts. action: send " +
    "(default), reset, list, history, export, delete. One-off questions: ask.",
  inputSchema: {
    session_id: SessionId().optional(),
    action: z.enum(["send", "reset", "list", "history", "delete", "export"]).optional(),
    message: NonBlank().max(MIB).optional(),
    model: ModelKey().optional().describe("Default: the session's"),
    system: z.string().max(MIB).optional().describe("Used when a session starts"),
    temperature: z.number().min(0).max(2).optional(),
    max_tokens: z.number().int().min(1).max(1_000_000).optional().describe(
      `Default ${CHAT_DEFAULTS.maxTokens}`,
    ),
    draft_model: ModelKey().optional(),
    ttl: z.number().int().min(1).max(31_536_000).optional(),
    stream: z.boolean().optional(),
    files: FilesField().optional().describe("Attach paths, folders, globs"),
    offset: z.number().int().min(0).optional(),
    limit: z.number().int().min(1).max(500).optional(),
    format: z.enum(["markdown", "json"]).optional(),
  },

  outputSchema: {
    action: z.string(),
    session_id: z.string().optional(),
    reply: z.string().optional(),
    reasoning: z.string().nullable().optional(),
    model: z.string().optional(),
    turns: z.number().int().optional(),
    omitted_turns: z.number().int().optional(),
    stop_reason: z.string().optional(),
    usage: z.object({ prompt_tokens: z.number().nullable(), completion_tokens: z.number().nullable() })
      .optional(),
    stats: StatsSchema().optional(),
    files: FilesReportSchema().optional(),
    sessions: z.array(SessionInfoSchema).optional(),
    total: z.number().int().optional(),
    history: z.array(z.object({
      turn: z.number().int(),
      user: z.string(),
      assistant: z.string(),
      reasoning: z.string().nullable(),
      model: z.string().nullable(),
      created_at: z.string(),
    })).optional(),
    deleted: z.boolean().optional(),
    format: z.string().optional(),
    document: z.string().optional(),
    host: z.string().optional(),
  },
  annotations: {
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: false,
    openWorldHint: false,
  },
}), async (args, deps, context) => {
  const action = args.action ?? "send";
  if (action === "list") return list(deps.sessions(), args.offset ?? 0, args.limit ?? 20);
  const id = args.session_id;
  if (!id) throw new InputError(`chat ${action} needs session_id (chat action=list shows the sessions)`);
  const store = deps.sessions();
  switch (action) {
    case "reset": {
      const existed = await deleteSession(store, id, deps, context);
      return textAndStructured(
        existed
          ? `Session "${id}" was reset: its history is gone. The next send starts it again (with a new system prompt if you give one).`
          : `Session "${id}" had no history; nothing to reset.`,
        { action, session_id: id, turns: 0, deleted: existed },
      );
    }
    case "delete": {
      if (!(await deleteSession(store, id, deps, context))) throw notFound(store, id);
      return textAndStructured(`Deleted session "${id}" and its history.`, {
        action,
        session_id: id,
        deleted: true,
      });
    }
    case "history":
      return history(store, id, args.offset ?? 0, args.limit ?? 20);
    case "export":
      return exportSession(store, id, args.format ?? "markdown");
    case "send":
      break;
  }
  if (args.message === undefined) {
    throw new InputError('chat send needs message (the text to send). To clear a session use action "reset"');
  }
  const label = args.model ?? store.get(id)?.model ?? "the model";
  // The history stays here; with several LM Studio servers the turn goes where the model has room.
  const model = args.model ?? store.get(id)?.model ?? undefined;
  const routed = model === undefined ? undefined : await routeCall(deps, model, { signal: context.signal });
  const on = routed?.deps ?? deps;
  using _counted = routed?.route; // Counted on its server until the call ends.
  const files = args.files ? await attachFiles(args.files, args, label, on, context) : undefined;
  context.progress.update(`Sending to ${label} in session ${id}`);
  const sent = await sendChat(on.client, store, {
    sessionId: id,
    message: args.message,
    model: args.model,
    system: args.system,
    temperature: args.temperature,
    maxTokens: args.max_tokens,
    draftModel: args.draft_model,
    ttl: args.ttl,
    stream: args.stream,
    attachment: files && { text: frameFiles(files.files), note: await filesNote(files) },
  }, {
    signal: context.signal,
    onProgress: progressHook(context.progress, label, args.max_tokens ?? CHAT_DEFAULTS.maxTokens),
    onWarning: (message) => deps.log.warn(message),
    onWaiting: () => context.progress.update(`Waiting for another send to session ${id} to finish`),
  });
  const { result, session } = sent;
  const where = routed ? hostReport(on, routed.route) : { line: "", field: {} };
  const notes = [`Session "${id}": ${plural(session.turns, "turn")} stored.`];
  if (files) notes.push(`${filesLine(files)} The turn stores their paths and digests, not their text.`);
  if (sent.omittedTurns > 0) {
    notes.push(
      `The ${sent.omittedTurns} oldest turn${sent.omittedTurns === 1 ? " was" : "s were"} not sent because ` +
        `${sent.trimReason}; they remain stored.`,
    );
  }
  if (sent.systemIgnored) {
    notes.push(
      "system was ignored: it only applies when a session starts. Reset the session to change it.",
    );
  }
  if (where.line) notes.push(where.line);
  return {
    content: inferenceBlocks(result, notes),
    structuredContent: {
      action,
      session_id: id,
      reply: result.answer,
      reasoning: result.reasoning,
      model: result.model,
      turns: session.turns,
      omitted_turns: sent.omittedTurns,
      stop_reason: result.stop_reason,
      usage: { prompt_tokens: result.stats.input_tokens, completion_tokens: result.stats.output_tokens },
      stats: { ...result.stats },
      ...(files ? { files: filesReport(files) } : {}),
      ...where.field,
    },
  };
});

/** Reads a send's files, sized to what the model's context leaves after the message and the reply. */
async function attachFiles(
  patterns: readonly string[],
  args: { message?: string | undefined; system?: string | undefined; max_tokens?: number | undefined },
  model: string,
  deps: ToolDeps,
  context: ToolContext,
): Promise<ReadFiles> {
  const catalog = await deps.client.catalog({ signal: context.signal });
  return await readFilesFor(patterns, deps, context, {
    window: contextOf(catalog, model),
    maxTokens: args.max_tokens ?? CHAT_DEFAULTS.maxTokens,
    fixedChars: (args.message?.length ?? 0) + (args.system?.length ?? 0),
    advice: {
      max: findModel(catalog, model)?.max_context_length,
      together: true,
      how: (n) => `model_unload ${model}, then model_load it with context_length ${n}`,
    },
  });
}

/** What a stored turn keeps of its files: paths, sizes and short SHA-256 digests. */
async function filesNote(set: FileSet): Promise<string> {
  const parts = await Promise.all(set.files.map(async (file) => {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(file.text)));
    const hex = [...digest.slice(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join("");
    return `${file.path} (${file.chars} characters, sha256 ${hex})`;
  }));
  return `[files sent with this message: ${parts.join(", ")}]`;
}

/** Deletes a session once no send to it is running (a send in flight finishes first). */
async function deleteSession(
  store: SessionStore,
  id: string,
  deps: ToolDeps,
  context: ToolContext,
): Promise<boolean> {
  const release = await store.lock(id, {
    signal: context.signal,
    timeoutMs: deps.config.timeouts.inferenceMs + 30_000,
    onWait: () => context.progress.update(`Waiting for a send to session ${id} to finish`),
  });
  try {
    return store.delete(id);
  } finally {
    release();
  }
}

function notFound(store: SessionStore, id: string): InputError {
  const known = store.list(5, 0).map((s) => s.id);
  return new InputError(
    `There is no session "${id}"` +
      (known.length ? `. Recent sessions: ${known.join(", ")}` : ". No sessions are stored yet") +
      ` (chat action=list shows them all)`,
  );
}

function list(store: SessionStore, offset: number, limit: number): CallToolResult {
  const sessions = store.list(limit, offset);
  const total = store.count();
  const lines = sessions.map((s) =>
    `  • ${s.id} — ${plural(s.turns, "turn")}, ${s.model ?? "model unknown"}, ` +
    `${s.chars} characters, last active ${iso(s.updated_at)}`
  );
  const header = total === 0
    ? `No chat sessions are stored yet (history file: ${store.location}).`
    : `${total} session${total === 1 ? "" : "s"} (showing ${sessions.length ? offset + 1 : 0}–${
      offset + sessions.length
    }, most recent first):`;
  const more = offset + sessions.length < total
    ? [`  … more: call again with offset ${offset + sessions.length}`]
    : [];
  return textAndStructured([header, ...lines, ...more].join("\n"), {
    action: "list",
    sessions: sessions.map(info),
    total,
  });
}

function history(store: SessionStore, id: string, offset: number, limit: number): CallToolResult {
  const session = store.get(id);
  if (!session) throw notFound(store, id);
  const turns = store.turns(id, offset, limit);
  const clip = (text: string) => text.length > 2000 ? `${text.slice(0, 2000)}… (${text.length} chars)` : text;
  const lines = [
    `Session "${id}" — ${plural(session.turns, "turn")}, model ${session.model ?? "unknown"}` +
    (turns.length ? `; turns ${turns[0]!.seq}–${turns.at(-1)!.seq}:` : "; no turns in this range."),
    ...(offset === 0 && session.system ? [`[system] ${clip(session.system)}`] : []),
    ...turns.flatMap((
      t,
    ) => [`[${t.seq}] user: ${clip(t.user)}`, `[${t.seq}] assistant: ${clip(t.assistant)}`]),
  ];
  if (offset + turns.length < session.turns) {
    lines.push(`… more: call again with offset ${offset + turns.length}`);
  }
  return textAndStructured(lines.join("\n"), {
    action: "history",
    session_id: id,
    model: session.model ?? undefined,
    turns: session.turns,
    total: session.turns,
    history: turns.map((t) => ({
      turn: t.seq,
      user: t.user,
      assistant: t.assistant,
      reasoning: t.reasoning,
      model: t.model,
      created_at: iso(t.created_at),
    })),
  });
}

function exportSession(store: SessionStore, id: string, format: "markdown" | "json"): CallToolResult {
  const session = store.get(id);
  if (!session) throw notFound(store, id);
  const doc = { session, turns: store.turns(id, 0, session.turns) };
  let document = format === "json" ? sessionJson(doc) : sessionMarkdown(doc);
  let note = "";
  if (document.length > MAX_EXPORT_CHARS) {
    document = document.slice(0, MAX_EXPORT_CHARS);
    note =
      `\n\n[Export cut at ${formatBytes(MAX_EXPORT_CHARS)}; read the rest with action history and offset, ` +
      `or the resource ${sessionUri(id)}]`;
  }
  return textAndStructured(document + note, {
    action: "export",
    session_id: id,
    format,
    turns: session.turns,
    document,
  });
}

/**
 * Reads a session for the resources: the whole session as Markdown.
 *
 * @param deps The dependencies
 * @param id The session id
 * @returns The Markdown, or undefined when there is no such session
 */
export function sessionResourceText(deps: ToolDeps, id: string): string | undefined {
  const store = deps.sessions();
  const session = store.get(id);
  if (!session) return undefined;
  return sessionMarkdown({ session, turns: store.turns(id, 0, session.turns) });
}

/**
 * The URI of a session resource.
 *
 * @param id The session id
 * @returns `lmstudio-mcp://sessions/<id, escaped>`
 */
export function sessionUri(id: string): string {
  return `lmstudio-mcp://sessions/${encodeURIComponent(id)}`;
}
