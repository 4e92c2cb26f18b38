/**
 * What one loaded instance of the simulator does with the requests it serves, as LM Studio allocates
 * them: a number of parallel slots (continuous batching; more requests wait in line), and ONE KV cache
 * that every prediction in flight shares (lmstudio-js `useUnifiedKvCache`, on by default: "concurrent
 * predictions share a single KV cache"). The prompt and output tokens of all requests in flight must fit
 * the loaded context together; when they do not, every request in flight fails with "Context size has
 * been exceeded." (lmstudio-bug-tracker#1757, #1628; llama.cpp's unified cache terminates all active
 * slots at once), not only the one that crossed the line. An MLX instance instead gives each request its
 * own cache capped by the context (mlx-engine batches up to 4): only a request that outgrows its own fails.
 *
 * @module
 */

/** The text every request in flight fails with when the shared cache runs out. */
export const CONTEXT_EXCEEDED = "Context size has been exceeded.";

/** One request's share of the instance: its slot and its tokens in the cache. */
export class KvLease {
  /** Prompt plus output tokens held in the cache. */
  tokens: number;
  /** The context this request was admitted with (a native request may carry its own). */
  readonly context: number;
  readonly #failed = new AbortController();
  readonly #engine: SimEngine;
  #released = false;

  /**
   * Creates a lease; only {@linkcode SimEngine.admit} does.
   *
   * @param engine The instance
   * @param tokens The prompt's tokens
   * @param context The request's context
   */
  constructor(engine: SimEngine, tokens: number, context: number) {
    this.#engine = engine;
    this.tokens = tokens;
    this.context = context;
  }

  /** Aborted (reason {@linkcode CONTEXT_EXCEEDED}) when the shared cache ran out. */
  get failed(): AbortSignal {
    return this.#failed.signal;
  }

  /**
   * Adds generated tokens; when the cache cannot hold them, every request in flight fails.
   *
   * @param count Tokens generated
   * @returns False when this request has failed
   */
  grow(count: number): boolean {
    if (this.failed.aborted) return false;
    this.tokens += count;
    this.#engine.check();
    return !this.failed.aborted;
  }

  /** Fails this request (the cache ran out). */
  fail(): void {
    this.#failed.abort(CONTEXT_EXCEEDED);
  }

  /** Frees the slot and the tokens; safe to call twice. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#engine.release(this);
  }
}

/** How an engine reads its instance, which tests may change while it runs. */
export interface EngineSource {
  /** Parallel slots now. */
  slots(): number;
  /** The loaded context now. */
  context(): number;
  /** Called with the number of requests in flight whenever it changes. */
  busy(count: number): void;
  /** Called when a request arrives, before it waits for a slot (`open` counts it already). */
  requested?(): void;
  /** Whether the requests in flight share one cache (llama.cpp) or each has its own (MLX). @default true */
  unified?(): boolean;
}

/** One instance's slots and shared KV cache. */
export class SimEngine {
  /** Times the shared cache ran out. */
  exceeded = 0;
  readonly #source: EngineSource;
  readonly #active = new Set<KvLease>();
  readonly #queue: (() => void)[] = [];
  #waiting = 0;

  /**
   * Creates the engine.
   *
   * @param source Slots and context of the instance, read on every admission
   */
  constructor(source: EngineSource) {
    this.#source = source;
  }

  /** Requests holding a slot now. */
  get inFlight(): number {
    return this.#active.size;
  }

  /** Requests sent to this instance and not yet answered: in flight and waiting for a slot. */
  get open(): number {
    return this.#active.size + this.#waiting;
  }

  /** Tokens in the shared cache now. */
  get used(): number {
    let sum = 0;
    for (const lease of this.#active) sum += lease.tokens;
    return sum;
  }

  /**
   * Waits for a slot, then puts the prompt in the shared cache. If the cache cannot hold it with the
   * requests already in flight, every one of them (this one included) fails.
   *
   * @param promptTokens The prompt's tokens
   * @param context The request's context (the loaded one unless a native request names its own)
   * @param signal Gives up the place in line when the client goes away
   * @returns The lease; check `failed` before answering
   * @throws When the client went away while waiting
   */
  async admit(promptTokens: number, context: number, signal: AbortSignal): Promise<KvLease> {
    this.#waiting++;
    this.#source.requested?.();
    try {
      while (this.#active.size >= Math.max(1, this.#source.slots())) {
        if (signal.aborted) throw new Error("client went away while queued");
        await new Promise<void>((resolve) => {
          this.#queue.push(resolve);
          signal.addEventListener("abort", () => resolve(), { once: true });
        });
      }
    } finally {
      this.#waiting--;
    }
    if (signal.aborted) throw new Error("client went away while queued");
    const lease = new KvLease(this, promptTokens, context);
    this.#active.add(lease);
    this.#source.busy(this.#active.size);
    this.check();
    return lease;
  }

  /** Fails every request in flight when their tokens together pass the context. */
  check(): void {
    if (this.#source.unified?.() === false) {
      for (const lease of [...this.#active]) {
        if (lease.tokens <= lease.context) continue;
        this.exceeded++;
        lease.fail();
        this.#active.delete(lease);
      }
      this.#source.busy(this.#active.size);
      this.#wake();
      return;
    }
    let capacity = this.#source.context();
    for (const lease of this.#active) capacity = Math.max(capacity, lease.context);
    if (this.used <= capacity) return;
    this.exceeded++;
    for (const lease of [...this.#active]) {
      lease.fail();
      this.#active.delete(lease); // A failed prediction frees its cells at once.
    }
    this.#source.busy(this.#active.size);
    this.#wake();
  }

  /** Frees a lease's slot and tokens. */
  release(lease: KvLease): void {
    if (this.#active.delete(lease)) this.#source.busy(this.#active.size);
    this.#wake();
  }

  #wake(): void {
    // Each woken request checks the slots again; wake no more than could be free.
    let free = Math.max(1, this.#source.slots()) - this.#active.size;
    while (free-- > 0 && this.#queue.length) this.#queue.shift()!();
  }
}
