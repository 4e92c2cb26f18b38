import assert from "node:assert/strict";
import { join } from "node:path";
import { homeDirectory, resolveEnvironment, userEnvFilePath } from "../../lib/config/env_file.ts";
import { ConfigError } from "../../lib/errors.ts";
import { tempDir } from "../support/temp.ts";

function read(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

Deno.test("resolveEnvironment() lets the real environment win over the file", async () => {
  await using dirDir = await tempDir("env");
  const dir = dirDir.path;
  const file = join(dir, "user.env");
  await Deno.writeTextFile(file, "LM_STUDIO_URL=http://file:1\nLM_STUDIO_API_KEY=from-file\n");
  const { env, loadedFile } = resolveEnvironment({
    processEnv: { LM_STUDIO_URL: "http://real:2" },
    userEnvFile: file,
    readTextFile: read,
  });
  assert.equal(env.LM_STUDIO_URL, "http://real:2");
  assert.equal(env.LM_STUDIO_API_KEY, "from-file");
  assert.equal(loadedFile, file);
});

Deno.test("resolveEnvironment() reads --env-file instead of the per-user file", async () => {
  await using dirDir = await tempDir("env");
  const dir = dirDir.path;
  await Deno.writeTextFile(join(dir, "user.env"), "LM_STUDIO_TIMEOUT_LOAD_MS=5\n");
  await Deno.writeTextFile(join(dir, "explicit.env"), "export LM_STUDIO_URL='http://explicit:3'\n");
  const { env, loadedFile } = resolveEnvironment({
    processEnv: {},
    envFile: join(dir, "explicit.env"),
    userEnvFile: join(dir, "user.env"),
    readTextFile: read,
  });
  assert.equal(env.LM_STUDIO_URL, "http://explicit:3");
  assert.equal(env.LM_STUDIO_TIMEOUT_LOAD_MS, undefined);
  assert.equal(loadedFile, join(dir, "explicit.env"));
});

Deno.test("resolveEnvironment() fails clearly when --env-file is missing", async () => {
  await using dirDir = await tempDir("env");
  const dir = dirDir.path;
  assert.throws(
    () => resolveEnvironment({ processEnv: {}, envFile: join(dir, "nope.env"), readTextFile: read }),
    (error: unknown) =>
      error instanceof ConfigError && /--env-file .*nope\.env cannot be read/.test(error.message),
  );
});

Deno.test("resolveEnvironment() is fine without any env file", () => {
  const { env, loadedFile, notices } = resolveEnvironment({
    processEnv: {},
    userEnvFile: "/nonexistent/lmstudio-mcp/.env",
    readTextFile: read,
  });
  assert.equal(loadedFile, undefined);
  assert.equal(env.LM_STUDIO_URL, undefined);
  assert.deepEqual(notices, []);
});

Deno.test("resolveEnvironment() ignores a working-directory .env and says how to opt in", async () => {
  await using cwdDir = await tempDir("env");
  const cwd = cwdDir.path;
  await Deno.writeTextFile(
    join(cwd, ".env"),
    "LM_STUDIO_URL=http://attacker.example:80\nMCP_SESSIONS_DB=/tmp/stolen.db\nOTHER=1\n",
  );
  const { env, notices } = resolveEnvironment({
    processEnv: {},
    userEnvFile: "/nonexistent/u/.env",
    cwd,
    readTextFile: read,
  });
  assert.equal(env.LM_STUDIO_URL, undefined);
  assert.equal(env.MCP_SESSIONS_DB, undefined);
  assert.equal(notices.length, 1);
  assert.match(notices[0] ?? "", /Ignoring .*\.env: it sets LM_STUDIO_URL, MCP_SESSIONS_DB/);
  assert.match(notices[0] ?? "", /--env-file/);
});

Deno.test("resolveEnvironment() says nothing of a working-directory .env without our variables", async () => {
  await using cwdDir = await tempDir("env");
  const cwd = cwdDir.path;
  await Deno.writeTextFile(join(cwd, ".env"), "DATABASE_URL=postgres://x\n");
  const { notices } = resolveEnvironment({ processEnv: {}, cwd, readTextFile: read });
  assert.deepEqual(notices, []);
});

Deno.test("resolveEnvironment() loads a working-directory .env when it is the --env-file", async () => {
  await using cwdDir = await tempDir("env");
  const cwd = cwdDir.path;
  await Deno.writeTextFile(join(cwd, ".env"), "LM_STUDIO_URL=http://chosen:9\n");
  const { env, notices } = resolveEnvironment({
    processEnv: {},
    envFile: join(cwd, ".env"),
    cwd,
    readTextFile: read,
  });
  assert.equal(env.LM_STUDIO_URL, "http://chosen:9");
  assert.deepEqual(notices, []);
});

Deno.test("userEnvFilePath() follows each platform's config directory", () => {
  assert.equal(userEnvFilePath("linux", { HOME: "/h" }), join("/h", ".config", "lmstudio-mcp", ".env"));
  assert.equal(
    userEnvFilePath("linux", { HOME: "/h", XDG_CONFIG_HOME: "/x" }),
    join("/x", "lmstudio-mcp", ".env"),
  );
  assert.equal(
    userEnvFilePath("darwin", { HOME: "/Users/me" }),
    join("/Users/me", "Library", "Application Support", "lmstudio-mcp", ".env"),
  );
  assert.equal(
    userEnvFilePath("windows", { USERPROFILE: "C:/Users/me", APPDATA: "C:/Users/me/AppData/Roaming" }),
    join("C:/Users/me/AppData/Roaming", "lmstudio-mcp", ".env"),
  );
  assert.equal(userEnvFilePath("linux", {}), undefined);
});

Deno.test("homeDirectory() prefers USERPROFILE on Windows", () => {
  assert.equal(homeDirectory("windows", { USERPROFILE: "C:/u", HOME: "/h" }), "C:/u");
  assert.equal(homeDirectory("linux", { USERPROFILE: "C:/u", HOME: "/h" }), "/h");
});
