/**
 * The floor a server built on the MCP SDK cannot go below: a bare SDK `Server` on stdio with nothing
 * registered. `deno task bench` times spawn → initialize answered for it next to ours.
 *
 * @module
 */
// @ts-types="@modelcontextprotocol/sdk/server/index"
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
// @ts-types="@modelcontextprotocol/sdk/server/stdio"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";

const server = new Server({ name: "sdk-floor", version: "0" }, { capabilities: { tools: {} } });
await server.connect(new StdioServerTransport());
