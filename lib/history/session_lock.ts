/**
 * Per-session locks so that two sends to one session never overlap, in one process or across
 * several (two MCP clients on the same DB file).
 *
 * In a process, a promise chain per session id. Across processes, an OS file lock
 * (`Deno.FsFile.tryLock`, flock/LockFileEx) on a small file per session next to the database: the OS
 * drops it when a process dies, even by `kill -9`, so a crash never leaves a session locked. The holder
 * removes the file before unlocking it, and a new holder checks that the file it locked is still the one
 * at the path, so the folder does not grow with every session id ever used.
 *
 * @module
 */
import { CancelledError, SessionStoreError } from "../errors.ts";
import { sleep } from "../sleep.ts";

/** Releases a held lock. */
export type Release = () => void;

/** Options of one lock acquisition. */
export interface LockOptions {
  /** Gives up waiting when aborted. */
  readonly signal?: AbortSignal | undefined;
  /** Longest wait, in ms. */
  readonly timeoutMs: number;
  /** Called once when the lock is busy and the caller has to wait. */
  readonly onWait?: (() => void) | undefined;
}

/** Locks sessions by id. */
export class SessionLocks {
  #dir: string | undefined;
  #chains = new Map<string, Promise<void>>();
  #dirReady = false;

  /**
   * Creates the instance.
   *
   * @param dir Where lock files live, or undefined for in-process locking only (`:memory:`)
   */
  constructor(dir: string | undefined) {
    this.#dir = dir;
  }

  /**
   * Waits until no other send holds the session, then holds it.
   *
   * @param id The session id
   * @param options Cancellation, bound, wait callback
   * @returns The release function; call it exactly once
   * @throws {SessionStoreError} When the wait runs out
   * @throws The signal's reason when cancelled
   */
  async acquire(id: string, options: LockOptions): Promise<Release> {
    const existing = this.#chains.get(id);
    const previous = existing ?? Promise.resolve();
    let releaseLocal!: () => void;
    const mine = new Promise<void>((resolve) => (releaseLocal = resolve));
    const chained = previous.then(() => mine);
    this.#chains.set(id, chained);
    const cleanup = () => {
      releaseLocal();
      // Forget the chain once everything queued on it is done (a cancelled waiter may still be
      // behind a holder).
      void chained.then(() => {
        if (this.#chains.get(id) === chained) this.#chains.delete(id);
      });
    };
    const deadline = Date.now() + options.timeoutMs;
    let waited = false;
    try {
      if (existing) {
        waited = true;
        options.onWait?.();
        await raceAbort(previous, options.signal, options.timeoutMs, id);
      }
      const held = await this.#lockFile(id, deadline, options, waited);
      return () => {
        if (held) {
          // Unlinked while still locked, so no one can lock this file afterwards and think they hold
          // the session: a waiter that already opened it sees the path gone and starts over.
          if (REMOVABLE) {
            try {
              Deno.removeSync(held.path);
            } catch {
              // Already gone or not removable: the next holder removes it.
            }
          }
          try {
            held.file.unlockSync();
          } catch {
            // Closing releases it anyway.
          }
          held.file.close();
        }
        cleanup();
      };
    } catch (error) {
      cleanup();
      throw error;
    }
  }

  async #lockFile(
    id: string,
    deadline: number,
    options: LockOptions,
    waited: boolean,
  ): Promise<{ file: Deno.FsFile; path: string } | undefined> {
    if (!this.#dir) return undefined;
    if (!this.#dirReady) {
      await Deno.mkdir(this.#dir, { recursive: true, mode: 0o700 });
      this.#dirReady = true;
    }
    const path = `${this.#dir}/${await lockName(id)}.lock`;
    let announced = waited;
    // Bounded by the deadline: each round either locks the file at the path, or waits 25 ms.
    while (true) {
      const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
      try {
        if (await file.tryLock(true)) {
          if (await stillAt(file, path)) return { file, path };
          file.close(); // The holder removed it after we opened it: lock the new one instead.
          continue;
        }
        file.close();
      } catch (error) {
        file.close();
        throw error;
      }
      if (!announced) {
        announced = true;
        options.onWait?.();
      }
      if (options.signal?.aborted) throw new CancelledError();
      if (Date.now() > deadline) throw timeout(id, options.timeoutMs);
      await sleep(25, options.signal);
    }
  }
}

/** Lock files are removed on release where the OS lets a file be unlinked while open and locked. */
const REMOVABLE = Deno.build.os !== "windows";

/** Whether the locked file is still the one at `path` (not unlinked by its last holder). */
async function stillAt(file: Deno.FsFile, path: string): Promise<boolean> {
  if (!REMOVABLE) return true;
  try {
    const [held, current] = await Promise.all([file.stat(), Deno.stat(path)]);
    return held.ino === current.ino && held.dev === current.dev;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function lockName(id: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(id));
  return Array.from(new Uint8Array(digest).subarray(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
}

function timeout(id: string, ms: number): SessionStoreError {
  return new SessionStoreError(
    `Session "${id}" is busy: another send to it has been running for more than ${ms} ms. Try again when ` +
      `it finishes, or use another session_id`,
  );
}

function raceAbort(
  promise: Promise<void>,
  signal: AbortSignal | undefined,
  ms: number,
  id: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(() => reject(timeout(id, ms))), ms);
    const onAbort = () => finish(() => reject(new CancelledError()));
    const finish = (action: () => void) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      action();
    };
    if (signal?.aborted) return finish(() => reject(new CancelledError()));
    signal?.addEventListener("abort", onAbort, { once: true });
    promise.then(() => finish(resolve), (error) => finish(() => reject(error)));
  });
}
