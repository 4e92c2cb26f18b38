/**
 * The chat sessions as MCP resources: `lmstudio-mcp://sessions/{id}`, listed and read as Markdown.
 *
 * @module
 */
import {
  type McpServer,
  ProtocolError,
  ProtocolErrorCode,
  ResourceNotFoundError,
  ResourceTemplate,
} from "./sdk.ts";
import { sessionResourceText, sessionUri } from "../tools/chat.ts";
import { plural } from "../tools/result.ts";
import type { Deps } from "../tools/tool.ts";

/**
 * Registers the `lmstudio-mcp://sessions/{id}` template: `resources/list` shows every stored chat
 * session, `resources/read` renders one as Markdown; an unknown one is -32602 with its URI.
 *
 * @param server The server
 * @param deps The chat store, the log
 */
export function registerSessionResources(server: McpServer, deps: Deps): void {
  const template = new ResourceTemplate("lmstudio-mcp://sessions/{id}", {
    list: () => {
      let sessions;
      try {
        sessions = deps.sessions().list(500, 0);
      } catch (error) {
        // A bad MCP_SESSIONS_DB must not break clients that list resources at start-up; chat says why.
        deps.log.warn(error instanceof Error ? error.message : String(error));
        return { resources: [] };
      }
      return {
        resources: sessions.map((s) => ({
          uri: sessionUri(s.id),
          name: s.id,
          title: `Chat session ${s.id}`,
          description: `${plural(s.turns, "turn")} with ${s.model ?? "an unknown model"}, last active ` +
            new Date(s.updated_at).toISOString(),
          mimeType: "text/markdown",
        })),
      };
    },
  });
  server.registerResource(
    "chat-session",
    template,
    {
      title: "Chat session",
      description: "A stored chat session (system prompt and every turn) as Markdown",
      mimeType: "text/markdown",
    },
    (uri: URL, variables: Record<string, string | string[]>) => {
      const raw = variables.id;
      let id: string;
      try {
        id = decodeURIComponent(Array.isArray(raw) ? raw.join("/") : raw ?? "");
      } catch {
        throw new ProtocolError(
          ProtocolErrorCode.InvalidParams,
          `Malformed session URI ${uri.href}: a %-escape is not valid`,
        );
      }
      const text = sessionResourceText(deps, id);
      if (text === undefined) {
        // -32602 with the URI, as the 2026-07-28 spec asks of every revision (earlier ones used -32002,
        // which the SDK maps to -32602 too): one code for every unknown resource.
        throw new ResourceNotFoundError(
          uri.href,
          `There is no chat session "${id}" (resources/list shows them)`,
        );
      }
      return { contents: [{ uri: uri.href, mimeType: "text/markdown", text }] };
    },
  );
}
