/**
 * The server in this process: `createServer` wired to the SDK's in-memory transport pair and a real
 * SDK `Client`, with the same handle as {@linkcode startServer} so a test can use either. Tools,
 * resources, progress and cancellation behave exactly as over stdio; what only a process shows
 * (stdio framing, permissions, CLI, signals) stays in the subprocess tests.
 *
 * @module
 */
import { Client } from "@modelcontextprotocol/client";
import { InMemoryTransport } from "@modelcontextprotocol/client";
import { parseConfig } from "../../lib/config/config.ts";
import { createStderrLogger } from "../../lib/config/logger.ts";
import { guarded } from "../../transports/guard.ts";
import { createServer } from "../../server/build_server.ts";
import { callTool, type ServerHandle } from "./mcp.ts";
import { removeTree } from "./temp.ts";
import { buildDeps } from "../../server/deps.ts";

/** Options of {@linkcode startInProcess}. */
export interface InProcessOptions {
  /** The environment the server would see (LM_STUDIO_URL, MCP_SESSIONS_DB, …). */
  readonly env?: Record<string, string>;
  /** HOME. @default a fresh temp dir, removed on close */
  readonly home?: string;
  /** True to serve as if reached over HTTP beyond loopback (files then needs an allow-list). */
  readonly remote?: boolean;
  /** When set, the client declares MCP roots and answers `roots/list` with these (re-read each time). */
  readonly roots?: () => readonly { uri: string; name?: string }[];
}

/**
 * Builds the server as main.ts does and connects an SDK client to it in memory.
 *
 * @param options Environment and home
 * @returns The handle; dispose it to close both ends (and remove the temp HOME)
 */
export async function startInProcess(options: InProcessOptions = {}): Promise<ServerHandle> {
  const ownHome = options.home === undefined;
  const home = options.home ?? await Deno.makeTempDir({ prefix: "lmstudio-mcp-home-" });
  const { config } = parseConfig({ ...options.env }, { home });
  let stderr = "";
  const log = createStderrLogger((line) => (stderr += `${line}\n`));
  const built = buildDeps(config, log, { remote: options.remote ?? false });
  const server = createServer(
    built.deps,
    { name: "lmstudio-mcp", version: "test" },
  );
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(guarded(serverSide)); // As main.ts connects stdio.
  const client = new Client(
    { name: "lmstudio-mcp-tests", version: "0" },
    options.roots ? { capabilities: { roots: { listChanged: true } } } : {},
  );
  const roots = options.roots;
  if (roots) client.setRequestHandler("roots/list", () => ({ roots: [...roots()] }));
  await client.connect(clientSide);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await client.close();
    await server.close();
    built.close();
    if (ownHome) await removeTree(home);
  };
  return {
    client,
    home,
    pid: null,
    stderr: () => stderr,
    call: (name, args = {}) => callTool(client, name, args),
    close,
    [Symbol.asyncDispose]: close,
  };
}
