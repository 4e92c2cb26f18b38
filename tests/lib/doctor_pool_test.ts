/** `--check` with several servers: each is checked with its own token, and each line names its server. */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/config.ts";
import { runDoctor } from "../../lib/config/doctor.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";

Deno.test("runDoctor() checks every server of LM_STUDIO_URL, then the sessions database once", async () => {
  await using a = LmStudioSim.start({ apiKey: "sk-lm-aaaa" });
  await using b = LmStudioSim.start();
  const gone = LmStudioSim.start();
  const down = gone.url;
  await gone.close();
  const { config } = parseConfig({
    LM_STUDIO_URL: [a.url, b.url, down].join(","),
    LM_STUDIO_API_KEY: "sk-lm-aaaa,,",
    MCP_SESSIONS_DB: ":memory:",
  }, { home: "/nowhere" });
  const results = await runDoctor(config);
  const lines = results.map((r) => `${r.ok ? "ok" : "FAIL"} ${r.message}`);
  const of = (url: string) => lines.filter((l) => l.includes(`${url}: `));
  assert.ok(
    of(a.url).some((l) => l === `ok ${a.url}: Authentication: required, and LM_STUDIO_API_KEY is accepted`),
  );
  assert.ok(of(a.url).every((l) => l.startsWith("ok")), of(a.url).join("\n"));
  assert.ok(of(b.url).some((l) => l === `ok ${b.url}: Authentication: not required by LM Studio`));
  assert.ok(of(b.url).every((l) => l.startsWith("ok")));
  assert.deepEqual(of(down).map((l) => l.split(": ")[0]), [`FAIL ${down}`]);
  assert.match(of(down)[0]!, /does not answer/);
  assert.equal(lines.filter((l) => l.includes("Sessions DB")).length, 1);
  assert.equal(lines.at(-1), "ok Sessions DB: in memory (history is lost when the server stops)");
  assert.ok(b.requests.every((r) => r.authorization === null), "a's token never went to b");
});
