/**
 * The events an HTTP session keeps so that a client whose stream dropped can resume it with
 * `Last-Event-ID` (the MCP spec's resumability), bounded by count and by bytes, per session and across
 * all sessions, and freed when the session ends.
 *
 * Events are kept as the messages themselves (which share their strings with what was sent, so keeping
 * one costs no copy), counted by the size of their JSON text, oldest dropped first. A reply too large
 * to keep is replaced by an error reply with the same id, so a client that resumes past it learns to
 * call again instead of waiting for a reply that will never come.
 *
 * @module
 */
import type { EventStore } from "../server/sdk.ts";

/** A message as the SDK transport hands it to the store. */
export type Message = Parameters<EventStore["storeEvent"]>[1];

interface Stored {
  readonly id: string;
  readonly stream: string;
  message: Message | undefined;
  size: number;
  readonly owner: ReplayStore;
}

/**
 * The byte budget all sessions' stores share: when the total is over, the oldest events of any session
 * go first.
 */
export class ReplayBudget {
  readonly #limit: number;
  #queue: Stored[] = [];
  #head = 0;
  #bytes = 0;

  /**
   * Creates the budget.
   *
   * @param limitBytes Most bytes kept across all sessions
   */
  constructor(limitBytes: number) {
    this.#limit = limitBytes;
  }

  /** Bytes kept now, across all sessions. */
  get bytes(): number {
    return this.#bytes;
  }

  /** @internal Counts a stored event and drops the oldest ones while the total is over. */
  admit(event: Stored): void {
    this.#queue.push(event);
    this.#bytes += event.size;
    while (this.#bytes > this.#limit && this.#head < this.#queue.length) {
      const oldest = this.#queue[this.#head++]!;
      if (oldest.size > 0) oldest.owner.evict(oldest);
    }
    this.#compact();
  }

  /** @internal Uncounts an event its store dropped. */
  release(event: Stored): void {
    this.#bytes -= event.size;
    event.size = 0;
    event.message = undefined;
  }

  #compact(): void {
    // Dropped events stay queued as empty shells until the queue is compacted.
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (this.#queue.length > 4096) {
      const live = this.#queue.slice(this.#head).filter((event) => event.size > 0);
      if (live.length * 2 < this.#queue.length) {
        this.#queue = live;
        this.#head = 0;
      }
    }
  }
}

/** Bounds of one session's store. */
export interface ReplayLimits {
  /** Most events kept. */
  readonly events: number;
  /** Most bytes kept; a larger single reply is replaced by an error reply. */
  readonly bytes: number;
}

/** One session's events, for `Last-Event-ID`. */
export class ReplayStore implements EventStore {
  readonly #budget: ReplayBudget;
  readonly #limits: ReplayLimits;
  readonly #events: Stored[] = [];
  readonly #byId = new Map<string, Stored>();
  #bytes = 0;
  #counter = 0;
  #closed = false;

  /**
   * Creates a session's store.
   *
   * @param budget The budget shared by all sessions
   * @param limits This session's bounds
   */
  constructor(budget: ReplayBudget, limits: ReplayLimits) {
    this.#budget = budget;
    this.#limits = limits;
  }

  /** Bytes this session keeps now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Events this session keeps now. */
  get size(): number {
    return this.#events.length;
  }

  /**
   * Keeps an event (or, for a reply too large to keep, an error reply with its id).
   *
   * @param streamId The stream it was sent on
   * @param message The message
   * @returns Its event id
   */
  storeEvent(streamId: string, message: Message): Promise<string> {
    const id = `${streamId}_${++this.#counter}`;
    if (this.#closed) return Promise.resolve(id);
    let kept = message;
    let size = jsonSize(message);
    if (size > this.#limits.bytes) {
      const reply = message as { id?: unknown; result?: unknown; error?: unknown };
      // A notification this large (none is) would just be left out; a reply is answered with an error.
      if (reply.id === undefined || (reply.result === undefined && reply.error === undefined)) {
        return Promise.resolve(id);
      }
      kept = {
        jsonrpc: "2.0",
        id: reply.id,
        error: {
          code: -32000,
          message: `The reply (${size} bytes) was too large to keep for a resumed stream (the ` +
            `limit is ${this.#limits.bytes}); call again`,
        },
      } as Message;
      size = jsonSize(kept);
    }
    const event: Stored = { id, stream: streamId, message: kept, size, owner: this };
    this.#events.push(event);
    this.#byId.set(id, event);
    this.#bytes += event.size;
    while (
      this.#events.length > this.#limits.events ||
      (this.#bytes > this.#limits.bytes && this.#events.length > 1)
    ) {
      this.evict(this.#events[0]!);
    }
    this.#budget.admit(event);
    return Promise.resolve(id);
  }

  /**
   * The stream an event was sent on.
   *
   * @param eventId The event id (a client's `Last-Event-ID`)
   * @returns The stream, or undefined when the event is no longer kept
   */
  getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return Promise.resolve(this.#byId.get(eventId)?.stream);
  }

  /**
   * Sends the events of an event's stream that came after it.
   *
   * @param lastEventId The last event the client saw
   * @param sink Where to send them
   * @returns The stream's id, or "" when the event is no longer kept
   */
  async replayEventsAfter(
    lastEventId: string,
    sink: { send: (eventId: string, message: Message) => Promise<void> },
  ): Promise<string> {
    const from = this.#byId.get(lastEventId);
    if (!from) return "";
    // Copied first: sending awaits, and events may be stored or dropped meanwhile.
    const after = this.#events.slice(this.#events.indexOf(from) + 1).filter((e) => e.stream === from.stream);
    for (const event of after) {
      if (event.message !== undefined) await sink.send(event.id, event.message);
    }
    return from.stream;
  }

  /** @internal Drops an event (the oldest of this store). */
  evict(event: Stored): void {
    const index = this.#events.indexOf(event);
    if (index < 0) return;
    this.#events.splice(index, 1);
    this.#byId.delete(event.id);
    this.#bytes -= event.size;
    this.#budget.release(event);
  }

  /** Frees every event; later ones are not kept. */
  close(): void {
    this.#closed = true;
    for (const event of this.#events) this.#budget.release(event);
    this.#events.length = 0;
    this.#byId.clear();
    this.#bytes = 0;
  }
}

/**
 * About how long a value's JSON text is, without writing it: the lengths of its strings and numbers
 * plus the punctuation, walking at most 10,000 nodes (then the JSON itself is measured).
 */
function jsonSize(value: unknown): number {
  let nodes = 0;
  const walk = (item: unknown): number => {
    if (++nodes > 10_000) throw new RangeError("Too many nodes to walk");
    if (typeof item === "string") return item.length + 2;
    if (item === null || typeof item !== "object") return String(item).length;
    if (Array.isArray(item)) return item.reduce((sum: number, entry) => sum + walk(entry) + 1, 2);
    let size = 2;
    for (const [key, entry] of Object.entries(item)) {
      if (entry !== undefined) size += key.length + 4 + walk(entry);
    }
    return size;
  };
  try {
    return walk(value);
  } catch {
    return JSON.stringify(value)?.length ?? 0;
  }
}
