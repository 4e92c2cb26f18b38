import assert from "node:assert/strict";
import { join } from "node:path";
import { DEFAULTS, normalizeBaseUrl, parseConfig } from "../../lib/config/config.ts";
import { ConfigError } from "../../lib/errors.ts";

const MS_VARIABLES = [
  "LM_STUDIO_TIMEOUT_DEFAULT_MS",
  "LM_STUDIO_TIMEOUT_INFERENCE_MS",
  "LM_STUDIO_TIMEOUT_LOAD_MS",
  "LM_STUDIO_SSE_IDLE_TIMEOUT_MS",
  "LM_STUDIO_DOWNLOAD_POLL_INTERVAL_MS",
  "LM_STUDIO_DOWNLOAD_POLL_TIMEOUT_MS",
  "LM_STUDIO_HEARTBEAT_MS",
] as const;

Deno.test("parseConfig() uses the reference defaults when nothing is set", () => {
  const { config, warnings } = parseConfig({}, { home: "/home/me" });
  assert.equal(config.baseUrl, "http://localhost:1234");
  assert.equal(config.apiKey, undefined);
  assert.equal(config.sessionsDb, join("/home/me", ".mcp-llm-studio", "sessions.db"));
  assert.deepEqual(config.timeouts, {
    defaultMs: 30_000,
    inferenceMs: 120_000,
    loadMs: 300_000,
    sseIdleMs: 60_000,
  });
  assert.equal(config.downloadPollIntervalMs, 5_000);
  assert.equal(config.downloadPollTimeoutMs, 120_000);
  assert.deepEqual(warnings, []);
});

Deno.test("parseConfig() reads every variable", () => {
  const { config, warnings } = parseConfig({
    LM_STUDIO_URL: "http://10.0.0.2:4321",
    LM_STUDIO_API_KEY: "sk-lm-secret",
    MCP_SESSIONS_DB: "/tmp/x.db",
    LM_STUDIO_TIMEOUT_DEFAULT_MS: "1",
    LM_STUDIO_TIMEOUT_INFERENCE_MS: "2",
    LM_STUDIO_TIMEOUT_LOAD_MS: "3",
    LM_STUDIO_SSE_IDLE_TIMEOUT_MS: "4",
    LM_STUDIO_DOWNLOAD_POLL_INTERVAL_MS: "5",
    LM_STUDIO_DOWNLOAD_POLL_TIMEOUT_MS: "6",
    LM_STUDIO_HEARTBEAT_MS: "7",
  });
  assert.equal(config.baseUrl, "http://10.0.0.2:4321");
  assert.equal(config.apiKey, "sk-lm-secret");
  assert.equal(config.sessionsDb, "/tmp/x.db");
  assert.deepEqual(config.timeouts, { defaultMs: 1, inferenceMs: 2, loadMs: 3, sseIdleMs: 4 });
  assert.equal(config.downloadPollIntervalMs, 5);
  assert.equal(config.downloadPollTimeoutMs, 6);
  assert.equal(config.heartbeatMs, 7);
  assert.deepEqual(warnings, []);
});

for (const name of MS_VARIABLES) {
  for (const bad of ["abc", "-5", "0", "1.5", "1e3", "99999999999"]) {
    Deno.test(`parseConfig() keeps the default of ${name} for "${bad}" and names it`, () => {
      const { config, warnings } = parseConfig({ [name]: bad }, { home: "/h" });
      const all = [
        config.timeouts.defaultMs,
        config.timeouts.inferenceMs,
        config.timeouts.loadMs,
        config.timeouts.sseIdleMs,
        config.downloadPollIntervalMs,
        config.downloadPollTimeoutMs,
        config.heartbeatMs,
      ];
      assert.ok(all.includes(DEFAULTS[name]));
      assert.equal(warnings.length, 1);
      assert.match(warnings[0] ?? "", new RegExp(`^${name}="`));
    });
  }
}

Deno.test("parseConfig() tolerates a trailing slash and an API suffix in LM_STUDIO_URL", () => {
  for (
    const raw of [
      "http://127.0.0.1:1234/",
      "http://127.0.0.1:1234/v1",
      "http://127.0.0.1:1234/v1/",
      "http://127.0.0.1:1234/api/v1",
      " http://127.0.0.1:1234// ",
    ]
  ) {
    assert.equal(parseConfig({ LM_STUDIO_URL: raw }).config.baseUrl, "http://127.0.0.1:1234", raw);
  }
  assert.equal(normalizeBaseUrl("https://lm.example/proxy/v1"), "https://lm.example/proxy");
});

Deno.test("parseConfig() rejects a malformed LM_STUDIO_URL with ConfigError", () => {
  for (
    const raw of ["localhost:1234", "not a url", "ftp://host:1", "http://u:p@host:1234", "http://h/?a=1"]
  ) {
    assert.throws(() => parseConfig({ LM_STUDIO_URL: raw }), ConfigError, raw);
  }
});

Deno.test("parseConfig() never puts the API key in a warning or the URL", () => {
  const { config, warnings } = parseConfig({
    LM_STUDIO_API_KEY: "sk-lm-topsecret",
    LM_STUDIO_TIMEOUT_LOAD_MS: "x",
  });
  assert.ok(!warnings.join("").includes("topsecret"));
  assert.ok(!config.baseUrl.includes("topsecret"));
});

Deno.test("parseConfig() treats a blank API key as none", () => {
  assert.equal(parseConfig({ LM_STUDIO_API_KEY: "  " }).config.apiKey, undefined);
});

Deno.test("parseConfig() expands ~ in MCP_SESSIONS_DB and keeps :memory:", () => {
  assert.equal(
    parseConfig({ MCP_SESSIONS_DB: "~/h.db" }, { home: "/home/me" }).config.sessionsDb,
    join("/home/me", "h.db"),
  );
  assert.equal(parseConfig({ MCP_SESSIONS_DB: ":memory:" }).config.sessionsDb, ":memory:");
});

Deno.test("parseConfig() keeps history in memory and warns when no home is known", () => {
  const { config, warnings } = parseConfig({});
  assert.equal(config.sessionsDb, ":memory:");
  assert.match(warnings[0] ?? "", /MCP_SESSIONS_DB/);
});

Deno.test("parseConfig() returns frozen data", () => {
  const { config } = parseConfig({});
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.timeouts));
});
