/**
 * Waiting with a bound: on a condition instead of sleeping, on a promise, a process, a stream or an HTTP
 * reply. Each helper fails with a message naming what never happened once its bound runs out (so no
 * test waits forever, and none depends on speed), and stops what it waited on where it can.
 *
 * @module
 */

/** The default bound of every wait, in ms. */
export const WAIT_MS = 10_000;

/**
 * Polls `predicate` every few milliseconds until it returns true.
 *
 * @param predicate The condition
 * @param what What is awaited, for the failure message
 * @param limitMs The bound
 * @throws {Error} When the condition does not hold within the bound
 */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  what: string,
  limitMs = WAIT_MS,
): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (!(await predicate())) {
    if (performance.now() > deadline) throw new Error(`Timed out after ${limitMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Awaits `promise`, or fails once `limitMs` runs out.
 *
 * @param promise What is awaited
 * @param what What is awaited, for the failure message
 * @param limitMs The bound
 * @param onTimeout Stops what was awaited (kills a process, cancels a stream) when the bound runs out
 * @returns What `promise` resolves to
 * @throws {Error} When it does not settle within the bound (or its own rejection)
 */
export async function within<T>(
  promise: Promise<T>,
  what: string,
  limitMs = WAIT_MS,
  onTimeout?: () => void,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      try {
        onTimeout?.();
      } finally {
        reject(new Error(`Timed out after ${limitMs} ms waiting for ${what}`));
      }
    }, limitMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits for a process to exit; kills it when it does not within the bound.
 *
 * @param child The process
 * @param what What is awaited, for the failure message
 * @param limitMs The bound
 * @returns Its exit status
 * @throws {Error} When it does not exit within the bound
 */
export function exitOf(
  child: Deno.ChildProcess,
  what: string,
  limitMs = WAIT_MS,
): Promise<Deno.CommandStatus> {
  return within(child.status, what, limitMs, () => kill(child));
}

/**
 * Runs a command to its end, as `Deno.Command.output()` does, but kills it when it outlives the bound.
 *
 * @param command The program
 * @param options Its options; stdout and stderr are piped and stdin is null unless set
 * @param what What is awaited, for the failure message
 * @param limitMs The bound
 * @returns Its output
 * @throws {Error} When it does not end within the bound
 */
export function runWithin(
  command: string | URL,
  options: Deno.CommandOptions,
  what: string,
  limitMs = WAIT_MS,
): Promise<Deno.CommandOutput> {
  const child = new Deno.Command(command, {
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...options,
  }).spawn();
  return within(child.output(), what, limitMs, () => kill(child));
}

function kill(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already gone.
  }
}

/** Bounds of {@linkcode readUntil}. */
export interface ReadBounds {
  /** Time bound for the whole read. @default WAIT_MS */
  readonly limitMs?: number;
  /** Most characters read before giving up. @default 1,000,000 */
  readonly maxChars?: number;
}

/**
 * Reads a text stream until what was read so far satisfies `done`.
 *
 * @param reader The stream's reader (left open for more reads)
 * @param done Whether enough was read
 * @param what What is awaited, for the failure message
 * @param bounds Time and size bounds
 * @returns Everything read
 * @throws {Error} When the stream ends, grows past the size bound or stalls past the time bound first
 */
export async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  done: (text: string) => boolean,
  what: string,
  bounds: ReadBounds = {},
): Promise<string> {
  const limitMs = bounds.limitMs ?? WAIT_MS;
  const maxChars = bounds.maxChars ?? 1_000_000;
  const deadline = performance.now() + limitMs;
  let text = "";
  while (!done(text)) {
    if (text.length > maxChars) {
      throw new Error(`Read ${text.length} characters without ${what}: ${text.slice(0, 500)}`);
    }
    const left = Math.max(1, deadline - performance.now());
    const chunk = await within(reader.read(), what, Math.round(left), () => {
      reader.cancel().catch(() => {});
    }).catch((error: Error) => {
      throw new Error(`${error.message} (read so far: ${JSON.stringify(text.slice(-500))})`);
    });
    if (chunk.done) throw new Error(`The stream ended before ${what}: ${JSON.stringify(text.slice(-500))}`);
    text += chunk.value;
  }
  return text;
}

/**
 * `fetch` with a bound on the reply's headers; the request is aborted at twice the bound, so a body read
 * afterwards cannot hang either.
 *
 * @param url Where
 * @param init The request
 * @param what What is awaited, for the failure message
 * @param limitMs The bound
 * @returns The reply, its body unread
 * @throws {Error} When the headers do not arrive within the bound
 */
export function fetchWithin(
  url: string,
  init: RequestInit,
  what: string,
  limitMs = WAIT_MS,
): Promise<Response> {
  const signal = init.signal
    ? AbortSignal.any([init.signal, AbortSignal.timeout(limitMs * 2)])
    : AbortSignal.timeout(limitMs * 2);
  return within(fetch(url, { ...init, signal }), what, limitMs);
}

/**
 * `fetch` and read the whole body, with one bound for both.
 *
 * @param url Where
 * @param init The request
 * @param what What is awaited, for the failure message
 * @param limitMs The bound
 * @returns The status, headers and body text
 * @throws {Error} When the reply does not end within the bound
 */
export async function fetchText(
  url: string,
  init: RequestInit,
  what: string,
  limitMs = WAIT_MS,
): Promise<{ status: number; headers: Headers; text: string }> {
  const start = performance.now();
  const reply = await fetchWithin(url, init, what, limitMs);
  const left = Math.max(1, Math.round(limitMs - (performance.now() - start)));
  const text = await within(reply.text(), `the body of ${what}`, left);
  return { status: reply.status, headers: reply.headers, text };
}
