/**
 * The MCP SDK symbols the server uses, imported in one place with their real types.
 *
 * Why this file exists: the SDK's package.json maps every `./*` subpath's types to `./dist/esm/*.d.ts`,
 * so `@modelcontextprotocol/sdk/server/mcp.js` looks for `mcp.js.d.ts`, which does not exist, and
 * Deno silently types the import as `any`. `@ts-types` points the checker at the extension-less
 * subpath, whose types do resolve, while the runtime keeps the `.js` path that loads.
 *
 * @module
 */
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
// @ts-types="@modelcontextprotocol/sdk/shared/protocol"
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  RootsListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
// @ts-types="@modelcontextprotocol/sdk/server/webStandardStreamableHttp"
import {
  type EventStore,
  WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/server/completable"
import { completable } from "@modelcontextprotocol/sdk/server/completable.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import type {
  CallToolResult,
  ServerNotification,
  ServerRequest,
  ToolAnnotations,
} from "@modelcontextprotocol/sdk/types.js";

export {
  CallToolRequestSchema,
  completable,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  McpServer,
  ResourceTemplate,
  RootsListChangedNotificationSchema,
  WebStandardStreamableHTTPServerTransport,
};

/** MCP's "resource not found" JSON-RPC error code (the spec's -32002; the SDK has no name for it). */
export const RESOURCE_NOT_FOUND = -32002;
export type {
  CallToolResult,
  EventStore,
  RequestHandlerExtra,
  ServerNotification,
  ServerRequest,
  ToolAnnotations,
};
