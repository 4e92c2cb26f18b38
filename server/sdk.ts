/**
 * The MCP SDK's runtime symbols (the v2 packages `@modelcontextprotocol/server` and
 * `@modelcontextprotocol/core`), imported in one place for the server and the transports. Tools import
 * only SDK types, straight from the package (a tool never calls the SDK).
 *
 * @module
 */
import {
  completable,
  createMcpHandler,
  isLegacyRequest,
  McpServer,
  MissingRequiredClientCapabilityError,
  ProtocolError,
  ProtocolErrorCode,
  ResourceNotFoundError,
  ResourceTemplate,
  WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/server";
import { serveStdio } from "@modelcontextprotocol/server/stdio";
import type { StdioServerHandle } from "@modelcontextprotocol/server/stdio";
import type {
  CallToolResult,
  EventStore,
  JSONRPCMessage,
  LoggingLevel,
  McpHttpHandler,
  McpRequestContext,
  ServerContext,
  ToolAnnotations,
  Transport,
} from "@modelcontextprotocol/server";

export {
  completable,
  createMcpHandler,
  isLegacyRequest,
  McpServer,
  MissingRequiredClientCapabilityError,
  ProtocolError,
  ProtocolErrorCode,
  ResourceNotFoundError,
  ResourceTemplate,
  serveStdio,
  WebStandardStreamableHTTPServerTransport,
};

/** The protocol revision of the stateless era (no `initialize`, a `_meta` envelope on every request). */
export const MODERN_REVISION = "2026-07-28";

/** The 2025-era revisions served (an `initialize` handshake, sessions), newest first. */
export const LEGACY_REVISIONS: readonly string[] = ["2025-11-25", "2025-06-18", "2025-03-26"];

/** Every revision served, newest first: what `server/discover` and a -32022 error list. */
export const SERVED_REVISIONS: readonly string[] = [MODERN_REVISION, ...LEGACY_REVISIONS];

export type {
  CallToolResult,
  EventStore,
  JSONRPCMessage,
  LoggingLevel,
  McpHttpHandler,
  McpRequestContext,
  ServerContext,
  StdioServerHandle,
  ToolAnnotations,
  Transport,
};
