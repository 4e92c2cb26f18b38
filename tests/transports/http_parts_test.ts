/**
 * The parts of HTTP mode on their own: the replay store's byte and count bounds (per session, in total,
 * freed at the end), the unread-bytes budget, and the Host rules for each kind of bind.
 */
import assert from "node:assert/strict";
import { httpSettings } from "../../transports/http_listen.ts";
import { acceptedHosts, checkAccess } from "../../transports/http_access.ts";
import { ReplayBudget, ReplayStore } from "../../transports/http_replay.ts";
import { boundedStream, UnreadBudget } from "../../transports/http_unread.ts";
import { until } from "../support/wait.ts";

const TOKEN = "parts-token-0123456789abcdef";
type Message = Parameters<ReplayStore["storeEvent"]>[1];
const note = (text: string) =>
  ({ jsonrpc: "2.0", method: "notifications/message", params: { text } }) as Message;
const reply = (id: number, text: string) => ({ jsonrpc: "2.0", id, result: { text } }) as Message;

async function replayed(store: ReplayStore, after: string): Promise<unknown[]> {
  const sent: unknown[] = [];
  await store.replayEventsAfter(after, { send: (_id, message) => Promise.resolve(void sent.push(message)) });
  return sent;
}

Deno.test("ReplayStore keeps a session's events within its byte and count bounds, oldest dropped first", async () => {
  const budget = new ReplayBudget(1_000_000);
  const store = new ReplayStore(budget, { events: 5, bytes: 1_000 });
  const first = await store.storeEvent("s", note("x".repeat(100)));
  for (let i = 0; i < 20; i++) await store.storeEvent("s", note("y".repeat(100)));
  assert.ok(store.bytes <= 1_000 && store.size <= 5, `${store.bytes} bytes, ${store.size} events`);
  assert.equal(await store.getStreamIdForEventId(first), undefined, "the oldest is gone");
  assert.equal(budget.bytes, store.bytes);
  // A reply too large to keep is replaced by an error reply with its id; a large notification is left out.
  const before = await store.storeEvent("s", note("z"));
  await store.storeEvent("s", note("n".repeat(5_000)));
  await store.storeEvent("s", reply(9, "r".repeat(5_000)));
  const [substitute] = await replayed(store, before) as { id: number; error: { message: string } }[];
  assert.equal(substitute?.id, 9);
  assert.match(
    substitute!.error.message,
    /The reply \(\d+ bytes\) was too large to keep for a resumed stream/,
  );
  store.close();
  assert.deepEqual([store.bytes, store.size, budget.bytes], [0, 0, 0]);
});

Deno.test("ReplayBudget bounds all sessions together: the oldest events of any session go first", async () => {
  const budget = new ReplayBudget(3_000);
  const a = new ReplayStore(budget, { events: 1_000, bytes: 10_000 });
  const b = new ReplayStore(budget, { events: 1_000, bytes: 10_000 });
  const oldest = await a.storeEvent("a", note("a".repeat(900)));
  for (let i = 0; i < 10; i++) await b.storeEvent("b", note("b".repeat(900)));
  assert.ok(budget.bytes <= 3_000, `${budget.bytes}`);
  assert.equal(a.size, 0, "session a's old event was dropped for b's new ones");
  assert.equal(await a.getStreamIdForEventId(oldest), undefined);
  const mark = await b.storeEvent("b", note("m"));
  await b.storeEvent("other", note("o"));
  await b.storeEvent("b", reply(1, "done"));
  assert.deepEqual(
    await replayed(b, mark),
    [reply(1, "done")],
    "only the stream's own events, after the mark",
  );
  b.close();
  a.close();
  assert.equal(budget.bytes, 0);
});

Deno.test("UnreadBudget cuts a stream its client stopped reading once over the bounds; readers are served", async () => {
  const budget = new UnreadBudget(1_000, 1_500, 50);
  const feed = (chunks: number) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < chunks; i++) controller.enqueue(new Uint8Array(400));
        controller.close();
      },
    });
  // A reader takes everything, however much arrives at once.
  let total = 0;
  for await (const chunk of boundedStream(feed(20), budget, { onEnd: () => {} })) total += chunk.byteLength;
  assert.equal(total, 8_000);
  assert.equal(budget.bytes, 0);
  // A stream nobody reads is cut past 1,000 unread bytes, and says so.
  const cut = async (limits: UnreadBudget) => {
    let gone: boolean | undefined;
    const unread = boundedStream(feed(20), limits, { onEnd: (g) => (gone = g) });
    await until(() => gone !== undefined, "the unread stream to be cut");
    assert.equal(gone, true);
    assert.equal(limits.bytes, 0, "its bytes are released");
    const reader = unread.getReader();
    await assert.rejects(reader.read(), /Stream cut: /);
    return reader;
  };
  await cut(budget);
  // By its own bound alone, and by the total alone.
  await cut(new UnreadBudget(1_000, 1e9, 50)).then((reader) => reader.releaseLock());
  await cut(new UnreadBudget(1e9, 1_500, 50)).then((reader) => reader.releaseLock());
});

Deno.test("Host rules: loopback names and the list on every bind; any Host at /mcp only on 0.0.0.0 with no list", async () => {
  const request = (path: string, host: string, headers: Record<string, string> = {}) =>
    new Request(`http://${host}${path}`, { headers: { host, ...headers } });
  const bearer = { authorization: `Bearer ${TOKEN}` };
  const status = async (settings: ReturnType<typeof httpSettings>, req: Request) =>
    (await checkAccess(req, settings, acceptedHosts(settings, 8765)))?.status ?? 200;
  const wildcard = httpSettings("0.0.0.0:8765", { LMSTUDIO_MCP_TOKEN: TOKEN }, () => "");
  assert.equal(
    await status(wildcard, request("/mcp", "gpu-box:8765", bearer)),
    200,
    "the token protects /mcp",
  );
  assert.equal(await status(wildcard, request("/mcp", "gpu-box:8765")), 401);
  assert.equal(
    await status(wildcard, request("/health", "evil.example:8765")),
    403,
    "no /health for strangers",
  );
  assert.equal(await status(wildcard, request("/health", "evil.example:8765", bearer)), 200);
  assert.equal(
    await status(wildcard, request("/health", "127.0.0.1:8765")),
    200,
    "a process manager on the box",
  );
  const listed = httpSettings("0.0.0.0:8765", {
    LMSTUDIO_MCP_TOKEN: TOKEN,
    LMSTUDIO_MCP_ALLOWED_HOSTS: "gpu-box:8765",
  }, () => "");
  assert.equal(await status(listed, request("/mcp", "evil.example:8765", bearer)), 403);
  assert.equal(await status(listed, request("/mcp", "gpu-box:8765", bearer)), 200);
  assert.equal(await status(listed, request("/health", "localhost:8765")), 200);
  const loopback = httpSettings("127.0.0.1:8765", {}, () => "");
  assert.equal(await status(loopback, request("/health", "evil.example:8765")), 403);
  assert.equal(await status(loopback, request("/mcp", "[::1]:8765")), 200);
  const lan = httpSettings("192.168.1.5:8765", { LMSTUDIO_MCP_TOKEN: TOKEN }, () => "");
  assert.equal(await status(lan, request("/mcp", "192.168.1.5:8765", bearer)), 200);
  assert.equal(await status(lan, request("/mcp", "localhost:8765", bearer)), 403, "not reachable that way");
});
