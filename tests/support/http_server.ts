/**
 * The server as a Streamable HTTP process on 127.0.0.1 port 0, for the tests, the bench and the
 * conformance run that need a real process: started, its URL read from its log, stopped and its temp
 * home removed on dispose.
 *
 * @module
 */
import { readServerLog, type ServerLog } from "./http_log.ts";
import { childEnv, MAIN, ROOT, RUN_FLAGS } from "./mcp.ts";
import { tempDir } from "./temp.ts";

/** How to start the server. */
export interface HttpServerOptions {
  /** The server's environment (LM_STUDIO_URL, MCP_SESSIONS_DB, …), on top of a clean one. */
  readonly env?: Record<string, string>;
  /** More command-line arguments after `--http 127.0.0.1:0`. */
  readonly args?: readonly string[];
  /** Listen by `LMSTUDIO_MCP_HTTP=127.0.0.1:0` instead of the `--http` flag. @default false */
  readonly listenByEnv?: boolean;
  /** HOME of the server. @default a temp folder, removed on dispose */
  readonly home?: string;
  /** Its working folder. @default its HOME */
  readonly cwd?: string;
  /** Deno's permission flags. @default the shipped ones */
  readonly flags?: readonly string[];
}

/** A running HTTP server process. */
export interface HttpServer extends AsyncDisposable {
  /** The `/mcp` URL it said it serves. */
  readonly url: string;
  /** The process. */
  readonly child: Deno.ChildProcess;
  /** Its stderr, read in the background. */
  readonly log: ServerLog;
  /** Its stderr so far. */
  stderr(): string;
  /** Stops it (SIGTERM unless told) and waits for it and its log to end. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/**
 * Starts `main.ts` over Streamable HTTP and waits until it says where it serves.
 *
 * @param options Environment, arguments, folders
 * @returns The server; dispose it to stop it
 * @throws {Error} With its log, when it exits before serving
 */
export async function spawnHttpServer(options: HttpServerOptions = {}): Promise<HttpServer> {
  const temp = options.home === undefined ? await tempDir("http-server") : undefined;
  const home = options.home ?? temp!.path;
  const listen = options.listenByEnv ? [] : ["--http", "127.0.0.1:0"];
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--config=${ROOT}deno.json`,
      ...(options.flags ?? RUN_FLAGS),
      MAIN,
      ...listen,
      ...(options.args ?? []),
    ],
    env: await childEnv(home, {
      ...(options.listenByEnv ? { LMSTUDIO_MCP_HTTP: "127.0.0.1:0" } : {}),
      ...options.env,
    }),
    clearEnv: true,
    cwd: options.cwd ?? home,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log = readServerLog(child.stderr);
  let stopped: Promise<Deno.CommandStatus> | undefined;
  const stop = (signal: Deno.Signal = "SIGTERM") =>
    stopped ??= (async () => {
      try {
        child.kill(signal);
      } catch {
        // It has exited already.
      }
      const status = await child.status;
      await log.ended;
      await temp?.[Symbol.asyncDispose]();
      return status;
    })();
  const url = await log.url;
  if (!url) {
    await stop();
    throw new Error(`The HTTP server did not start: ${log.text()}`);
  }
  return {
    url,
    child,
    log,
    stderr: () => log.text(),
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}
