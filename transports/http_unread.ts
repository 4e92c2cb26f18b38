/**
 * Response streams whose unread bytes are bounded, per stream and over all streams.
 *
 * The SDK transport pushes every event into its response stream at once, whether or not the client
 * reads: a client that opens streams and never reads them would have the server hold every reply in
 * memory. Here each stream keeps what its client has not taken yet, counted against a budget, and hands
 * it to the HTTP server in small slices (so that nothing large sits where it cannot be counted). A
 * stream whose client has stopped reading (nothing taken for a second while bytes wait) is cut (its
 * connection closed) when its unread bytes pass the per-stream bound, or, while the total is over the
 * budget, if it holds the most. A client that reads is never cut, however much it is sent.
 *
 * @module
 */

/** Bytes handed to the HTTP server at a time. */
const SLICE_BYTES = 64 * 1024;

interface Outgoing {
  readonly unread: number;
  /** Whether its client has taken nothing for a while although bytes are waiting. */
  stalled(now: number): boolean;
  cut(why: string): void;
}

/** The unread bytes of all response streams. */
export class UnreadBudget {
  readonly #perStream: number;
  readonly #total: number;
  readonly #stallMs: number;
  readonly #streams = new Set<Outgoing>();
  #bytes = 0;

  /**
   * Creates the budget.
   *
   * @param perStream Most unread bytes of one stream whose client stopped reading
   * @param total Most unread bytes of all streams (streams whose clients stopped reading are cut)
   * @param stallMs How long a client may take nothing before it counts as stopped
   */
  constructor(perStream: number, total: number, stallMs = 1000) {
    this.#perStream = perStream;
    this.#total = total;
    this.#stallMs = stallMs;
  }

  /** Unread bytes now, over all streams. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Most unread bytes of one stream. */
  get perStream(): number {
    return this.#perStream;
  }

  /** @internal */
  join(stream: Outgoing): void {
    this.#streams.add(stream);
  }

  /** @internal */
  leave(stream: Outgoing): void {
    this.#streams.delete(stream);
  }

  /** @internal Counts bytes in (positive) or out (negative). */
  count(delta: number): void {
    this.#bytes += delta;
  }

  /** @internal While over the total, cuts the stalled stream holding the most. */
  rebalance(now: number): void {
    while (this.#bytes > this.#total) {
      let largest: Outgoing | undefined;
      for (const stream of this.#streams) {
        if (stream.stalled(now) && stream.unread > (largest?.unread ?? 0)) largest = stream;
      }
      if (!largest) return;
      largest.cut(
        `the server holds over ${this.#total} unread bytes and this stream's client stopped reading`,
      );
    }
  }

  /** @internal */
  get stallMs(): number {
    return this.#stallMs;
  }
}

/** What a bounded stream reports. */
export interface OutgoingHooks {
  /** Each chunk as it comes from the source. */
  readonly onChunk?: (chunk: Uint8Array) => void;
  /** Once: the stream ended (`gone` when its client left or it was cut, not when the source ended). */
  readonly onEnd: (gone: boolean) => void;
}

/**
 * Passes a response body through, bounding what its client leaves unread.
 *
 * @param source The body
 * @param budget The shared budget
 * @param hooks What to report
 * @returns The body to send
 */
export function boundedStream(
  source: ReadableStream<Uint8Array>,
  budget: UnreadBudget,
  hooks: OutgoingHooks,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  const queue: Uint8Array[] = [];
  let offset = 0;
  let unread = 0;
  let sourceDone = false;
  let finished = false;
  let pulling = false;
  let lastServed = performance.now();
  let wake: (() => void) | undefined;
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;

  let timer: ReturnType<typeof setTimeout> | undefined;

  const finish = (gone: boolean) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    budget.count(-unread);
    unread = 0;
    queue.length = 0;
    budget.leave(self);
    wake?.();
    hooks.onEnd(gone);
  };
  const self: Outgoing = {
    get unread() {
      return unread;
    },
    stalled: (now) => !pulling && unread > 0 && now - lastServed > budget.stallMs,
    cut: (why) => {
      if (finished) return;
      try {
        controller?.error(new Error(`Stream cut: ${why}`));
      } catch {
        // Closed already.
      }
      void reader.cancel().catch(() => {});
      finish(true);
    },
  };
  // Whether bytes are waiting on a client that stopped reading: checked when more arrive, and again once
  // the client has had time to read.
  const check = () => {
    timer = undefined;
    if (finished) return;
    const now = performance.now();
    if (self.stalled(now) && unread > budget.perStream) {
      return self.cut(`its client left over ${budget.perStream} bytes unread`);
    }
    budget.rebalance(now);
    if (!finished && unread > 0 && timer === undefined) {
      timer = setTimeout(check, Math.max(0, lastServed + budget.stallMs - now) + 10);
    }
  };
  budget.join(self);

  void (async () => {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch {
        next = { done: true } as ReadableStreamReadResult<Uint8Array>;
      }
      if (finished) return;
      if (next.done) {
        sourceDone = true;
        wake?.();
        return;
      }
      const chunk = next.value;
      hooks.onChunk?.(chunk);
      queue.push(chunk);
      unread += chunk.byteLength;
      budget.count(chunk.byteLength);
      wake?.();
      check();
    }
  })();

  return new ReadableStream<Uint8Array>({
    start: (c) => {
      controller = c;
    },
    pull: async (c) => {
      pulling = true;
      while (queue.length === 0 && !sourceDone && !finished) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      pulling = false;
      lastServed = performance.now();
      if (finished) return;
      const head = queue[0];
      if (!head) {
        c.close();
        return finish(false);
      }
      const slice = head.subarray(offset, offset + SLICE_BYTES);
      offset += slice.byteLength;
      if (offset >= head.byteLength) {
        queue.shift();
        offset = 0;
        unread -= head.byteLength;
        budget.count(-head.byteLength);
      }
      c.enqueue(slice);
    },
    cancel: async () => {
      finish(true);
      await reader.cancel().catch(() => {});
    },
  }, { highWaterMark: 0 });
}
