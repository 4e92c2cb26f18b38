/**
 * lib/sleep.ts, the one cancellable pause (server/tasks.ts no longer keeps a copy): a pause that ends
 * removes its abort listener, so many pauses on one long-lived signal (a request polling) leave none
 * behind; an abort ends a pause at once with CancelledError.
 */
import assert from "node:assert/strict";
import { sleep } from "../../lib/sleep.ts";
import { CancelledError } from "../../lib/errors.ts";

/** A signal that counts its abort listeners. */
function countingSignal(): { signal: AbortSignal; controller: AbortController; listeners: () => number } {
  const controller = new AbortController();
  const signal = controller.signal;
  let count = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((type: string, listener: EventListener, options?: AddEventListenerOptions) => {
    if (type === "abort") count++;
    add(type, listener, options);
  }) as typeof signal.addEventListener;
  signal.removeEventListener = ((type: string, listener: EventListener, options?: EventListenerOptions) => {
    if (type === "abort") count--;
    remove(type, listener, options);
  }) as typeof signal.removeEventListener;
  return { signal, controller, listeners: () => count };
}

Deno.test("sleep: 1,000 pauses on one signal leave no abort listener behind", async () => {
  const { signal, listeners } = countingSignal();
  for (let i = 0; i < 1_000; i++) await sleep(0, signal);
  assert.equal(listeners(), 0);
});

Deno.test("sleep: an abort ends a pause at once with CancelledError", async () => {
  const { signal, controller } = countingSignal();
  const paused = sleep(3_600_000, signal);
  controller.abort();
  await assert.rejects(paused, CancelledError);
  await assert.rejects(sleep(1, signal), CancelledError, "an aborted signal rejects at once");
});
