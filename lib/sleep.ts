/**
 * A cancellable pause, shared by the download poller and the session locks.
 *
 * @module
 */
import { CancelledError } from "./errors.ts";

/**
 * Waits `ms` milliseconds, or rejects with {@linkcode CancelledError} when `signal` aborts.
 *
 * @param ms How long
 * @param signal Cancellation
 * @returns Nothing
 * @throws {CancelledError} When cancelled
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new CancelledError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CancelledError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
