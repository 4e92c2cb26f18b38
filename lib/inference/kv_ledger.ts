/**
 * One ledger per loaded model instance, shared by every call of this process (`ask`, `chat`, `each`,
 * packed folders; stdio and every HTTP session): what the instance's KV cache holds for the requests
 * this process has in flight on it, and who may start next.
 *
 * LM Studio gives a loaded GGUF instance `parallel` slots (4 by default) and ONE KV cache of
 * `context_length` tokens that every prediction in flight shares (lmstudio-js `useUnifiedKvCache`); when
 * the predictions in flight outgrow it, every one of them fails with "Context size has been exceeded."
 * (lmstudio-bug-tracker#1757). A request reserves its prompt's tokens plus its `max_tokens` (what it may
 * grow to) and starts only when that fits what the requests in flight leave and a slot is free.
 * Requests start in arrival order (a large one is not starved by small ones behind it); one larger than
 * the whole cache starts alone. A request that starts `alone` waits until nothing else is in flight and
 * keeps others out until it ends (the retry after a shared overflow).
 *
 * Keyed by (LM Studio base URL, instance id), so one process can drive several LM Studio hosts. The
 * registry is bounded: idle ledgers are dropped first.
 *
 * @module
 */

/** Which instance, on which LM Studio. */
export interface LedgerKey {
  /** LM Studio's base URL, e.g. `http://127.0.0.1:1234`. */
  readonly baseUrl: string;
  /** The loaded instance's id, e.g. `qwen/qwen3-8b:2`. */
  readonly instanceId: string;
}

/** An instance's size. */
export interface LedgerSize {
  /** Tokens the KV cache holds (the loaded `context_length`). */
  readonly capacity: number;
  /** Requests it serves at once (its `parallel` slots). */
  readonly slots: number;
}

/** A request's place in the cache; release it when the request ends, however it ends. */
export interface KvReservation {
  /** Tokens reserved. */
  readonly tokens: number;
  /** Frees the tokens and the slot; safe to call twice. */
  release(): void;
}

/** How a request asks to start. */
export interface AcquireOptions {
  /** Start only when nothing else is in flight, and keep others out until released. */
  readonly alone?: boolean;
  /** Gives up the place in line. */
  readonly signal?: AbortSignal | undefined;
}

interface Waiter {
  readonly tokens: number;
  readonly alone: boolean;
  readonly resolve: (reservation: KvReservation) => void;
}

/** Most ledgers kept; beyond it, idle ones are dropped. */
const MAX_LEDGERS = 256;
/** Most requests waiting on one ledger. */
const MAX_WAITERS = 10_000;

/** The admission ledger of one loaded instance. */
export class KvLedger {
  /** Which instance. */
  readonly key: LedgerKey;
  #capacity: number;
  #slots: number;
  #used = 0;
  #inFlight = 0;
  #peak = 0;
  #exclusive = false;
  readonly #queue: Waiter[] = [];

  /**
   * Creates a ledger; {@linkcode ledgerFor} shares them.
   *
   * @param key The instance
   * @param size Its cache and slots
   */
  constructor(key: LedgerKey, size: LedgerSize) {
    this.key = key;
    this.#capacity = Math.max(1, Math.floor(size.capacity));
    this.#slots = Math.max(1, Math.floor(size.slots));
  }

  /** Tokens the cache holds. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Tokens reserved by the requests in flight. */
  get used(): number {
    return this.#used;
  }

  /** Requests in flight. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Requests waiting to start. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** The most requests in flight at one time so far. */
  get peak(): number {
    return this.#peak;
  }

  /**
   * Updates the size (the instance was listed again); waiting requests are reconsidered.
   *
   * @param size The cache and slots now
   */
  resize(size: LedgerSize): void {
    this.#capacity = Math.max(1, Math.floor(size.capacity));
    this.#slots = Math.max(1, Math.floor(size.slots));
    this.#pump();
  }

  /**
   * Waits until `tokens` fit the cache beside the requests in flight and a slot is free (or, `alone`,
   * until nothing is in flight), in arrival order.
   *
   * @param tokens The request's prompt plus `max_tokens`
   * @param options `alone`, cancellation
   * @returns The reservation
   * @throws The signal's reason when it aborts while waiting; RangeError when too many wait
   */
  acquire(tokens: number, options: AcquireOptions = {}): Promise<KvReservation> {
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#queue.length >= MAX_WAITERS) {
      return Promise.reject(
        new RangeError(`more than ${MAX_WAITERS} requests wait for ${this.key.instanceId}`),
      );
    }
    const { promise, resolve, reject } = Promise.withResolvers<KvReservation>();
    const waiter: Waiter = { tokens: Math.max(0, Math.ceil(tokens)), alone: options.alone === true, resolve };
    const onAbort = () => {
      const at = this.#queue.indexOf(waiter);
      if (at < 0) return;
      this.#queue.splice(at, 1);
      reject(signal!.reason);
      this.#pump(); // The next in line may fit now.
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#queue.push(waiter);
    this.#pump();
    return promise.finally(() => signal?.removeEventListener("abort", onAbort));
  }

  /** Whether the request at the head of the line may start now. */
  #fits(waiter: Waiter): boolean {
    if (this.#inFlight === 0) return true;
    if (this.#exclusive || waiter.alone) return false;
    return this.#inFlight < this.#slots && this.#used + waiter.tokens <= this.#capacity;
  }

  #pump(): void {
    while (this.#queue.length && this.#fits(this.#queue[0]!)) {
      const waiter = this.#queue.shift()!;
      this.#used += waiter.tokens;
      this.#inFlight++;
      this.#peak = Math.max(this.#peak, this.#inFlight);
      if (waiter.alone) this.#exclusive = true;
      let released = false;
      waiter.resolve({
        tokens: waiter.tokens,
        release: () => {
          if (released) return;
          released = true;
          this.#used -= waiter.tokens;
          this.#inFlight--;
          if (waiter.alone) this.#exclusive = false;
          this.#pump();
        },
      });
    }
  }
}

const ledgers = new Map<string, KvLedger>();

/**
 * The process's ledger of an instance, created on first use and resized to `size` on every use (the
 * instance may have been reloaded at another context).
 *
 * @param key LM Studio's base URL and the instance id
 * @param size Its cache and slots, as LM Studio lists them now
 * @returns The shared ledger
 */
export function ledgerFor(key: LedgerKey, size: LedgerSize): KvLedger {
  const id = `${key.baseUrl}\n${key.instanceId}`;
  let ledger = ledgers.get(id);
  if (ledger) {
    ledger.resize(size);
    return ledger;
  }
  if (ledgers.size >= MAX_LEDGERS) {
    for (const [other, existing] of ledgers) {
      if (existing.inFlight === 0 && existing.waiting === 0) ledgers.delete(other);
      if (ledgers.size < MAX_LEDGERS) break;
    }
  }
  ledger = new KvLedger(key, size);
  ledgers.set(id, ledger);
  return ledger;
}

/**
 * The ledger of an instance if this process has used it.
 *
 * @param key LM Studio's base URL and the instance id
 * @returns The ledger, or undefined
 */
export function existingLedger(key: LedgerKey): KvLedger | undefined {
  return ledgers.get(`${key.baseUrl}\n${key.instanceId}`);
}
