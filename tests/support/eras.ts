/**
 * The server as a process, over stdio or Streamable HTTP, with SDK clients of either protocol era: a
 * 2025 client (the `initialize` handshake) or a 2026-07-28 client (`server/discover`, the `_meta`
 * envelope on every request). One spawned HTTP server takes several clients of both eras at once.
 *
 * @module
 */
import { Client } from "@modelcontextprotocol/client";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { spawnHttpServer } from "./http_server.ts";
import { childEnv, MAIN, ROOT, RUN_FLAGS } from "./mcp.ts";
import { tempDir } from "./temp.ts";

/** Which protocol era a client speaks. */
export type Era = "legacy" | "modern";
/** How the client reaches the server. */
export type Wire = "stdio" | "http";

/** A new SDK client of an era: the default handshake (2025), or pinned to 2026-07-28. */
export function eraClient(era: Era, extensions?: Record<string, Record<string, never>>): Client {
  return new Client(
    { name: `eras-${era}`, version: "0" },
    {
      ...(era === "modern" ? { versionNegotiation: { mode: { pin: "2026-07-28" } } } : {}),
      ...(extensions ? { capabilities: { extensions } } : {}),
    },
  );
}

/** A spawned server and the clients connected to it. */
export interface Spawned extends AsyncDisposable {
  /** Connects one more client of this era (HTTP: to the same server; stdio: the one connection). */
  connect(era: Era, extensions?: Record<string, Record<string, never>>): Promise<Client>;
  /** The server's stderr so far. */
  stderr(): string;
  /** The `/mcp` URL (HTTP only). */
  readonly url: string | undefined;
}

const serverArgs = (extra: readonly string[]) => [
  "run",
  "--quiet",
  `--config=${ROOT}deno.json`,
  ...RUN_FLAGS,
  MAIN,
  ...extra,
];

/**
 * Starts `main.ts` over HTTP on 127.0.0.1 port 0; clients connect to it with {@linkcode Spawned.connect}.
 *
 * @param env The server's environment (LM_STUDIO_URL, …)
 * @param args More arguments
 * @returns The server; dispose it to close every client and stop it
 */
export async function spawnHttp(env: Record<string, string>, args: readonly string[] = []): Promise<Spawned> {
  const server = await spawnHttpServer({ env, args });
  const clients: Client[] = [];
  return {
    url: server.url,
    stderr: () => server.stderr(),
    connect: async (era, extensions) => {
      const client = eraClient(era, extensions);
      await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
      clients.push(client);
      return client;
    },
    [Symbol.asyncDispose]: async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => {})));
      await server.stop();
    },
  };
}

/**
 * Starts `main.ts` on stdio for one client of an era (stdio is one connection: `connect` once).
 *
 * @param env The server's environment
 * @param args More arguments
 * @returns The server; dispose it to close the client (and so the server)
 */
export async function spawnStdio(
  env: Record<string, string>,
  args: readonly string[] = [],
): Promise<Spawned> {
  const home = await tempDir("eras-stdio");
  const childEnvironment = await childEnv(home.path, env);
  let stderr = "";
  let client: Client | undefined;
  return {
    url: undefined,
    stderr: () => stderr,
    connect: async (era, extensions) => {
      if (client) throw new Error("stdio serves one client");
      const transport = new StdioClientTransport({
        command: Deno.execPath(),
        args: serverArgs(args),
        env: childEnvironment,
        cwd: home.path,
        stderr: "pipe",
      });
      transport.stderr?.on("data", (chunk: Uint8Array | string) => {
        stderr += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
      });
      client = eraClient(era, extensions);
      await client.connect(transport);
      return client;
    },
    [Symbol.asyncDispose]: async () => {
      await client?.close().catch(() => {});
      await home[Symbol.asyncDispose]();
    },
  };
}

/**
 * Starts the server over a wire.
 *
 * @param wire stdio or HTTP
 * @param env The server's environment
 * @param args More arguments
 * @returns The server
 */
export function spawn(
  wire: Wire,
  env: Record<string, string>,
  args: readonly string[] = [],
): Promise<Spawned> {
  return wire === "http" ? spawnHttp(env, args) : spawnStdio(env, args);
}
