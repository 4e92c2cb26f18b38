/**
 * Spawns the real server (`deno run main.ts`) and connects the SDK's `Client` over stdio, exactly
 * as an MCP client does. Each server gets its own temp HOME and working directory.
 *
 * @module
 */
import { Client } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { DEFAULT_REQUEST_TIMEOUT_MSEC, SdkError, SdkErrorCode } from "@modelcontextprotocol/client";
import type { CallToolResult } from "../../server/sdk.ts";
import { fileURLToPath } from "node:url";
import { sourceRunFlags } from "../../scripts/permissions.ts";
import { removeTree } from "./temp.ts";
import { runWithin } from "./wait.ts";

/** Absolute path of the repository root. */
export const ROOT: string = fileURLToPath(new URL("../../", import.meta.url));
/** Absolute path of main.ts. */
export const MAIN: string = ROOT + "main.ts";
/**
 * The flags of `deno task start` (what ships: `--cached-only` and the permission flags), so the tests run
 * with what users run, and a spawned server never asks the npm registry anything.
 */
export const RUN_FLAGS: readonly string[] = sourceRunFlags();
/**
 * The shipped flags with the network narrowed to this machine, as the README shows `deno run` users: the
 * sandbox then refuses any other host before a packet is sent, so tests can name one safely.
 */
export const LOOPBACK_FLAGS: readonly string[] = RUN_FLAGS.map((flag) =>
  flag.startsWith("--allow-net") ? "--allow-net=127.0.0.1,localhost,[::1]" : flag
);

let denoDir: string | undefined;

/** The Deno cache directory of this process, so that children with another HOME reuse it. */
export async function cacheDir(): Promise<string> {
  if (denoDir) return denoDir;
  const fromEnv = Deno.env.get("DENO_DIR");
  if (fromEnv) return denoDir = fromEnv;
  const out = await runWithin(Deno.execPath(), { args: ["info", "--json"] }, "deno info", 60_000);
  return denoDir = JSON.parse(new TextDecoder().decode(out.stdout)).denoDir as string;
}

/** A running server and its client. */
export interface ServerHandle extends AsyncDisposable {
  /** The connected MCP client. */
  readonly client: Client;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** The temp HOME of the server. */
  readonly home: string;
  /** The server's process id, while it runs. */
  readonly pid: number | null;
  /** Calls a tool and returns its result. */
  call(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  /** Closes the client and the server process. */
  close(): Promise<void>;
}

/** Options of {@linkcode startServer}. */
export interface StartOptions {
  /** Extra environment for the server. */
  readonly env?: Record<string, string>;
  /** Extra command-line arguments. */
  readonly args?: readonly string[];
  /** Working directory. @default a fresh temp dir */
  readonly cwd?: string;
  /** HOME. @default a fresh temp dir */
  readonly home?: string;
  /** Deno permission flags. @default RUN_FLAGS (what ships) */
  readonly runFlags?: readonly string[];
}

/**
 * The environment a spawned server gets: a temp HOME, our cache, and `env`.
 *
 * @param home The HOME to use
 * @param env Extra variables
 * @returns The environment
 */
export async function childEnv(
  home: string,
  env: Record<string, string> = {},
): Promise<Record<string, string>> {
  // Windows needs a few system variables to start processes at all.
  const system: Record<string, string> = {};
  for (const name of ["SYSTEMROOT", "WINDIR", "COMSPEC", "PATHEXT", "TEMP", "TMP"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) system[name] = value;
  }
  return {
    ...system,
    PATH: Deno.env.get("PATH") ?? "",
    HOME: home,
    ...(Deno.build.os === "windows" ? { USERPROFILE: home } : {}),
    DENO_DIR: await cacheDir(),
    NO_COLOR: "1",
    ...env,
  };
}

/**
 * Starts `deno run main.ts` and connects a client.
 *
 * @param options Environment, args, cwd
 * @returns The handle; dispose it to stop the server
 */
export async function startServer(options: StartOptions = {}): Promise<ServerHandle> {
  const home = options.home ?? await Deno.makeTempDir({ prefix: "lmstudio-mcp-home-" });
  const cwd = options.cwd ?? home;
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: [
      "run",
      "--quiet",
      `--config=${ROOT}deno.json`,
      ...(options.runFlags ?? RUN_FLAGS),
      MAIN,
      ...(options.args ?? []),
    ],
    env: await childEnv(home, options.env),
    cwd,
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Uint8Array | string) => {
    stderr += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
  });
  const client = new Client({ name: "lmstudio-mcp-tests", version: "0" });
  await client.connect(transport);
  const close = async () => {
    await client.close();
    if (options.home === undefined) await removeTree(home);
  };
  return {
    client,
    home,
    get pid() {
      return transport.pid;
    },
    stderr: () => stderr,
    call: (name, args = {}) => callTool(client, name, args),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Calls a tool. The wait is bounded by the SDK's request timeout; running out of it fails naming the tool.
 *
 * @param client The connected client
 * @param name The tool
 * @param args Its arguments
 * @returns Its result
 * @throws {Error} When no result comes within the SDK's timeout (or the call fails)
 */
export async function callTool(
  client: Client,
  name: string,
  args: Record<string, unknown>,
): Promise<CallToolResult> {
  try {
    return (await client.callTool({ name, arguments: args })) as CallToolResult;
  } catch (error) {
    if (error instanceof SdkError && error.code === SdkErrorCode.RequestTimeout) {
      throw new Error(
        `Timed out after ${DEFAULT_REQUEST_TIMEOUT_MSEC} ms waiting for the result of ${name} ${
          JSON.stringify(args).slice(0, 200)
        }`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * The text of a result's first content block.
 *
 * @param result A tool result
 * @returns Its first text
 */
export function textOf(result: CallToolResult): string {
  const first = result.content[0];
  return first && first.type === "text" ? first.text : "";
}
