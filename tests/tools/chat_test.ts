/**
 * `chat` in process: stored sessions over real HTTP to the simulator and temp-dir SQLite files, across
 * restarts. Crashes (kill -9) and several processes on one file are in `tests/e2e/durability_test.ts`.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { writeReferenceDb } from "../support/reference_db.ts";
import { startInProcess } from "../support/in_process.ts";
import { textOf } from "../support/mcp.ts";
import { until } from "../support/wait.ts";

const QWEN = "qwen/qwen3-8b";
const GEMMA = "google/gemma-3-4b";

type Message = { role: string; content: string };
type ChatData = { reply: string; turns: number; omitted_turns: number; session_id: string };

async function tempDir(): Promise<{ dir: string; db: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "lmstudio-mcp-chat-" });
  return {
    dir,
    db: `${dir}/history/sessions.db`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

function sentMessages(sim: LmStudioSim): Message[][] {
  return sim.requestsTo("POST /v1/chat/completions")
    .sort((a, b) => a.startedAt - b.startedAt)
    .map((r) => (r.body as { messages: Message[] }).messages);
}

function dbTurns(path: string, id: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const row = db.prepare("SELECT count(*) AS n FROM chat_turns WHERE session_id = ?").get(id) as {
      n: number;
    };
    return Number(row.n);
  } finally {
    db.close();
  }
}

Deno.test("chat sends the whole history in order, the system prompt only at the start, and stores each turn", async () => {
  await using tmp = await tempDir();
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: tmp.db } });
  const first = await server.call("chat", {
    session_id: "plan",
    action: "send",
    model: GEMMA,
    system: "You are terse",
    message: "Hello",
    temperature: 0.3,
    max_tokens: 100,
    draft_model: QWEN,
    ttl: 600,
  });
  assert.equal(first.isError, undefined, textOf(first));
  assert.equal(textOf(first), "Reply #1 to: Hello");
  assert.match(JSON.stringify(first.content.at(-1)), /1 turn stored/);
  const second = await server.call("chat", {
    session_id: "plan",
    message: "And then?",
    system: "Be verbose",
  });
  assert.equal(textOf(second), "Reply #2 to: And then?", "the model defaults to the session's");
  assert.match(JSON.stringify(second.content), /system was ignored/);
  const data = second.structuredContent as ChatData;
  assert.equal(data.turns, 2);
  const [one, two] = sentMessages(sim);
  assert.deepEqual(one, [{ role: "system", content: "You are terse" }, { role: "user", content: "Hello" }]);
  assert.deepEqual(two, [
    { role: "system", content: "You are terse" },
    { role: "user", content: "Hello" },
    { role: "assistant", content: "Reply #1 to: Hello" },
    { role: "user", content: "And then?" },
  ]);
  const body = sim.requestsTo("POST /v1/chat/completions")[0]?.body as Record<string, unknown>;
  assert.equal(body.model, GEMMA);
  assert.equal(body.temperature, 0.3);
  assert.equal(body.max_tokens, 100);
  assert.equal(body.draft_model, QWEN);
  assert.equal(body.ttl, 600);
  assert.equal(body.stream, true);
  assert.equal(
    (sim.requestsTo("POST /v1/chat/completions")[1]?.body as Record<string, unknown>).temperature,
    0.7,
  );
  assert.equal(dbTurns(tmp.db, "plan"), 2);
  if (Deno.build.os !== "windows") {
    assert.equal((await Deno.stat(tmp.db)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${tmp.dir}/history`)).mode! & 0o777, 0o700);
  }
});

Deno.test("chat reset, list, history, export, delete and the session resources", async () => {
  await using tmp = await tempDir();
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: tmp.db } });
  const empty = await server.call("chat", { action: "list" });
  assert.match(textOf(empty), /No chat sessions are stored yet/);
  for (let i = 1; i <= 3; i++) {
    await server.call("chat", { session_id: "a", model: QWEN, message: `m${i}`, stream: false });
  }
  await server.call("chat", { session_id: "b b", model: QWEN, system: "sys", message: "hi" });
  const list = await server.call("chat", { action: "list" });
  assert.match(textOf(list), /^2 sessions[\s\S]*• b b — 1 turn, qwen\/qwen3-8b[\s\S]*• a — 3 turns/);
  const paged = await server.call("chat", { action: "list", limit: 1, offset: 1 });
  assert.deepEqual(
    (paged.structuredContent as { sessions: { session_id: string }[] }).sessions.map((s) => s.session_id),
    ["a"],
  );
  const history = await server.call("chat", { action: "history", session_id: "a", offset: 1, limit: 1 });
  assert.match(
    textOf(history),
    /turns 2–2:\n\[2\] user: m2\n\[2\] assistant: Reply #2 to: m2\n… more: call again with offset 2/,
  );
  const md = await server.call("chat", { action: "export", session_id: "b b" });
  assert.match(textOf(md), /^# Chat session b b[\s\S]*## System\n\nsys[\s\S]*\*\*User:\*\*\n\nhi/);
  const json = await server.call("chat", { action: "export", session_id: "a", format: "json" });
  const exported = JSON.parse(textOf(json)) as { messages: Message[] };
  assert.deepEqual(exported.messages.map((m) => m.content), [
    "m1",
    "Reply #1 to: m1",
    "m2",
    "Reply #2 to: m2",
    "m3",
    "Reply #3 to: m3",
  ]);
  const resources = await server.client.listResources();
  assert.deepEqual(resources.resources.map((r) => r.uri).sort(), [
    "lmstudio-mcp://sessions/a",
    "lmstudio-mcp://sessions/b%20b",
  ]);
  const read = await server.client.readResource({ uri: "lmstudio-mcp://sessions/b%20b" });
  assert.match((read.contents[0] as { text: string }).text, /# Chat session b b/);
  const reset = await server.call("chat", { session_id: "a", action: "reset" });
  assert.match(textOf(reset), /was reset/);
  const after = await server.call("chat", {
    session_id: "a",
    model: QWEN,
    system: "new system",
    message: "fresh",
  });
  assert.equal(textOf(after), "Reply #1 to: fresh", "a reset session starts over");
  assert.deepEqual(sentMessages(sim).at(-1)?.[0], { role: "system", content: "new system" });
  const deleted = await server.call("chat", { session_id: "a", action: "delete" });
  assert.match(textOf(deleted), /Deleted session "a"/);
  const missing = await server.call("chat", { session_id: "a", action: "delete" });
  assert.equal(missing.isError, true);
  assert.match(textOf(missing), /There is no session "a"\. Recent sessions: b b/);
  await assert.rejects(
    server.client.readResource({ uri: "lmstudio-mcp://sessions/a" }),
    /no chat session "a"/,
  );
});

Deno.test("chat input errors are clear and nothing reaches LM Studio", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" } });
  for (
    const [args, pattern] of [
      [{ session_id: "s", model: QWEN }, /needs message/],
      [{ session_id: "s", message: "hi" }, /needs a model for the new session "s"/],
      [{ model: QWEN, message: "hi" }, /needs session_id/],
      [{ session_id: "x".repeat(300), model: QWEN, message: "hi" }, /session_id/],
      [{ session_id: "s", model: QWEN, message: "" }, /message/],
      [
        { session_id: "s", model: QWEN, message: " \n\t" },
        /must not be empty or only white space at message/,
      ],
      [{ session_id: "", model: QWEN, message: "hi" }, /session_id/],
      [{ session_id: "s", model: QWEN, message: "hi", temperature: 3 }, /temperature/],
      [{ session_id: "s", action: "history" }, /There is no session "s"/],
    ] as const
  ) {
    const result = await server.call("chat", args);
    assert.equal(result.isError, true, JSON.stringify(args));
    assert.match(textOf(result), pattern);
  }
  assert.equal(sim.requestsTo("POST /v1/chat/completions").length, 0);
});

Deno.test("a failed, cancelled or empty reply stores nothing and the session stays usable", async () => {
  await using tmp = await tempDir();
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: tmp.db } });
  const send = (message: string) => server.call("chat", { session_id: "s", model: QWEN, message });
  assert.equal((await send("one")).isError, undefined);
  sim.fault("POST /v1/chat/completions", {
    status: 500,
    body: { error: { message: "GPU on fire" } },
    times: 1,
  });
  const failed = await send("two");
  assert.equal(failed.isError, true);
  assert.match(textOf(failed), /GPU on fire/);
  sim.chatScript = { fault: "drop", answer: "a b c d e f", reasoning: null };
  assert.match(textOf(await send("three")), /dropped[\s\S]*a b/);
  sim.chatScript = { fault: "empty" };
  const empty = await send("four");
  assert.equal(empty.isError, true);
  assert.match(
    textOf(empty),
    /returned an empty answer\. Try again, or rephrase the prompt\. Nothing was stored; the session is unchanged/,
  );
  sim.chatScript = { answer: "", reasoning: "only thinking here" };
  const thinking = await send("five");
  assert.match(
    textOf(thinking),
    /produced only reasoning \(3 tokens\) and no answer\. Raise max_tokens\. Nothing was stored/,
  );
  assert.match(JSON.stringify(thinking.content), /Reasoning:\\nonly thinking here/);
  sim.chatScript = { tokenDelayMs: 50, answer: "word ".repeat(100), reasoning: null };
  const controller = new AbortController();
  const call = server.client.callTool(
    { name: "chat", arguments: { session_id: "s", message: "six" } },
    { signal: controller.signal },
  );
  const completions = () => sim.requestsTo("POST /v1/chat/completions");
  const before = completions().length;
  await until(
    () => completions().length > before && (completions().at(-1)!.deltas ?? 0) >= 2,
    "the reply to stream",
  );
  controller.abort();
  await assert.rejects(call);
  await until(() => completions().at(-1)!.abortedAt !== undefined, "LM Studio's request to be aborted");
  assert.equal(dbTurns(tmp.db, "s"), 1, "only the first turn is stored");
  sim.chatScript = {};
  const ok = await send("seven");
  assert.equal(textOf(ok), "Reply #2 to: seven");
  assert.equal((ok.structuredContent as ChatData).turns, 2);
});

Deno.test("sessions survive a restart of the server", async () => {
  await using tmp = await tempDir();
  await using sim = LmStudioSim.start();
  {
    await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: tmp.db } });
    await server.call("chat", { session_id: "keep", model: QWEN, system: "S", message: "first" });
  }
  await using again = await startInProcess({ env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: tmp.db } });
  const reply = await again.call("chat", { session_id: "keep", message: "second" });
  assert.equal(textOf(reply), "Reply #2 to: second");
  assert.equal(sentMessages(sim).at(-1)?.length, 4);
});

Deno.test("chat trims the oldest turns to fit the context, keeps them stored, and says so", async () => {
  await using tmp = await tempDir();
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: tmp.db } });
  const big = (tag: string) => `${tag} ${"x".repeat(5000)}`;
  for (const tag of ["t1", "t2"]) {
    await server.call("chat", { session_id: "long", model: QWEN, system: "S", message: big(tag) });
  }
  const third = await server.call("chat", { session_id: "long", message: big("t3") });
  assert.equal(third.isError, undefined, textOf(third));
  const data = third.structuredContent as ChatData;
  assert.equal(data.omitted_turns, 1);
  assert.equal(data.turns, 3);
  assert.match(
    JSON.stringify(third.content),
    /The 1 oldest turn was not sent because they do not fit qwen\/qwen3-8b's loaded context of 8192 tokens; they remain stored/,
  );
  const sent = sentMessages(sim).at(-1)!;
  assert.equal(sent[0]?.content, "S", "the system message is kept");
  assert.ok(sent[1]?.content.startsWith("t2"), "the oldest turn was dropped");
  // When LM Studio knows better (no context in the model info), its overflow error trims too.
  sim.model(QWEN)!.loaded_instances[0]!.config = {};
  const fourth = await server.call("chat", { session_id: "long", message: big("t4") });
  assert.equal(fourth.isError, undefined, textOf(fourth));
  assert.ok((fourth.structuredContent as ChatData).omitted_turns >= 1);
  assert.match(JSON.stringify(fourth.content), /LM Studio said they do not fit/);
  assert.equal(dbTurns(tmp.db, "long"), 4);
});

Deno.test("an unusable MCP_SESSIONS_DB fails chat clearly and leaves the other tools working", async () => {
  await using tmp = await tempDir();
  await Deno.writeTextFile(`${tmp.dir}/not-a-dir`, "x");
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: `${tmp.dir}/not-a-dir/sessions.db` },
  });
  const result = await server.call("chat", { session_id: "s", model: QWEN, message: "hi" });
  assert.equal(result.isError, true);
  assert.match(
    textOf(result),
    /Cannot open the chat history database .*not-a-dir\/sessions\.db[\s\S]*MCP_SESSIONS_DB/,
  );
  assert.equal((await server.call("model_list")).isError, undefined);
  assert.equal(textOf(await server.call("ask", { model: QWEN, prompt: "still fine" })), "Echo: still fine");
  assert.deepEqual((await server.client.listResources()).resources, [], "resources/list still answers");
});

Deno.test("history written by mcp-llm-studio is read and continued", async () => {
  await using tmp = await tempDir();
  await writeReferenceDb(tmp.db, [
    ["refactor-plan", "system", "You are a senior TypeScript engineer", 1_700_000_000_000],
    ["refactor-plan", "user", "Which files?", 1_700_000_000_001],
    ["refactor-plan", "assistant", "src/tools/ask.ts", 1_700_000_000_002],
  ]);
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: tmp.db } });
  assert.match(textOf(await server.call("chat", { action: "list" })), /refactor-plan — 1 turn/);
  const reply = await server.call("chat", {
    session_id: "refactor-plan",
    model: QWEN,
    message: "And tests?",
  });
  assert.equal(textOf(reply), "Reply #2 to: And tests?");
  assert.deepEqual(sentMessages(sim)[0]?.slice(0, 3), [
    { role: "system", content: "You are a senior TypeScript engineer" },
    { role: "user", content: "Which files?" },
    { role: "assistant", content: "src/tools/ask.ts" },
  ]);
});

Deno.test("reset waits for a send in flight to the same session, then clears it", async () => {
  await using tmp = await tempDir();
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: tmp.db } });
  sim.chatScript = { tokenDelayMs: 40, answer: "one two three four five six", reasoning: null };
  const sending = server.call("chat", { session_id: "r", model: QWEN, message: "slow" });
  await until(() => sim.requestsTo("POST /v1/chat/completions").length > 0, "the send to reach LM Studio");
  const reset = await server.call("chat", { session_id: "r", action: "reset" });
  const sent = await sending;
  assert.equal(sent.isError, undefined, textOf(sent));
  assert.match(textOf(reset), /was reset/, "the reset ran after the send had stored its turn");
  assert.equal(dbTurns(tmp.db, "r"), 0);
});
