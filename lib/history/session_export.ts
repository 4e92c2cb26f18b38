/**
 * A session as Markdown or JSON, for `chat` `export` and the session resources.
 *
 * @module
 */
import type { SessionSummary, Turn } from "./sessions.ts";

/** A session with all its turns. */
export interface SessionDocument {
  /** The session. */
  readonly session: SessionSummary;
  /** Its turns, oldest first. */
  readonly turns: readonly Turn[];
}

/**
 * Renders a session as Markdown: a header, the system prompt, then each turn.
 *
 * @param doc The session and its turns
 * @returns Markdown text
 */
export function sessionMarkdown(doc: SessionDocument): string {
  const { session, turns } = doc;
  const lines = [
    `# Chat session ${session.id}`,
    "",
    `- Model: ${session.model ?? "unknown"}`,
    `- Turns: ${session.turns}`,
    `- Started: ${iso(session.created_at)}`,
    `- Last activity: ${iso(session.updated_at)}`,
    "",
  ];
  if (session.system) lines.push("## System", "", session.system, "");
  for (const turn of turns) {
    lines.push(`## Turn ${turn.seq} — ${iso(turn.created_at)}`, "", "**User:**", "", turn.user, "");
    if (turn.reasoning) {
      lines.push("<details><summary>Reasoning</summary>", "", turn.reasoning, "", "</details>", "");
    }
    lines.push(`**Assistant${turn.model ? ` (${turn.model})` : ""}:**`, "", turn.assistant, "");
  }
  return lines.join("\n");
}

/**
 * Renders a session as JSON (OpenAI-style messages plus the stored details).
 *
 * @param doc The session and its turns
 * @returns Pretty-printed JSON text
 */
export function sessionJson(doc: SessionDocument): string {
  const { session, turns } = doc;
  return JSON.stringify(
    {
      id: session.id,
      model: session.model,
      system: session.system,
      created_at: iso(session.created_at),
      updated_at: iso(session.updated_at),
      messages: [
        ...(session.system ? [{ role: "system", content: session.system }] : []),
        ...turns.flatMap((t) => [
          { role: "user", content: t.user, created_at: iso(t.created_at) },
          {
            role: "assistant",
            content: t.assistant,
            ...(t.reasoning ? { reasoning: t.reasoning } : {}),
            model: t.model,
            usage: { prompt_tokens: t.prompt_tokens, completion_tokens: t.completion_tokens },
          },
        ]),
      ],
    },
    null,
    2,
  );
}

/**
 * Epoch ms as ISO 8601.
 *
 * @param ms Epoch milliseconds
 * @returns e.g. `2026-11-25T16:30:00.000Z`
 */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
