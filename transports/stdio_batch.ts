/**
 * JSON-RPC batches on stdio, for 2025-era connections: revision 2025-03-26 says servers MUST accept
 * them, and the Streamable HTTP transport accepts them for every 2025 revision, so stdio does the same.
 * The replies to a batch go out together, as one array on one line, once every request in it has been
 * answered (JSON-RPC 2.0, "Batch"); a batch of notifications gets no reply at all.
 *
 * @module
 */
import type { JSONRPCMessage } from "../server/sdk.ts";
import { type Id, validId } from "./guard.ts";

/** The most messages one batch may hold (the SDK's HTTP transport has the same bound). */
export const MAX_BATCH_MESSAGES = 100;

/** The most batches waiting for replies at once; a new one past it is refused. */
export const MAX_PENDING_BATCHES = 64;

/** An error reply built here, for an element no handler will see. */
export type ErrorReply = { jsonrpc: "2.0"; id: Id; error: { code: number; message: string } };

interface Pending {
  readonly expected: Set<string | number>;
  readonly replies: unknown[];
}

/** Collects the replies of batches and hands each complete batch to `write`. */
export class BatchReplies {
  readonly #pending: Pending[] = [];
  readonly #write: (replies: unknown[]) => Promise<void>;

  /**
   * Creates the instance.
   *
   * @param write Writes one complete batch reply (an array) as one line
   */
  constructor(write: (replies: unknown[]) => Promise<void>) {
    this.#write = write;
  }

  /** How many batches wait for replies. */
  get pending(): number {
    return this.#pending.length;
  }

  /**
   * Opens a batch: the elements that reach the server, and the replies already known (elements that
   * are not messages). Returns the elements to dispatch, or a refusal when too many batches wait.
   *
   * @param items The array as it arrived (1 to {@linkcode MAX_BATCH_MESSAGES} elements)
   * @param invalid Builds the error reply of an element that cannot be dispatched
   * @returns The messages to dispatch, in order
   */
  open(items: readonly unknown[], invalid: (id: Id, why: string) => ErrorReply): unknown[] {
    const batch: Pending = { expected: new Set(), replies: [] };
    const dispatch: unknown[] = [];
    for (const item of items) {
      if (typeof item !== "object" || item === null || Array.isArray(item)) {
        batch.replies.push(invalid(null, "an element of the batch is not a JSON-RPC message"));
        continue;
      }
      const record = item as Record<string, unknown>;
      const isRequest = typeof record.method === "string" && "id" in record;
      if (isRequest && record.method === "initialize") {
        batch.replies.push(invalid(validId(record.id), "initialize must not be part of a batch"));
        continue;
      }
      if (isRequest) {
        const id = validId(record.id);
        if (id === null || batch.expected.has(id)) {
          batch.replies.push(invalid(id, id === null ? "the id is not a string or number" : "a repeated id"));
          continue;
        }
        batch.expected.add(id);
      }
      dispatch.push(item);
    }
    if (batch.expected.size > 0) this.#pending.push(batch);
    else if (batch.replies.length > 0) void this.#write(batch.replies);
    return dispatch;
  }

  /**
   * Takes a reply that belongs to a waiting batch; false when it belongs to none (it goes out alone).
   *
   * @param message An outgoing message
   * @returns Whether the batch took it
   */
  take(message: JSONRPCMessage): Promise<void> | false {
    const record = message as Record<string, unknown>;
    if (!("result" in record || "error" in record)) return false;
    const id = validId(record.id);
    if (id === null) return false;
    const index = this.#pending.findIndex((batch) => batch.expected.has(id));
    if (index < 0) return false;
    const batch = this.#pending[index]!;
    batch.expected.delete(id);
    batch.replies.push(message);
    return this.#flush(index);
  }

  /**
   * Forgets a request of a batch that will not be answered (the client cancelled it).
   *
   * @param id The cancelled request's id
   */
  cancelled(id: unknown): void {
    const valid = validId(id);
    if (valid === null) return;
    const index = this.#pending.findIndex((batch) => batch.expected.has(valid));
    if (index < 0) return;
    this.#pending[index]!.expected.delete(valid);
    void this.#flush(index);
  }

  #flush(index: number): Promise<void> {
    const batch = this.#pending[index]!;
    if (batch.expected.size > 0) return Promise.resolve();
    this.#pending.splice(index, 1);
    return batch.replies.length ? this.#write(batch.replies) : Promise.resolve();
  }
}
