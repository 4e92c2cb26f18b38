/**
 * What only processes show about the chat store: seeded kill -9s in the middle of sends (before
 * LM Studio answers, mid-stream, right after the last token) never corrupt the database, never store a
 * half turn and never lose an acknowledged one; and several server processes on one file, on shared and
 * own sessions at once, lose nothing and never surface SQLITE_BUSY.
 *
 * `LMSTUDIO_MCP_KILLS` sets the number of kills (default 50), `LMSTUDIO_MCP_DURABILITY_SEED` the seed.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { LmStudioSim, type RecordedRequest } from "../support/lmstudio_sim.ts";
import { type ServerHandle, startServer, textOf } from "../support/mcp.ts";
import { random as seededRandom } from "../support/random.ts";
import { tempDir } from "../support/temp.ts";

const QWEN = "qwen/qwen3-8b";
const KILLS = Number(Deno.env.get("LMSTUDIO_MCP_KILLS") ?? "50");
const SEED = Number(Deno.env.get("LMSTUDIO_MCP_DURABILITY_SEED") ?? "20261125");
const PARALLEL = 5;

function lastUser(body: unknown): string {
  const messages = (body as { messages?: { role: string; content: unknown }[] }).messages ?? [];
  const content = messages.filter((m) => m.role === "user").at(-1)?.content;
  return typeof content === "string" ? content : "";
}

/** The whole answer to a message: a stored turn must hold exactly this, never a prefix of it. */
function answerTo(message: string): string {
  return `Answer to ${message}: ${"token ".repeat(24).trim()}`;
}

interface StoredTurn {
  seq: number;
  user: string;
  assistant: string;
}

function readTurns(
  path: string,
): { integrity: string; sessions: Map<string, StoredTurn[]>; counts: Map<string, number> } {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const integrity =
      (db.prepare("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check;
    const sessions = new Map<string, StoredTurn[]>();
    for (
      const row of db.prepare(
        "SELECT session_id, seq, user, assistant FROM chat_turns ORDER BY session_id, seq",
      )
        .all() as unknown as ({ session_id: string } & StoredTurn)[]
    ) {
      const list = sessions.get(row.session_id) ?? [];
      list.push({ seq: Number(row.seq), user: row.user, assistant: row.assistant });
      sessions.set(row.session_id, list);
    }
    const counts = new Map<string, number>();
    for (
      const row of db.prepare("SELECT id, turns FROM chat_sessions").all() as { id: string; turns: number }[]
    ) {
      counts.set(row.id, Number(row.turns));
    }
    return { integrity, sessions, counts };
  } finally {
    db.close();
  }
}

type KillPoint = { phase: "request" } | { phase: "delta"; after: number } | { phase: "end" };

Deno.test(`kill -9 mid-send, ${KILLS} times (seed ${SEED}): the database stays whole and every acknowledged turn stays`, async () => {
  await using tmp = await tempDir("durability");
  const db = `${tmp.path}/sessions.db`;
  await using sim = LmStudioSim.start();
  const random = seededRandom(SEED);
  const acknowledged = new Map<string, string[]>();
  const interrupted = new Set<string>();
  const plans = new Map<string, KillPoint & { pid: number; fired?: boolean }>();
  const maybeKill = (message: string, phase: KillPoint["phase"], record?: RecordedRequest) => {
    const plan = plans.get(message);
    if (!plan || plan.fired || plan.phase !== phase) return;
    if (plan.phase === "delta" && (record?.deltas ?? 0) < plan.after) return;
    plan.fired = true;
    Deno.kill(plan.pid, "SIGKILL");
  };
  sim.chatScript = {
    reasoning: null,
    tokenDelayMs: 1,
    answer: (body) => {
      const message = lastUser(body);
      maybeKill(message, "request");
      return answerTo(message);
    },
    onDelta: (record) => maybeKill(lastUser(record.body), "delta", record),
    onEnd: (record) => maybeKill(lastUser(record.body), "end", record),
  };
  const env = { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: db };
  let kills = 0;
  for (let round = 0; kills < KILLS; round++) {
    const batch = Math.min(PARALLEL, KILLS - kills);
    await Promise.all(Array.from({ length: batch }, async (_, slot) => {
      const session = `s${slot}`;
      const server: ServerHandle = await startServer({ env });
      try {
        const first = `${session}/${round}/kept`;
        const kept = await server.call("chat", { session_id: session, model: QWEN, message: first });
        assert.equal(kept.isError, undefined, textOf(kept));
        assert.equal(textOf(kept), answerTo(first));
        acknowledged.set(session, [...(acknowledged.get(session) ?? []), first]);
        const second = `${session}/${round}/killed`;
        const roll = random();
        const point: KillPoint = roll < 0.2
          ? { phase: "request" }
          : roll < 0.8
          ? { phase: "delta", after: Math.floor(random() * 24) }
          : { phase: "end" };
        plans.set(second, { ...point, pid: server.pid! });
        const outcome = await server.call("chat", { session_id: session, message: second }).then(
          (result) => result,
          () => undefined,
        );
        if (outcome && !outcome.isError) {
          // The reply beat the kill: it was acknowledged, so it must be stored.
          acknowledged.get(session)!.push(second);
        } else interrupted.add(second);
      } finally {
        await server.close().catch(() => {});
      }
    }));
    kills += batch;
    const stored = readTurns(db);
    assert.equal(stored.integrity, "ok", `round ${round}: integrity_check`);
    for (const [session, messages] of acknowledged) {
      const turns = stored.sessions.get(session) ?? [];
      assert.deepEqual(turns.map((t) => t.seq), turns.map((_, i) => turns[0]!.seq + i), `${session}: no gap`);
      assert.equal(stored.counts.get(session), turns.length, `${session}: the turn count matches the turns`);
      for (const turn of turns) {
        assert.equal(turn.assistant, answerTo(turn.user), `${session}: a whole turn, never half of one`);
      }
      const users = turns.map((t) => t.user);
      assert.deepEqual(
        users.filter((u) => !interrupted.has(u)),
        messages,
        `${session}: every acknowledged turn`,
      );
    }
  }
  assert.equal(kills, KILLS);
  assert.ok(
    [...plans.values()].filter((p) => p.fired).length >= KILLS - 2,
    "nearly every planned kill landed mid-send",
  );
});

Deno.test("three server processes on one file, on shared and own sessions at once: no turn lost, no SQLITE_BUSY", async () => {
  await using tmp = await tempDir("three-processes");
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, tokenDelayMs: 2, answer: (body) => answerTo(lastUser(body)) };
  const env = { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: `${tmp.path}/sessions.db` };
  const servers = await Promise.all([0, 1, 2].map(() => startServer({ env })));
  try {
    const SENDS = 4;
    const calls = servers.flatMap((server, p) =>
      Array.from({ length: SENDS }, (_, i) => [
        server.call("chat", { session_id: `own-${p}`, model: QWEN, message: `own-${p}/${i}` }),
        server.call("chat", { session_id: "shared", model: QWEN, system: "S", message: `shared-${p}/${i}` }),
      ]).flat()
    );
    const results = await Promise.all(calls);
    for (const result of results) {
      assert.equal(result.isError, undefined, textOf(result));
      assert.doesNotMatch(textOf(result), /SQLITE_BUSY|database is locked/i);
    }
    for (const server of servers) assert.doesNotMatch(server.stderr(), /SQLITE_BUSY|database is locked/i);
    const stored = readTurns(env.MCP_SESSIONS_DB);
    assert.equal(stored.integrity, "ok");
    for (const p of [0, 1, 2]) {
      // Concurrent sends to one session are serialised in whatever order they take the lock.
      assert.deepEqual(
        stored.sessions.get(`own-${p}`)?.map((t) => t.user).sort(),
        Array.from({ length: SENDS }, (_, i) => `own-${p}/${i}`),
        "every send to a process's own session is stored",
      );
    }
    const shared = stored.sessions.get("shared") ?? [];
    assert.equal(shared.length, 3 * SENDS, "every send to the shared session is stored");
    assert.equal(stored.counts.get("shared"), 3 * SENDS);
    const sentToShared = sim.requestsTo("POST /v1/chat/completions")
      .map((r) => (r.body as { messages: unknown[] }).messages)
      .filter((m) => (m[0] as { content?: string }).content === "S")
      .map((m) => m.length)
      .sort((a, b) => a - b);
    assert.deepEqual(
      sentToShared,
      Array.from({ length: 3 * SENDS }, (_, i) => 2 * i + 2),
      "each shared send saw every earlier exchange",
    );
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
});
