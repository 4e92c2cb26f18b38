/**
 * The log is redacted once, where it is built (server/deps.ts), and each copy sent to a client is
 * redacted where it is sent: the server's own warnings reach a 2025 client as MCP log messages without
 * the API key, as its calls' lines do.
 */
import assert from "node:assert/strict";
import { startInProcess } from "../support/in_process.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { tempDir } from "../support/temp.ts";
import { until } from "../support/wait.ts";

const KEY = "sk-lm-SENTINEL-77c0a1d3";

Deno.test("a 2025 client's copy of the server's own warnings is redacted (an unusable history path naming the key)", async () => {
  await using tmp = await tempDir("log-redaction");
  await Deno.writeTextFile(`${tmp.path}/${KEY}`, "not a folder");
  await using sim = LmStudioSim.start({ apiKey: KEY });
  await using server = await startInProcess({
    env: {
      LM_STUDIO_URL: sim.url,
      LM_STUDIO_API_KEY: KEY,
      MCP_SESSIONS_DB: `${tmp.path}/${KEY}/sessions.db`,
    },
  });
  const logs: string[] = [];
  server.client.setNotificationHandler("notifications/message", (n) => {
    logs.push(JSON.stringify(n.params));
  });
  await server.client.setLoggingLevel("debug");
  // The store cannot open: resources/list still answers, and the server warns (stderr and the client).
  assert.deepEqual((await server.client.listResources()).resources, []);
  await until(
    () => logs.some((line) => line.includes("chat history database")),
    "the warning as a log message",
  );
  for (const text of [...logs, server.stderr()]) assert.ok(!text.includes(KEY), text.slice(0, 300));
  assert.ok(logs.some((line) => line.includes("[redacted]")), logs.join("\n"));
});
