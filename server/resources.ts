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
import { onePage } from "./one_page.ts";
import { plural } from "../tools/common/result.ts";
import type { Deps } from "./deps.ts";

/** The template of every session's URI. */
const SESSIONS_TEMPLATE = "lmstudio-mcp://sessions/{id}";

/**
 * Registers the `lmstudio-mcp://sessions/{id}` template: `resources/list` shows every stored chat
 * session, `resources/read` renders one as Markdown; an unknown one is -32602 with its URI.
 *
 * @param server The server
 * @param deps The chat store, the log
 */
export function registerSessionResources(server: McpServer, deps: Deps): void {
  const list = () => {
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
  };
  const metadata = {
    title: "Chat session",
    description: "A stored chat session (system prompt and every turn) as Markdown",
    mimeType: "text/markdown",
  };
  const template = new ResourceTemplate(SESSIONS_TEMPLATE, { list });
  server.registerResource(
    "chat-session",
    template,
    metadata,
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
  // The SDK installed its list handlers with the template; ours answer the same lists in one page.
  server.server.setRequestHandler("resources/list", onePage("resources/list", list));
  server.server.setRequestHandler(
    "resources/templates/list",
    onePage("resources/templates/list", () => ({
      resourceTemplates: [{ name: "chat-session", uriTemplate: SESSIONS_TEMPLATE, ...metadata }],
    })),
  );
}
