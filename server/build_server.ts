/**
 * The server: every tool registered in one loop through one wrapper, which holds the only catch
 * that turns failures into MCP `isError` results and owns each call's progress reporter.
 *
 * @module
 */
import {
  type CallToolResult,
  McpServer,
  ProtocolError,
  ProtocolErrorCode,
  SERVED_REVISIONS,
  type ServerContext,
} from "./sdk.ts";
import { fileURLToPath } from "node:url";
import { InputError } from "../lib/errors.ts";
import { type Logger, teeLogger } from "../lib/config/logger.ts";
import { TOOLS } from "../tools/index.ts";
import { ProgressReporter, type SendProgress } from "./progress.ts";
import { registerPrompts } from "./prompts.ts";
import { registerSessionResources } from "./resources.ts";
import { clientTakesTasks, registerTaskMethods, startTask, TASKS_EXTENSION, worthATask } from "./tasks.ts";
import { toolList } from "./tool_list.ts";
import { onePage } from "./one_page.ts";
import { errorResult } from "./error_boundary.ts";
import type { Deps } from "./deps.ts";
import type { ToolSpec } from "../tools/tool.ts";

function failure(text: string): CallToolResult {
  return { content: [{ type: "text", text }], isError: true };
}

/** A zod issue path as `a.b[0]`. */
function dotPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (out, segment, i) =>
      i === 0
        ? String(segment)
        : typeof segment === "number"
        ? `${out}[${segment}]`
        : `${out}.${String(segment)}`,
    "",
  );
}

const BY_NAME: ReadonlyMap<string, ToolSpec> = new Map(TOOLS.map((tool) => [tool.name, tool]));

const INSTRUCTIONS = "Drives a local LM Studio. Call model_list first to find exact model keys. " +
  "model_load / model_unload manage memory; model_download fetches new models. ask sends one " +
  "prompt (answer, reasoning and stats); chat holds stored multi-turn sessions (also browsable as " +
  "lmstudio-mcp://sessions/{id} resources); embed returns vectors.";

/**
 * How long 2026-07-28 clients may reuse a list (`ttlMs`, `cacheScope`): the tools, prompts and templates
 * are fixed for the life of the process and the same for every client; the sessions (resources/list and
 * reads) change with every chat turn and belong to whoever holds the store.
 */
const CACHE_HINTS = {
  "server/discover": { ttlMs: 300_000, cacheScope: "public" },
  "tools/list": { ttlMs: 300_000, cacheScope: "public" },
  "prompts/list": { ttlMs: 300_000, cacheScope: "public" },
  "resources/templates/list": { ttlMs: 300_000, cacheScope: "public" },
  "resources/list": { ttlMs: 0, cacheScope: "private" },
  "resources/read": { ttlMs: 0, cacheScope: "private" },
} as const;

/** Name and version the server reports in `initialize` and `server/discover`. */
export interface ServerInfo {
  /** Server name. */
  readonly name: string;
  /** Server version. */
  readonly version: string;
}

/** Which protocol era an instance serves: 2025 (`initialize`, sessions) or 2026-07-28 (stateless). */
export type Era = "legacy" | "modern";

/** Who the tasks of a 2026-07-28 instance belong to, when the entry does not say: the local user. */
export const LOCAL_OWNER = "local";

/** How one instance is scoped by the entry that asks for it. */
export interface InstanceScope {
  /** Who the tasks it starts and serves belong to. @default the local user */
  readonly taskOwner?: string | undefined;
  /** Aborts every call of the instance (an HTTP server shutting down). */
  readonly shutdown?: AbortSignal | undefined;
}

/**
 * Builds one server instance for an era: what a transport is given to serve with (the SDK examples'
 * `(era) => McpServer`), so that transports know neither the tools nor their dependencies.
 */
export type ServerFactory = (era: Era, scope?: InstanceScope) => McpServer;

/** What an entry (stdio, HTTP) serves: the factory, the process's log (redacted), name and version. */
export interface McpApp {
  /** Builds a server instance. */
  readonly make: ServerFactory;
  /** The process's log: stderr, every line redacted. */
  readonly log: Logger;
  /** Name and version (`initialize`, `server/discover`, `/health`). */
  readonly info: ServerInfo;
}

/**
 * The app of a process: instances built on its dependencies, its log, its name. `main.ts` (the composition
 * root) builds it once and hands it to a transport; the HTTP tests do the same.
 *
 * @param deps The process's dependencies (server/deps.ts)
 * @param info Name and version
 * @returns The app
 */
export function mcpApp(deps: Deps, info: ServerInfo): McpApp {
  return {
    make: (era, scope = {}) =>
      createServer(scope.shutdown ? { ...deps, shutdown: scope.shutdown } : deps, info, era, scope.taskOwner),
    log: deps.log,
    info,
  };
}

/**
 * Builds the MCP server with every tool registered. The same builder serves both protocol eras: the
 * entries (stdio, HTTP) call it once per 2025 session or stdio connection, and once per 2026-07-28
 * request over HTTP.
 *
 * @param given The client, config, logger and session store
 * @param info Name and version for `initialize` / `server/discover`
 * @param era The era the instance will serve (roots are asked of 2025 clients only; tasks are served to
 *   2026-07-28 clients only)
 * @param taskOwner Who the tasks this instance starts and serves belong to (the entry knows: the token
 *   holder over HTTP, the local user on stdio)
 * @returns The server, not yet connected to a transport
 */
export function createServer(
  given: Deps,
  info: ServerInfo,
  era: Era = "legacy",
  taskOwner: string = LOCAL_OWNER,
): McpServer {
  const server = new McpServer(info, {
    capabilities: {
      tools: { listChanged: false },
      logging: {},
      // The tasks extension exists on 2026-07-28 only (SEP-2663).
      ...(era === "modern" ? { extensions: { [TASKS_EXTENSION]: {} } } : {}),
    },
    instructions: INSTRUCTIONS,
    cacheHints: CACHE_HINTS,
  });
  if (era === "modern") discoverEveryRevision(server);
  // When the client goes away (stdin closed, session ended), abort every call in flight so LM Studio
  // stops generating and the process can exit.
  const shutdown = new AbortController();
  server.server.onclose = () => shutdown.abort();
  // Secrets never leave the process: redacted from error results, and from every log line on stderr
  // (the log given is already redacting: buildDeps wraps it, once) and in each copy sent to the client.
  const redact = given.redact;
  const stderr = given.log;
  // A 2025 session also gets the server's own warnings (say, a store that cannot be listed) as MCP log
  // messages, at the level it set with logging/setLevel; a call's lines go with the call (callLogger).
  const log = era === "modern" ? stderr : teeLogger(stderr, (level, data) => {
    if (server.isConnected()) {
      server.sendLoggingMessage({ level, logger: "lmstudio-mcp", data: redact(data) }).catch(() => {});
    }
  });
  const deps: Deps = { ...given, redact, log };
  const roots = era === "legacy" ? clientRoots(server) : () => Promise.resolve(undefined);
  // Tools are served here rather than through McpServer.registerTool: their definitions (zod schemas)
  // are built on the first tools/list or call, not before initialize is answered, and tools/list is one
  // cached, compact list (see tool_list.ts).
  server.server.setRequestHandler(
    "tools/list",
    onePage("tools/list", () => ({ tools: [...toolList(TOOLS)] })),
  );
  server.server.setRequestHandler("tools/call", async (request, ctx) => {
    const name = request.params.name;
    const tool = BY_NAME.get(name);
    if (!tool) {
      // A protocol error, as the spec lists it ("Unknown tools: -32602").
      throw new ProtocolError(
        ProtocolErrorCode.InvalidParams,
        `Tool ${name} not found. The tools are: ${[...BY_NAME.keys()].join(", ")}`,
      );
    }
    const parsed = tool.input().safeParse(request.params.arguments ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) =>
        issue.path.length ? `${issue.message} at ${dotPath(issue.path)}` : issue.message
      );
      return failure(
        `MCP error -32602: Input validation error: Invalid arguments for tool ${name}: ${issues.join("\n")}`,
      );
    }
    const call: Deps = { ...deps, log: callLogger(stderr, ctx, redact) };
    // A client that takes tasks gets one for a long call: the answer comes at once, the work goes on.
    if (
      era === "modern" && clientTakesTasks(ctx) &&
      await worthATask(tool, parsed.data, deps)
    ) {
      try {
        return startTask(tool, parsed.data, { ...deps, log: stderr }, roots, taskOwner) as never;
      } catch (error) {
        // No store to keep the task in: the plain call still works.
        stderr.warn(`Could not start ${name} as a task (${error instanceof Error ? error.message : error})`);
      }
    }
    const progress = progressFor(ctx, call);
    try {
      const signals = [ctx.mcpReq.signal, shutdown.signal];
      if (given.shutdown) signals.push(given.shutdown);
      const signal = AbortSignal.any(signals);
      return await tool.run(parsed.data, call, { signal, progress, roots });
    } catch (error) {
      return errorResult(error, tool.name, call.log, redact);
    } finally {
      progress.close();
    }
  });
  if (era === "modern") registerTaskMethods(server, deps, taskOwner);
  registerSessionResources(server, deps);
  registerPrompts(server, deps);
  return server;
}

/**
 * Makes `server/discover` list every revision this server speaks, the 2025 ones too (a client learns
 * from it that `initialize` would work as well); the SDK lists the 2026-07-28 ones only. The serving
 * entries install the discover handler after this builder returns, so the answer is changed where the
 * SDK builds it.
 */
function discoverEveryRevision(server: McpServer): void {
  const inner = server.server as unknown as { _ondiscover?: () => Record<string, unknown> };
  const discover = inner._ondiscover?.bind(server.server);
  if (!discover) throw new Error("The MCP SDK no longer builds server/discover in _ondiscover");
  inner._ondiscover = () => ({ ...discover(), supportedVersions: [...SERVED_REVISIONS] });
}

/**
 * The log of one call: stderr (redacting already), plus MCP log messages (each redacted here) to the client that asked for them (2025 clients
 * with `logging/setLevel`, 2026-07-28 clients with a `logLevel` in the request's `_meta`). The SDK
 * applies the level filter of the era.
 */
function callLogger(base: Logger, ctx: ServerContext, redact: (text: string) => string): Logger {
  return teeLogger(base, (level, data) => {
    ctx.mcpReq.log(level, redact(data), "lmstudio-mcp").catch(() => {});
  });
}

/** The progress reporter of one call: notifications only for a `progressToken` the client sent. */
function progressFor(ctx: ServerContext, deps: Deps): ProgressReporter {
  const token = ctx.mcpReq._meta?.progressToken;
  const send: SendProgress | undefined = token === undefined ? undefined : (params) =>
    ctx.mcpReq.notify({
      method: "notifications/progress",
      params: { progressToken: token, ...params },
    });
  return new ProgressReporter(send, {
    heartbeatMs: deps.config.heartbeatMs,
    onError: (error) => deps.log.warn(`Could not send progress: ${error}`),
  });
}

/**
 * The client's MCP roots as absolute folders, asked once and cached until the client says they changed.
 * Undefined when the client declared no roots capability. 2025 era only: roots are deprecated in
 * 2026-07-28, which has no server-to-client requests.
 */
function clientRoots(server: McpServer): () => Promise<readonly string[] | undefined> {
  let cached: Promise<readonly string[] | undefined> | undefined;
  server.server.setNotificationHandler("notifications/roots/list_changed", () => {
    cached = undefined;
  });
  return () => {
    if (!server.server.getClientCapabilities()?.roots) return Promise.resolve(undefined);
    cached ??= server.server.listRoots(undefined, { timeout: 10_000 }).then(
      ({ roots }) =>
        roots.filter((root) => root.uri.startsWith("file:")).map((root) => fileURLToPath(root.uri)),
      (error) => {
        cached = undefined;
        throw new InputError(
          `files: the client declares MCP roots but did not list them (${
            error instanceof Error ? error.message : error
          }). Try again, or check the client's workspace folders`,
        );
      },
    );
    return cached;
  };
}
