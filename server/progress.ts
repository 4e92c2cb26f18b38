/**
 * MCP progress notifications for one tool call: throttled, strictly increasing, with a heartbeat.
 *
 * MCP clients cut a tool call after ~60 s unless progress resets their timer, so while a call waits
 * (cold load, long prompt) we repeat the last message at least every `heartbeatMs`. Without a
 * `progressToken` from the client every method is a no-op (MCP spec, "Progress": notifications
 * only for a token the requester provided).
 *
 * @module
 */

/** The `params` of a `notifications/progress`, less the token. */
export interface ProgressParams {
  /** Strictly increasing value. */
  readonly progress: number;
  /** Total, when known. */
  readonly total?: number;
  /** What is happening. */
  readonly message: string;
}

/** Sends one progress notification. */
export type SendProgress = (params: ProgressParams) => Promise<void>;

/** The timers a reporter uses; tests pass ones they fire by hand. */
export interface ProgressTimers {
  /** Runs `callback` once after `ms`. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a {@linkcode ProgressTimers.setTimeout} (a no-op for undefined). */
  clearTimeout(id: unknown): void;
  /** Runs `callback` every `ms`. */
  setInterval(callback: () => void, ms: number): unknown;
  /** Cancels a {@linkcode ProgressTimers.setInterval} (a no-op for undefined). */
  clearInterval(id: unknown): void;
}

const GLOBAL_TIMERS: ProgressTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (id) => clearTimeout(id as number | undefined),
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (id) => clearInterval(id as number | undefined),
};

/** Options of {@linkcode ProgressReporter}. */
export interface ProgressReporterOptions {
  /** Longest silence before a heartbeat, in ms. */
  readonly heartbeatMs: number;
  /** Shortest gap between two notifications, in ms. @default 100 (10 per second) */
  readonly minIntervalMs?: number;
  /** Milliseconds clock. @default Date.now */
  readonly now?: () => number;
  /** Called when a notification cannot be sent (the client went away). */
  readonly onError?: (error: unknown) => void;
  /** Timers. @default the global ones */
  readonly timers?: ProgressTimers;
}

/** Reports progress of one tool call. */
export class ProgressReporter {
  #send: SendProgress | undefined;
  #last = 0;
  #lastSentAt = 0;
  #lastMessage = "Working";
  #total: number | undefined;
  #pending: { message: string; progress?: number | undefined } | undefined;
  #flushTimer: unknown;
  #heartbeat: unknown;
  #startedAt: number;
  #closed = false;
  #options: Required<Omit<ProgressReporterOptions, "onError">> & ProgressReporterOptions;

  /**
   * Creates the instance.
   *
   * @param send Sends a notification, or undefined when the client gave no progressToken
   * @param options Heartbeat and throttle
   */
  constructor(send: SendProgress | undefined, options: ProgressReporterOptions) {
    this.#send = send;
    this.#options = { minIntervalMs: 100, now: Date.now, timers: GLOBAL_TIMERS, ...options };
    this.#startedAt = this.#options.now();
    if (send) {
      const tick = Math.max(50, Math.min(options.heartbeatMs, 1000));
      this.#heartbeat = this.#options.timers.setInterval(() => this.#beat(), tick);
    }
  }

  /** Whether the client asked for progress. */
  get enabled(): boolean {
    return this.#send !== undefined && !this.#closed;
  }

  /**
   * Reports what is happening; throttled to `minIntervalMs`.
   *
   * @param message What is happening
   * @param progress A value that should only grow (bytes, tokens); a step is used otherwise
   * @param total The value at completion, when known
   */
  update(message: string, progress?: number, total?: number): void {
    if (!this.enabled) return;
    if (total !== undefined && total > 0) this.#total = total;
    this.#lastMessage = message;
    const now = this.#options.now();
    const wait = this.#lastSentAt + this.#options.minIntervalMs - now;
    if (wait > 0) {
      this.#pending = { message, progress };
      this.#flushTimer ??= this.#options.timers.setTimeout(() => this.flush(), wait);
      return;
    }
    // Sent at once: a throttled older message must not follow it (its timer may be late under load).
    this.#dropPending();
    this.#emit(message, progress);
  }

  /** Sends a throttled update now, e.g. the final count just before the result. */
  flush(): void {
    const pending = this.#pending;
    this.#dropPending();
    if (pending) this.#emit(pending.message, pending.progress);
  }

  /** Stops all timers; nothing is sent after this (the result is on its way). */
  close(): void {
    this.#closed = true;
    this.#dropPending();
    this.#options.timers.clearInterval(this.#heartbeat);
  }

  #dropPending(): void {
    this.#options.timers.clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#pending = undefined;
  }

  #beat(): void {
    const now = this.#options.now();
    if (now - this.#lastSentAt < this.#options.heartbeatMs) return;
    const seconds = Math.round((now - this.#startedAt) / 1000);
    this.#emit(`${this.#lastMessage} (still working, ${seconds} s)`);
  }

  #emit(message: string, requested?: number): void {
    if (!this.enabled || !this.#send) return;
    const step = this.#total ? this.#total / 100_000 : 1;
    const progress = requested !== undefined && requested > this.#last ? requested : this.#last + step;
    this.#last = progress;
    this.#lastSentAt = this.#options.now();
    const params: ProgressParams = this.#total !== undefined
      ? { progress, total: Math.max(this.#total, progress), message }
      : { progress, message };
    this.#send(params).catch((error) => this.#options.onError?.(error));
  }
}
