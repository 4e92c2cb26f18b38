/**
 * Reading a spawned server's stderr for the line that says where it serves MCP over HTTP
 * (`… serving MCP at http://127.0.0.1:PORT/mcp …`), while keeping the whole log.
 *
 * @module
 */

/** A server's stderr, read in the background. */
export interface ServerLog {
  /** Resolves with the `/mcp` URL once the server says it listens, or undefined if stderr ends first. */
  readonly url: Promise<string | undefined>;
  /** Everything read so far. */
  text(): string;
  /** Resolves when stderr has ended. */
  readonly ended: Promise<void>;
}

/**
 * Starts reading a spawned server's stderr.
 *
 * @param stderr The child's piped stderr
 * @returns The URL (when it appears) and the log
 */
export function readServerLog(stderr: ReadableStream<Uint8Array>): ServerLog {
  let log = "";
  let found: (url: string | undefined) => void = () => {};
  const url = new Promise<string | undefined>((resolve) => (found = resolve));
  const ended = (async () => {
    for await (const text of stderr.pipeThrough(new TextDecoderStream())) {
      log += text;
      const match = /serving MCP at (http:\/\/\S+?\/mcp)\b/.exec(log)?.[1];
      if (match) found(match);
    }
    found(undefined);
  })();
  return { url, text: () => log, ended };
}
