/**
 * A small 2026-07-28 client that consumes tasks the way a v2 application does: the official SDK's
 * `Client` (pinned to 2026-07-28, declaring the tasks extension) plus `@modelcontextprotocol/ext-tasks`,
 * whose session turns a long call into a task and follows it to its result. Its V2 requests (tools/call,
 * tasks/*) go through a raw dispatcher over HTTP, as ext-tasks asks of a 2026-07-28 server; every reply
 * to them is checked against ext-tasks' wire schemas (`core/v2`) here too.
 *
 * @module
 */
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { createTaskSessionFromClient, resultFromTaskOutcome } from "@modelcontextprotocol/ext-tasks/client";
import {
  CallToolResultV2Schema,
  CancelTaskResultV2Schema,
  CreateTaskResultV2Schema,
  GetTaskResultV2Schema,
} from "@modelcontextprotocol/ext-tasks/core/v2";
import { eraClient } from "../support/eras.ts";

const TASKS = "io.modelcontextprotocol/tasks";
const CLIENT_INFO = { name: "ext-tasks-check", version: "0" };

type Reply = { kind: "result"; result: never } | { kind: "error"; error: never };
/** What is used of a wire schema (keeps the type checker out of zod's deep types). */
type WireSchema = { safeParse(value: unknown): { success: boolean; error?: unknown } };
const SCHEMAS: Record<string, WireSchema> = {
  call: CallToolResultV2Schema as unknown as WireSchema,
  created: CreateTaskResultV2Schema as unknown as WireSchema,
  get: GetTaskResultV2Schema as unknown as WireSchema,
  cancel: CancelTaskResultV2Schema as unknown as WireSchema,
};

/** What one run saw. */
export interface TaskRun {
  /** The final tool result ext-tasks gave. */
  readonly result: { content?: { type: string; text?: string }[]; isError?: boolean };
  /** Whether ext-tasks ran it as a task (not an immediate result). */
  readonly asTask: boolean;
  /** The methods sent through the raw dispatcher, in order. */
  readonly methods: string[];
  /** Replies that failed ext-tasks' wire schemas (empty when all fit). */
  readonly invalid: string[];
}

/** Reads the JSON-RPC reply of one POST: a JSON body, or the matching event of an SSE stream. */
async function replyOf(response: Response, id: number): Promise<Record<string, unknown>> {
  const type = response.headers.get("content-type") ?? "";
  const text = await response.text();
  if (!type.startsWith("text/event-stream")) return JSON.parse(text);
  for (const line of text.split("\n")) {
    if (!line.startsWith("data:")) continue;
    const message = JSON.parse(line.slice(5)) as Record<string, unknown>;
    if (message.id === id) return message;
  }
  throw new Error(`No reply with id ${id} in the event stream: ${text.slice(0, 500)}`);
}

/**
 * Runs one tool call through ext-tasks against a 2026-07-28 server over HTTP, to its final result.
 *
 * @param url The server's `/mcp`
 * @param tool The tool
 * @param args Its arguments
 * @param headers Extra headers (a bearer token)
 * @returns What the run saw
 */
export async function runWithExtTasks(
  url: string,
  tool: string,
  args: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<TaskRun> {
  const client = eraClient("modern", { [TASKS]: {} });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  const methods: string[] = [];
  const invalid: string[] = [];
  let nextId = 0;
  const check = (method: string, result: unknown) => {
    const record = result as { resultType?: string; status?: string; result?: unknown };
    const schema = method === "tools/call"
      ? (record.resultType === "task" ? SCHEMAS.created : SCHEMAS.call)
      : method === "tasks/get"
      ? SCHEMAS.get
      : method === "tasks/cancel"
      ? SCHEMAS.cancel
      : undefined;
    const parsed = schema?.safeParse(result);
    if (parsed && !parsed.success) invalid.push(`${method}: ${String(parsed.error).slice(0, 300)}`);
    if (method === "tasks/get" && record.status === "completed") {
      const inner = SCHEMAS.call!.safeParse(record.result);
      if (!inner.success) invalid.push(`tasks/get result: ${String(inner.error).slice(0, 300)}`);
    }
  };
  const rawDispatch = async (request: unknown): Promise<Reply> => {
    const message = request as { method: string; params?: Record<string, unknown> };
    methods.push(message.method);
    const id = ++nextId;
    const name = message.params?.name ?? message.params?.taskId;
    const response = await fetch(url, {
      method: "POST",
      headers: {
        ...headers,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": message.method,
        ...(typeof name === "string" ? { "mcp-name": name } : {}),
      },
      body: JSON.stringify({ ...message, jsonrpc: "2.0", id }),
      signal: AbortSignal.timeout(60_000),
    });
    const reply = await replyOf(response, id);
    if (reply.error) return { kind: "error", error: reply.error as never };
    check(message.method, reply.result);
    return { kind: "result", result: reply.result as never };
  };
  const session = createTaskSessionFromClient(client, {
    endpointId: url,
    rawDispatch: rawDispatch as never,
    v2RequestFraming: {
      protocolVersion: "2026-07-28",
      clientInfo: CLIENT_INFO,
      clientCapabilities: { extensions: { [TASKS]: {} } },
    },
  });
  try {
    const execution = await session.callTool(tool, args as never);
    const { outcome } = await execution.settle();
    return {
      result: resultFromTaskOutcome(outcome) as TaskRun["result"],
      asTask: execution.kind === "task",
      methods,
      invalid,
    };
  } finally {
    await session.close();
    await client.close().catch(() => {});
  }
}
