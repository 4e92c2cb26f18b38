/**
 * LM_STUDIO_URL as a list of servers: one URL is read exactly as before; several take one token each,
 * aligned with the URLs, and a token is never sent anywhere but to its own server.
 */
import assert from "node:assert/strict";
import { parseConfig } from "../../lib/config/config.ts";
import { ConfigError } from "../../lib/errors.ts";
import { hostNames, splitHosts } from "../../lib/lmstudio/hosts.ts";

const parse = (env: Record<string, string>) => parseConfig(env, { home: "/home/me" }).config;

Deno.test("parseConfig() reads one LM_STUDIO_URL as before: one host, the whole key its token", () => {
  const config = parse({ LM_STUDIO_URL: "http://10.0.0.2:4321/v1/", LM_STUDIO_API_KEY: " sk-lm-a,b " });
  assert.equal(config.baseUrl, "http://10.0.0.2:4321");
  assert.equal(config.apiKey, "sk-lm-a,b");
  assert.deepEqual(config.hosts, [{ baseUrl: "http://10.0.0.2:4321", apiKey: "sk-lm-a,b" }]);
  assert.deepEqual(parse({}).hosts, [{ baseUrl: "http://localhost:1234", apiKey: undefined }]);
});

Deno.test("parseConfig() reads a comma-separated LM_STUDIO_URL with one token per server", () => {
  const config = parse({
    LM_STUDIO_URL: " http://a.lan:1234/v1 , http://b.lan:1234,https://c.lan/api/v1 ",
    LM_STUDIO_API_KEY: "sk-lm-a,, sk-lm-c ",
  });
  assert.deepEqual(config.hosts, [
    { baseUrl: "http://a.lan:1234", apiKey: "sk-lm-a" },
    { baseUrl: "http://b.lan:1234", apiKey: undefined },
    { baseUrl: "https://c.lan", apiKey: "sk-lm-c" },
  ]);
  assert.equal(config.baseUrl, "http://a.lan:1234", "the first server is the default");
  assert.equal(config.apiKey, "sk-lm-a");
  assert.deepEqual(parse({ LM_STUDIO_URL: "http://a:1,http://b:2" }).hosts.map((h) => h.apiKey), [
    undefined,
    undefined,
  ]);
});

Deno.test("parseConfig() refuses a server list it would have to guess at", () => {
  const cases: [Record<string, string>, RegExp][] = [
    // One token for two servers would send a's token to b.
    [
      { LM_STUDIO_URL: "http://a:1,http://b:2", LM_STUDIO_API_KEY: "sk-lm-only" },
      /1 token for the 2 servers/,
    ],
    [{ LM_STUDIO_URL: "http://a:1,http://b:2", LM_STUDIO_API_KEY: "x,y,z" }, /3 tokens for the 2 servers/],
    [{ LM_STUDIO_URL: "http://a:1,,http://b:2" }, /empty entry/],
    [{ LM_STUDIO_URL: "http://a:1,http://a:1/v1" }, /lists http:\/\/a:1 twice/],
    [{ LM_STUDIO_URL: "http://a:1,http://user:pw@b:2" }, /without query, fragment or credentials/],
    [{ LM_STUDIO_URL: "http://a:1,ftp://b:2" }, /must start with http/],
    [{ LM_STUDIO_URL: Array.from({ length: 17 }, (_, i) => `http://h${i}:1`).join(",") }, /at most 16/],
  ];
  for (const [env, message] of cases) {
    assert.throws(() => parse(env), (e: unknown) => e instanceof ConfigError && message.test(e.message));
  }
  // The count only: the tokens never appear in the message.
  assert.throws(
    () => parse({ LM_STUDIO_URL: "http://a:1,http://b:2", LM_STUDIO_API_KEY: "sk-lm-secret-1" }),
    (e: unknown) => e instanceof Error && !e.message.includes("sk-lm-secret-1"),
  );
});

Deno.test("hostNames() names servers by host:port, or by URL when two would share a name", () => {
  assert.deepEqual(
    hostNames([{ baseUrl: "http://a:1", apiKey: undefined }, { baseUrl: "https://b", apiKey: "k" }]),
    ["a:1", "b"],
  );
  assert.deepEqual(
    hostNames([{ baseUrl: "http://a:1", apiKey: undefined }, { baseUrl: "https://a:1", apiKey: undefined }]),
    ["http://a:1", "https://a:1"],
  );
  assert.deepEqual(hostNames([{ baseUrl: "http://proxy/lm", apiKey: undefined }]), ["proxy/lm"]);
  assert.deepEqual(splitHosts(undefined, "", "http://d:1"), [{ url: "http://d:1", apiKey: undefined }]);
});
