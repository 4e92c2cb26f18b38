/**
 * Long tool calls as MCP tasks (the `io.modelcontextprotocol/tasks` extension, SEP-2663, protocol
 * revision 2026-07-28): when a 2026-07-28 request declares the extension in its `_meta` client
 * capabilities, a call that may outlast its timeout (each tool says which of its calls may: `long` in
 * its definition) answers at once with a task; the work goes on in the server, its state and result in
 * the SQLite store. `tasks/get` reports status and progress and, once done, the result the plain call
 * would have given (with `resultType: "complete"`, as a direct reply has); `tasks/cancel` stops it and
 * its LM Studio requests; `tasks/update` is acknowledged (these tasks never ask for input). A request for
 * a task from a client that did not declare the extension gets -32021.
 *
 * The extension is not defined on the 2025 revisions (SEP-2663: servers MUST NOT take it as enabling
 * tasks there), and the 2025-11-25 core tasks are not implemented: a 2025 client always gets the plain
 * call, with progress and heartbeats, and no `tasks/*` method. Tools say `execution.taskSupport:
 * "forbidden"` there, which is true.
 *
 * A task is visible to its creator only: its owner (the token holder over HTTP, the local user on stdio)
 * is stored with it and every read asks for both. Nothing lists tasks. Results are capped in bytes, per
 * result and in total (the oldest go first).
 *
 * @module
 */
import { z } from "zod";
import type { ResultBudget, TaskRow, TaskState, TaskStore } from "./task_store.ts";
import { ProgressReporter } from "./progress.ts";
import { errorResult } from "./error_boundary.ts";
import {
  type CallToolResult,
  type McpServer,
  MissingRequiredClientCapabilityError,
  ProtocolError,
  ProtocolErrorCode,
  type ServerContext,
} from "./sdk.ts";
import type { Deps } from "./deps.ts";
import type { ToolContext, ToolDeps, ToolSpec } from "../tools/tool.ts";

/** The extension's identifier. */
export const TASKS_EXTENSION = "io.modelcontextprotocol/tasks";
/** How long a task is kept after it was created. */
export const TASK_TTL_MS = 24 * 60 * 60 * 1000;
/** The most tasks kept; the oldest go first. */
export const MAX_TASKS = 1_000;
/** The most tasks running in one process; past it, calls run plainly. */
export const MAX_RUNNING = 32;
/** The largest result kept, in bytes of JSON. */
export const MAX_RESULT_BYTES = 16 * 1024 * 1024;
/** The most bytes of results kept, over every task; the oldest results go first. */
export const MAX_STORED_RESULT_BYTES = 64 * 1024 * 1024;
/** What clients are told about polling. */
const POLL_INTERVAL_MS = 1_000;

interface Running {
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

/** Tasks running in this process (every server instance of the process shares them). */
const running = new Map<string, Running>();

/**
 * Whether the client of this 2026-07-28 request declared the tasks extension in the request's envelope.
 * Never on the 2025 revisions, where the extension is not defined (a 2025 `initialize` that declares it
 * changes nothing).
 *
 * @param ctx The request's context
 * @returns True when a task may be returned
 */
export function clientTakesTasks(ctx: ServerContext): boolean {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  const declared = envelope?.["io.modelcontextprotocol/clientCapabilities"] as
    | { extensions?: Record<string, unknown> }
    | undefined;
  return declared?.extensions?.[TASKS_EXTENSION] !== undefined;
}

/**
 * Whether a call is worth a task: the tool says whether it may run for minutes (its definition's `long`),
 * unless this process already runs as many tasks as it may.
 *
 * @param tool The tool
 * @param args The validated arguments
 * @param deps What the tool may consult (LM Studio, for a model's size)
 * @returns True for a task
 */
export async function worthATask(tool: ToolSpec, args: unknown, deps: ToolDeps): Promise<boolean> {
  if (running.size >= MAX_RUNNING) return false;
  try {
    return await tool.long(args, deps);
  } catch {
    return false; // LM Studio unreachable, say: the plain call says so.
  }
}

/**
 * Starts a call as a task: stored first (so `tasks/get` finds it at once), then run in the background.
 *
 * @param tool The tool
 * @param args The validated arguments
 * @param deps Dependencies of the call (its store holds the task)
 * @param roots The client's roots, for `files`
 * @param owner Who may see the task (see {@linkcode registerTaskMethods})
 * @returns The `CreateTaskResult` to answer the call with
 */
export function startTask(
  tool: ToolSpec,
  args: unknown,
  deps: Deps,
  roots: ToolContext["roots"],
  owner: string,
): Record<string, unknown> {
  const store = deps.tasks();
  const lease = leaseMs(deps);
  const row = store.create({
    id: crypto.randomUUID(),
    owner,
    tool: tool.name,
    leaseMs: lease,
    ttlMs: TASK_TTL_MS,
    maxTasks: MAX_TASKS,
  });
  const controller = new AbortController();
  const signal = deps.shutdown ? AbortSignal.any([controller.signal, deps.shutdown]) : controller.signal;
  const progress = new ProgressReporter((params) => {
    try {
      if (store.beat(row.id, params.message, lease)) controller.abort(new TaskCancelled());
    } catch (error) {
      deps.log.warn(`Task ${row.id}: could not record progress (${error})`);
    }
    return Promise.resolve();
  }, { heartbeatMs: deps.config.heartbeatMs });
  progress.update(`Running ${tool.name}`);
  const done = (async () => {
    let result: CallToolResult;
    try {
      result = await tool.run(args, deps, { signal, progress, roots });
    } catch (error) {
      result = errorResult(error, tool.name, deps.log, deps.redact);
    } finally {
      progress.close();
    }
    try {
      if (controller.signal.reason instanceof TaskCancelled) {
        store.finish(row.id, "cancelled", "Cancelled by tasks/cancel", null);
        return;
      }
      if (deps.shutdown?.aborted) {
        const error = { code: ProtocolErrorCode.InternalError, message: stoppedMessage(tool.name) };
        store.finish(row.id, "failed", error.message, JSON.stringify(error));
        return;
      }
      const json = JSON.stringify(result);
      if (new TextEncoder().encode(json).length > MAX_RESULT_BYTES) {
        const error = { code: ProtocolErrorCode.InternalError, message: resultTooLarge(tool.name) };
        store.finish(row.id, "failed", error.message, JSON.stringify(error));
      } else {
        store.finish(
          row.id,
          "completed",
          result.isError ? "Finished with an error" : "Finished",
          json,
          RESULT_BUDGET,
        );
      }
    } catch (error) {
      deps.log.error(`Task ${row.id}: could not store its result`, error);
    }
  })().finally(() => running.delete(row.id));
  running.set(row.id, { controller, done });
  return { resultType: "task", ...taskView(row) };
}

/**
 * Registers `tasks/get`, `tasks/update` and `tasks/cancel` (2026-07-28 instances only). Each serves only
 * a client that declares the extension in the request (-32021 otherwise), and only the tasks of `owner`.
 *
 * @param server The instance
 * @param deps The store
 * @param owner Who asks: the token holder over HTTP, the local user on stdio
 */
export function registerTaskMethods(server: McpServer, deps: Deps, owner: string): void {
  const store = (): TaskStore => deps.tasks();
  const byId = { params: z.looseObject({ taskId: z.string().min(1).max(200) }) };
  const find = (id: string, ctx: ServerContext): TaskState => {
    if (!clientTakesTasks(ctx)) {
      throw new MissingRequiredClientCapabilityError(
        { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } },
        `Missing required client capability: tasks are served to clients that declare the ${TASKS_EXTENSION} ` +
          "extension in the request's io.modelcontextprotocol/clientCapabilities (extensions)",
      );
    }
    const row = reap(store(), id, owner);
    if (!row) {
      throw new ProtocolError(
        ProtocolErrorCode.InvalidParams,
        `Unknown task ${id}: this client never started it, or it ended more than ${
          TASK_TTL_MS / 3_600_000
        } h ago (or its result was dropped to make room). Call the tool again`,
      );
    }
    return row;
  };
  server.server.setRequestHandler("tasks/get", byId, ({ taskId }, ctx) => {
    find(taskId, ctx);
    return detailed(store().get(taskId, owner)!) as never;
  });
  server.server.setRequestHandler("tasks/update", byId, ({ taskId }, ctx) => {
    find(taskId, ctx); // These tasks never ask for input: responses are acknowledged and ignored.
    return {} as never;
  });
  server.server.setRequestHandler("tasks/cancel", byId, ({ taskId }, ctx) => {
    const row = find(taskId, ctx);
    if (row.status === "working") {
      store().requestCancel(taskId);
      running.get(taskId)?.controller.abort(new TaskCancelled());
    }
    return {} as never;
  });
}

/** A task as the wire shows it (without its result). */
function taskView(row: TaskState): Record<string, unknown> {
  return {
    taskId: row.id,
    status: row.status,
    ...(row.status_message ? { statusMessage: row.status_message } : {}),
    createdAt: new Date(row.created_at).toISOString(),
    lastUpdatedAt: new Date(row.updated_at).toISOString(),
    ttlMs: row.ttl_ms,
    pollIntervalMs: POLL_INTERVAL_MS,
  };
}

/**
 * A task with its result (completed) or error (failed), as `tasks/get` answers. The result is the tool
 * result a direct 2026-07-28 reply carries, `resultType: "complete"` included (ext-tasks checks it).
 */
function detailed(row: TaskRow): Record<string, unknown> {
  return {
    ...taskView(row),
    ...(row.status === "completed" && row.result
      ? { result: { ...JSON.parse(row.result) as Record<string, unknown>, resultType: "complete" } }
      : {}),
    ...(row.status === "failed" && row.error ? { error: JSON.parse(row.error) } : {}),
  };
}

/**
 * A task, after failing it when it still reads as working but nobody runs it any more: its lease ran out
 * because the server running it stopped (killed, crashed, restarted).
 */
function reap(store: TaskStore, id: string, owner: string): TaskState | undefined {
  const row = store.state(id, owner);
  if (!row || row.status !== "working" || running.has(id) || row.lease_until >= Date.now()) return row;
  const error = {
    code: ProtocolErrorCode.InternalError,
    message:
      `The server running ${row.tool} stopped before the task finished (it was restarted or killed). ` +
      "Call the tool again",
  };
  store.finish(id, "failed", error.message, JSON.stringify(error));
  return store.state(id, owner);
}

function stoppedMessage(tool: string): string {
  return `The server running ${tool} stopped before the task finished (it was shut down, restarted or ` +
    "killed). Call the tool again";
}

/** A running task renews its lease at every beat (at least every heartbeat); three missed beats end it. */
function leaseMs(deps: Deps): number {
  return Math.max(1_000, 3 * deps.config.heartbeatMs);
}

/** How finished results are kept: 64 MiB in all, the oldest dropped first (their tasks say so). */
const RESULT_BUDGET: ResultBudget = {
  maxTotalBytes: MAX_STORED_RESULT_BYTES,
  dropped: (tool) =>
    JSON.stringify({
      code: ProtocolErrorCode.InternalError,
      message: `The result of ${tool} was dropped to keep the stored task results under ${
        MAX_STORED_RESULT_BYTES / 1048576
      } MiB (newer tasks needed the room). Call the tool again`,
    }),
};

function resultTooLarge(tool: string): string {
  return `The result of ${tool} is over ${
    MAX_RESULT_BYTES / 1048576
  } MiB, too large to keep as a task result. ` +
    "Call the tool again without the tasks extension, or ask for less";
}

/** The abort reason of a task stopped by `tasks/cancel`. */
class TaskCancelled extends Error {
  constructor() {
    super("Cancelled by tasks/cancel");
  }
}
