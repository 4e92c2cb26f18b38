/**
 * The floor a server built on the MCP SDK cannot go below: a bare SDK `Server` on stdio with one trivial
 * tool (`ping`). `deno task bench` times its cold start, and a `ping` round trip (the protocol's own cost
 * per call), next to ours.
 *
 * @module
 */
// @ts-types="@modelcontextprotocol/sdk/server/index"
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
// @ts-types="@modelcontextprotocol/sdk/server/stdio"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const server = new Server({ name: "sdk-floor", version: "0" }, { capabilities: { tools: {} } });
server.setRequestHandler(ListToolsRequestSchema, () => ({
  tools: [{ name: "ping", description: "Answers pong", inputSchema: { type: "object" as const } }],
}));
server.setRequestHandler(
  CallToolRequestSchema,
  () => ({ content: [{ type: "text" as const, text: "pong" }] }),
);
await server.connect(new StdioServerTransport());
