/**
 * One load in flight per model. LM Studio loads an unloaded model on demand (JIT) for a request that
 * names it, and for every other request that arrives before that load is done it starts one more
 * instance (`key:2`, `key:3`, …; lmstudio-bug-tracker#1751). MCP hosts issue tool calls in parallel, so
 * the first call that finds a model unloaded leads: its request (or its explicit load) loads the model,
 * and the calls that come meanwhile wait until the model is loaded, then all go at once.
 *
 * @module
 */
import { CancelledError } from "../errors.ts";

/** Leaders in a row that may end without loading before a waiting call stops waiting and goes. */
const MAX_HANDOVERS = 8;

/** Single-flight loading, per model key. */
export class LoadGate {
  /** Per model: resolves true once the leader saw the model loaded, false when it ended without. */
  readonly #leaders = new Map<string, Promise<boolean>>();

  /**
   * Whether a call is loading `model` now.
   *
   * @param model The model key
   * @returns True while a leader runs and has not seen the model loaded
   */
  loading(model: string): boolean {
    return this.#leaders.has(model);
  }

  /**
   * Runs `work` against `model`: at once when the model is loaded and no load is in flight; after the
   * load in flight otherwise; or as the leader, when the model is not loaded and nobody loads it.
   *
   * @param model The model key (the catalogue's, so that variants share one gate)
   * @param loaded Whether the catalogue shows the model loaded
   * @param work The work; the leader calls `markLoaded` as soon as it knows the model is loaded (a load
   *   event, the first token, a finished load); ending without calling it hands the lead on
   * @param signal Stops the wait
   * @returns What `work` returns
   * @throws {CancelledError} When `signal` aborts while waiting
   */
  async run<T>(
    model: string,
    loaded: boolean,
    work: (markLoaded: () => void) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    for (let handovers = 0; handovers < MAX_HANDOVERS; handovers++) {
      const leader = this.#leaders.get(model);
      if (!leader) break;
      if (await waitFor(leader, signal)) return await work(() => {});
      loaded = false; // The leader ended without loading it: lead, unless another caller already does.
    }
    if (loaded || this.#leaders.has(model)) return await work(() => {});
    const done = Promise.withResolvers<boolean>();
    this.#leaders.set(model, done.promise);
    let settled = false;
    const settle = (value: boolean) => {
      if (settled) return;
      settled = true;
      if (this.#leaders.get(model) === done.promise) this.#leaders.delete(model);
      done.resolve(value);
    };
    try {
      const result = await work(() => settle(true));
      settle(true); // It answered, so the model is loaded.
      return result;
    } finally {
      settle(false);
    }
  }
}

async function waitFor(leader: Promise<boolean>, signal: AbortSignal | undefined): Promise<boolean> {
  if (!signal) return await leader;
  if (signal.aborted) throw new CancelledError();
  const aborted = Promise.withResolvers<never>();
  const onAbort = () => aborted.reject(new CancelledError());
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await Promise.race([leader, aborted.promise]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
