/**
 * The list methods (`tools/list`, `prompts/list`, `resources/list`, `resources/templates/list`) answer
 * in one page: every list is short and this server issues no cursors, so a request carrying one carries
 * a cursor it never gave, -32602 as the spec's pagination page asks (never the whole list again). Each
 * list handler is ours, wrapped here; the SDK's own list handlers are replaced after registration.
 *
 * @module
 */
import { ProtocolError, ProtocolErrorCode } from "./sdk.ts";

/** A list request, as far as paging goes. */
export interface ListRequest {
  /** The request's params; a `cursor` is refused. */
  readonly params?: { readonly cursor?: unknown } | undefined;
}

/**
 * A list handler that refuses a cursor and otherwise answers with the whole list.
 *
 * @param method The list method (for the error)
 * @param list Builds the whole list
 * @returns The handler to register
 */
export function onePage<R>(method: string, list: () => R | Promise<R>): (request: ListRequest) => Promise<R> {
  return (request) => {
    if (request.params?.cursor !== undefined) {
      return Promise.reject(
        new ProtocolError(
          ProtocolErrorCode.InvalidParams,
          `Invalid cursor for ${method}: this server returns the whole list in one page and gives no cursors. ` +
            "List again without one",
        ),
      );
    }
    return Promise.resolve(list());
  };
}
