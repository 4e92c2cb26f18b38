/**
 * The real server spawned with raw pipes, for what an SDK client would never send: malformed lines,
 * batches, oversized messages. Replies are collected line by line and awaited by id, each wait bounded.
 *
 * @module
 */
import { childEnv, MAIN, ROOT, RUN_FLAGS } from "./mcp.ts";
import { removeTree } from "./temp.ts";
import { exitOf, within } from "./wait.ts";

/** A JSON-RPC reply as it came on stdout. */
export type Reply = {
  readonly id?: string | number | null;
  readonly result?: Record<string, unknown>;
  readonly error?: { code: number; message: string };
};

/** A spawned server with raw pipes. */
export interface RawServer extends AsyncDisposable {
  /** Writes bytes (a line should end with `\n`). */
  write(bytes: Uint8Array | string): Promise<void>;
  /** Writes one message as a line. */
  send(message: unknown): Promise<void>;
  /** Waits for the reply whose id is `id` (null: the next reply without an id). */
  reply(id: string | number | null, timeoutMs?: number): Promise<Reply>;
  /** Every stdout line so far that is not JSON-RPC (must stay empty). */
  readonly strayLines: string[];
  /** Sends a request (with the 2026-07-28 envelope on a modern connection) and waits for its reply. */
  request(method: string, params?: Record<string, unknown>, timeoutMs?: number): Promise<Reply>;
  /** Replies that came as one array (the answer to a JSON-RPC batch), in order. */
  readonly batches: Reply[][];
  /** Closes stdin and waits for the exit; returns the code and stderr. */
  close(): Promise<{ code: number; stderr: string }>;
  /** The process. */
  readonly child: Deno.ChildProcess;
}

/**
 * The 2026-07-28 per-request `_meta` envelope of a raw client.
 *
 * @param protocolVersion The revision
 * @returns The envelope keys
 */
export function envelope(
  protocolVersion = "2026-07-28",
  capabilities: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    "io.modelcontextprotocol/protocolVersion": protocolVersion,
    "io.modelcontextprotocol/clientInfo": { name: "raw", version: "0" },
    "io.modelcontextprotocol/clientCapabilities": capabilities,
  };
}

/**
 * Spawns `deno run main.ts` with the shipped flags and opens the connection: `initialize` for a 2025
 * revision, `server/discover` for 2026-07-28.
 *
 * @param env The server's environment
 * @param protocolVersion The revision to open with (`"none"`: send nothing, the test opens it)
 * @param capabilities The client's capabilities (in `initialize`, or in each request's envelope)
 * @returns The handle
 */
export async function spawnRawServer(
  env: Record<string, string>,
  protocolVersion = "2025-06-18",
  capabilities: Record<string, unknown> = {},
): Promise<RawServer> {
  const home = await Deno.makeTempDir({ prefix: "lmstudio-mcp-raw-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", `--config=${ROOT}deno.json`, ...RUN_FLAGS, MAIN],
    env: await childEnv(home, env),
    clearEnv: true,
    cwd: home,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const replies: Reply[] = [];
  const strayLines: string[] = [];
  const batches: Reply[][] = [];
  let wake: (() => void) | undefined;
  const stderrText = new Response(child.stderr).text();
  const reading = (async () => {
    let buffer = "";
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += text;
      let index;
      while ((index = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, index);
        buffer = buffer.slice(index + 1);
        try {
          const message = JSON.parse(line);
          if (Array.isArray(message)) batches.push(message);
          else if (message?.jsonrpc === "2.0") replies.push(message);
          else strayLines.push(line);
        } catch {
          strayLines.push(line);
        }
        wake?.();
      }
    }
    wake?.();
  })();
  const write = (bytes: Uint8Array | string) => {
    const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
    return within(writer.write(data), `the server to read ${data.length} bytes from its stdin`, 60_000);
  };
  const send = (message: unknown) => write(JSON.stringify(message) + "\n");
  let nextId = 0;
  const modern = !protocolVersion.startsWith("2025") && protocolVersion !== "none";
  const request = async (method: string, params: Record<string, unknown> = {}, timeoutMs?: number) => {
    const id = `r${++nextId}`;
    const _meta = modern
      ? { ...(params._meta as object | undefined), ...envelope(protocolVersion, capabilities) }
      : params._meta;
    await send({ jsonrpc: "2.0", id, method, params: { ...params, ...(_meta ? { _meta } : {}) } });
    return reply(id, timeoutMs);
  };
  const reply = async (id: string | number | null, timeoutMs = 10_000): Promise<Reply> => {
    const deadline = performance.now() + timeoutMs;
    while (true) {
      const index = replies.findIndex((
        r,
      ) => (id === null ? r.id === null || r.id === undefined : r.id === id));
      if (index >= 0) return replies.splice(index, 1)[0]!;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`No reply with id ${id} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  let closed: Promise<{ code: number; stderr: string }> | undefined;
  const close = () =>
    closed ??= (async () => {
      try {
        // Already closed when the server exited first.
        await within(writer.close(), "the server's stdin to close").catch(() => {});
        const status = await exitOf(child, "the server to exit after its stdin closed");
        await within(reading, "the server's stdout to end");
        return { code: status.code, stderr: await within(stderrText, "the server's stderr to end") };
      } finally {
        await removeTree(home);
      }
    })();
  try {
    if (protocolVersion === "none") {
      // The test sends the first message itself.
    } else if (protocolVersion.startsWith("2025")) {
      await send({
        jsonrpc: "2.0",
        id: "init",
        method: "initialize",
        params: { protocolVersion, capabilities, clientInfo: { name: "raw", version: "0" } },
      });
      await reply("init");
      await send({ jsonrpc: "2.0", method: "notifications/initialized" });
    } else {
      // The stateless era opens with server/discover, the envelope in its _meta.
      await send({
        jsonrpc: "2.0",
        id: "init",
        method: "server/discover",
        params: { _meta: envelope(protocolVersion, capabilities) },
      });
      await reply("init");
    }
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await close().catch(() => {});
    throw error;
  }
  return {
    write,
    send,
    reply,
    strayLines,
    batches,
    request,
    close,
    child,
    [Symbol.asyncDispose]: async () => {
      // A close() the test awaited already reported its failure: do not hide it behind a SuppressedError.
      if (closed) await closed.catch(() => {});
      else await close();
    },
  };
}
