/**
 * The floor a server built on the MCP SDK cannot go below: a bare SDK `Server` on stdio with one trivial
 * tool (`ping`), served by the SDK's own stdio entry for both protocol eras. `deno task bench` times its
 * cold start, and a `ping` round trip (the protocol's own cost per call), next to ours.
 *
 * @module
 */
import { Server } from "@modelcontextprotocol/server";
import { serveStdio } from "@modelcontextprotocol/server/stdio";

serveStdio(() => {
  const server = new Server({ name: "sdk-floor", version: "0" }, { capabilities: { tools: {} } });
  server.setRequestHandler("tools/list", () => ({
    tools: [{ name: "ping", description: "Answers pong", inputSchema: { type: "object" as const } }],
  }));
  server.setRequestHandler("tools/call", () => ({ content: [{ type: "text" as const, text: "pong" }] }));
  return server;
});
