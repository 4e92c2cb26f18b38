/**
 * A fan-out over several LM Studio servers: one queue of items, one lane per server where the model is
 * loaded, each lane with its own width (its slots) and KV budget (its loaded context). A lane takes the
 * next queued item that fits what its requests in flight leave, so a faster server takes more items.
 *
 * When a server fails (refused, reset, 5xx: `isHostFailure`), its lane closes: the items it had in flight
 * go back to the front of the queue and the other lanes take them. An item is sent again only after its
 * previous attempt ended with such a failure, so it is answered at most once; it fails only when no lane
 * is left. A lane a caller reports down (`isDown`) stops taking items. Aborting stops every lane: queued
 * items end with the abort, and the runs in flight get the caller's signal.
 *
 * @module
 */
import type { Settled } from "./fanout.ts";

/** One server's lane. */
export interface Lane<H> {
  /** The server. */
  readonly host: H;
  /** Its name, for the report. */
  readonly name: string;
  /** Most requests in flight on it (at least 1). */
  readonly width: number;
  /** What its requests in flight may use together (tokens of its loaded context). */
  readonly total: number;
}

/** What one lane did. */
export interface LaneReport {
  /** The server's name. */
  readonly host: string;
  /** Requests sent to it (a request moved away after its failure counts here too). */
  readonly requests: number;
  /** Answers it gave. */
  readonly answers: number;
  /** The most requests it had in flight at once. */
  readonly at_once: number;
  /** Why it stopped taking items, when it failed. */
  readonly failed?: string;
  /** Requests it had started that moved to other servers after it failed. */
  readonly moved?: number;
}

/** The outcomes, the peak in flight over all lanes, and one report per lane. */
export interface LanesRun<R> {
  /** One outcome per item, in input order. */
  readonly settled: Settled<R>[];
  /** The most requests in flight at one time over every lane. */
  readonly peak: number;
  /** One report per lane, in lane order. */
  readonly lanes: LaneReport[];
}

/** Options of {@linkcode mapOverLanes}. */
export interface LanesOptions<H> {
  /** What one item uses of a lane's `total`. */
  readonly cost: (index: number) => number;
  /** Whether an error means the server failed (its items move to other lanes). */
  readonly isHostFailure: (error: unknown) => boolean;
  /** Told once when a lane closes after a failure. */
  readonly onHostFailure?: ((lane: Lane<H>, error: unknown) => void) | undefined;
  /** Whether a server was marked down elsewhere meanwhile (its lane then takes nothing more). */
  readonly isDown?: ((lane: Lane<H>) => boolean) | undefined;
  /** Stops every lane. */
  readonly signal?: AbortSignal | undefined;
  /** How a lane's failure is reported. @default the error's message */
  readonly describe?: ((error: unknown) => string) | undefined;
}

interface LaneState<H> {
  readonly lane: Lane<H>;
  inFlight: number;
  used: number;
  peak: number;
  requests: number;
  answers: number;
  moved: number;
  failed: string | undefined;
}

/**
 * Maps `items` through `run` over `lanes` (see the module doc).
 *
 * @param items The inputs
 * @param lanes One per server, in order of preference (at least one)
 * @param run The work for one item on one lane
 * @param options Cost, failure classification, cancellation
 * @returns One outcome per item, in input order, the peak and the per-lane report
 */
export async function mapOverLanes<T, R, H>(
  items: readonly T[],
  lanes: readonly Lane<H>[],
  run: (item: T, index: number, lane: Lane<H>) => Promise<R>,
  options: LanesOptions<H>,
): Promise<LanesRun<R>> {
  const out: Settled<R>[] = new Array(items.length);
  const states: LaneState<H>[] = lanes.map((lane) => ({
    lane,
    inFlight: 0,
    used: 0,
    peak: 0,
    requests: 0,
    answers: 0,
    moved: 0,
    failed: undefined,
  }));
  const queue = items.map((_, i) => i);
  const tries = new Array<number>(items.length).fill(0);
  let inFlight = 0;
  let peak = 0;
  let lastFailure: unknown = new Error("no LM Studio server could take the request");
  const all = Promise.withResolvers<void>();
  const open = (s: LaneState<H>) => s.failed === undefined && !options.isDown?.(s.lane);
  const cost = (index: number) => Math.max(0, options.cost(index));
  /** The queued item a lane takes now, if any: the first that fits what its requests leave. */
  const pick = (s: LaneState<H>): number | undefined => {
    const room = s.lane.total - s.used;
    const at = queue.findIndex((index) => cost(index) <= room);
    if (at >= 0) return queue.splice(at, 1)[0];
    if (s.inFlight > 0) return undefined;
    // Too large for this lane even alone: it runs alone where it fits best (the largest open lane).
    const largest = Math.max(...states.filter(open).map((o) => o.lane.total));
    return s.lane.total >= largest && queue.length ? queue.shift() : undefined;
  };
  const settle = (index: number, outcome: Settled<R>) => {
    out[index] = outcome;
  };
  const pump = () => {
    if (options.signal?.aborted) {
      for (const index of queue.splice(0)) settle(index, { ok: false, error: options.signal.reason });
    }
    if (queue.length && !states.some(open)) {
      for (const index of queue.splice(0)) settle(index, { ok: false, error: lastFailure });
    }
    for (const s of states) {
      while (open(s) && s.inFlight < Math.max(1, Math.floor(s.lane.width)) && queue.length) {
        const index = pick(s);
        if (index === undefined) break;
        start(s, index);
      }
    }
    if (queue.length === 0 && inFlight === 0) all.resolve();
  };
  const start = (s: LaneState<H>, index: number) => {
    const c = cost(index);
    s.inFlight++;
    s.used += c;
    s.requests++;
    s.peak = Math.max(s.peak, s.inFlight);
    inFlight++;
    peak = Math.max(peak, inFlight);
    tries[index]!++;
    run(items[index]!, index, s.lane).then(
      (value) => {
        s.answers++;
        settle(index, { ok: true, value });
      },
      (error) => {
        const hostFailed = !options.signal?.aborted && options.isHostFailure(error);
        if (!hostFailed) return settle(index, { ok: false, error });
        lastFailure = error;
        if (s.failed === undefined) {
          s.failed = options.describe?.(error) ?? (error instanceof Error ? error.message : String(error));
          options.onHostFailure?.(s.lane, error);
        }
        // Back to the front: answered once, by another server, unless every server has failed it.
        if (tries[index]! < states.length && states.some(open)) {
          s.moved++;
          queue.unshift(index);
        } else settle(index, { ok: false, error });
      },
    ).finally(() => {
      s.inFlight--;
      s.used -= c;
      inFlight--;
      pump();
    });
  };
  pump();
  await all.promise;
  return {
    settled: out,
    peak,
    lanes: states.map((s) => ({
      host: s.lane.name,
      requests: s.requests,
      answers: s.answers,
      at_once: s.peak,
      ...(s.failed === undefined ? {} : { failed: s.failed, moved: s.moved }),
    })),
  };
}
