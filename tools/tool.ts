/**
 * What a tool is: a definition (name, schemas, annotations, a description written for the model) and
 * a thin handler that gets the dependencies and a per-call context.
 *
 * @module
 */
import type { CallToolResult, ToolAnnotations } from "@modelcontextprotocol/server";
import { z } from "zod";
import type { Config } from "../lib/config/config.ts";
import type { LmStudioClient } from "../lib/lmstudio/client.ts";
import type { Logger } from "../lib/config/logger.ts";
import type { Pool } from "../lib/lmstudio/pool.ts";
import type { SessionStore } from "../lib/history/sessions.ts";

/**
 * Everything a handler may use: what tools are given of the server's dependencies (`Deps` in
 * server/deps.ts, built once per process by `buildDeps`).
 */
export interface ToolDeps {
  /** LM Studio: the server a call was routed to (the first of LM_STUDIO_URL until then). */
  readonly client: LmStudioClient;
  /** Every LM Studio server of LM_STUDIO_URL (one client each); `client` is one of them. */
  readonly pool: Pool;
  /** The parsed configuration. */
  readonly config: Config;
  /** Where log lines go: stderr, and within a call also the client's MCP log (redacted). */
  readonly log: Logger;
  /** The chat history store, opened on first use. */
  readonly sessions: () => SessionStore;
  /** Removes secrets (the API key, the HTTP token) from text the server returns. */
  readonly redact: (text: string) => string;
  /**
   * True when clients reach the server over HTTP beyond loopback: `files` then reads only from folders
   * allowed explicitly (`--allow-dir`).
   */
  readonly remote?: boolean | undefined;
  /** Aborted when the whole server stops (HTTP shutdown): every call in flight ends. */
  readonly shutdown?: AbortSignal | undefined;
}

/**
 * Progress of one call, as a tool reports it. The server sends it as MCP progress notifications
 * (throttled, with heartbeats) when the client asked for them, and does nothing otherwise.
 */
export interface Progress {
  /** Whether the client asked for progress (formatting a message is wasted work otherwise). */
  readonly enabled: boolean;
  /**
   * Reports a step.
   *
   * @param message What is happening
   * @param progress How far (any unit), when known
   * @param total The end of that unit, when known
   */
  update(message: string, progress?: number, total?: number): void;
  /** Sends a throttled update now. */
  flush(): void;
}

/** Per-call context. */
export interface ToolContext {
  /** Aborted when the client cancels the call. */
  readonly signal: AbortSignal;
  /** Progress notifications (no-ops when the client gave no progressToken). */
  readonly progress: Progress;
  /**
   * The folders the client allows files to be read from (its MCP roots, as absolute paths), or
   * undefined when it declared none. Cached; re-read after `notifications/roots/list_changed`.
   */
  readonly roots: () => Promise<readonly string[] | undefined>;
}

/** The annotations every tool must set, truthfully. */
export type Annotations = Required<
  Pick<ToolAnnotations, "readOnlyHint" | "destructiveHint" | "idempotentHint" | "openWorldHint">
>;

/** Hints of a tool that only reads from LM Studio and can be repeated freely. */
export const READ_ONLY: Annotations = Object.freeze({
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
});

/** A tool's definition (built on first use: zod schemas cost start-up time). */
export interface ToolDefinition<I extends z.ZodRawShape, O extends z.ZodRawShape> {
  /** A short human title. */
  readonly title: string;
  /** When and how a model should use the tool. */
  readonly description: string;
  /** Input fields, each with `.describe()` and limits. */
  readonly inputSchema: I;
  /** Shape of `structuredContent`. */
  readonly outputSchema: O;
  /** Behaviour hints. */
  readonly annotations: Annotations & { readonly title?: string };
  /**
   * Whether this call may run for minutes (a download, a large load, a fan-out): on 2026-07-28
   * connections whose client takes tasks, such a call answers at once with a task (server/tasks.ts).
   * Absent: never. A throw counts as no (the plain call then says what failed).
   */
  long?(args: z.infer<z.ZodObject<I>>, deps: ToolDeps): boolean | Promise<boolean>;
}

/** A tool's handler: validated input in, result out; expected failures are thrown as LmStudioError. */
export type Handler<I extends z.ZodRawShape> = (
  args: z.infer<z.ZodObject<I>>,
  deps: ToolDeps,
  context: ToolContext,
) => Promise<CallToolResult>;

/** A tool with its types erased, so that the list is served and dispatched in one place. */
export interface ToolSpec {
  /** The tool name (same as the reference server's). */
  readonly name: string;
  /** The definition, built on first use and kept. */
  definition(): ToolDefinition<z.ZodRawShape, z.ZodRawShape>;
  /** The input schema as one zod object, built on first use and kept. */
  input(): z.ZodType;
  /** Runs the handler on input already validated against `input()`. */
  readonly run: (args: unknown, deps: ToolDeps, context: ToolContext) => Promise<CallToolResult>;
  /** Whether a call (input already validated) may run for minutes: the definition's `long`, else false. */
  readonly long: (args: unknown, deps: ToolDeps) => Promise<boolean>;
}

/**
 * Pairs a definition with its handler. The definition is a function, called once on first use (the
 * first `tools/list` or call), so that building the schemas does not delay `initialize`.
 *
 * @param name The tool name
 * @param define Builds the schemas, annotations and description
 * @param handler The handler
 * @returns The tool
 */
export function defineTool<I extends z.ZodRawShape, O extends z.ZodRawShape>(
  name: string,
  define: () => ToolDefinition<I, O>,
  handler: Handler<I>,
): ToolSpec {
  let definition: ToolDefinition<I, O> | undefined;
  let input: z.ZodType | undefined;
  const spec: ToolSpec = {
    name,
    definition: () => definition ??= define(),
    input: () => input ??= z.object(spec.definition().inputSchema),
    // server/build_server.ts parsed `args` with `input()` before calling us.
    run: (args, deps, context) => handler(args as z.infer<z.ZodObject<I>>, deps, context),
    long: async (args, deps) => {
      const d = definition ??= define();
      return d.long ? await d.long(args as z.infer<z.ZodObject<I>>, deps) : false;
    },
  };
  return spec;
}
