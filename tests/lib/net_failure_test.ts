/**
 * Connection failures are classified from what the real runtime throws (no fetch mocks): the kinds a
 * person fixes differently get different words.
 */
import assert from "node:assert/strict";
import { classifyNetFailure } from "../../lib/net_failure.ts";
import { UnreachableError } from "../../lib/errors.ts";

async function fetchError(url: string): Promise<unknown> {
  try {
    const response = await fetch(url);
    await response.body?.cancel();
  } catch (error) {
    return error;
  }
  throw new Error(`${url} answered; a failure was expected`);
}

Deno.test("a port fetch blocks is named as the cause, with no start-the-server advice", async () => {
  // Deno refuses the Fetch standard's "bad ports" before sending anything ("Requests to port 1 are blocked").
  for (const port of [1, 6000, 10080]) {
    const error = await fetchError(`http://127.0.0.1:${port}/api/v1/models`);
    assert.deepEqual(classifyNetFailure(error), {
      kind: "blocked",
      reason: `fetch refuses to use port ${port}`,
      port,
    });
    const message = new UnreachableError(`http://127.0.0.1:${port}`, { cause: error }).message;
    assert.match(message, new RegExp(`port ${port} .*no request was sent\\. Set LM_STUDIO_URL to the port`));
    assert.doesNotMatch(message, /Start Server|lms server start/);
  }
});

Deno.test("a closed port is still a refused connection with the start-the-server advice", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const error = await fetchError(`http://127.0.0.1:${port}/`);
  assert.equal(classifyNetFailure(error).kind, "refused");
  assert.match(new UnreachableError(`http://127.0.0.1:${port}`, { cause: error }).message, /Start Server/);
});
