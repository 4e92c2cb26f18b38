/**
 * The shipped permission flags at work: what they allow works, what they do not is an error that says
 * which flag to add. No request ever leaves 127.0.0.1.
 */
import assert from "node:assert/strict";
import { LmStudioSim } from "../support/lmstudio_sim.ts";
import { LOOPBACK_FLAGS, RUN_FLAGS, startServer, textOf } from "../support/mcp.ts";
import { tempDir } from "../support/temp.ts";

Deno.test("with --allow-net narrowed to loopback, another host is refused by the sandbox with the flag to add", async () => {
  await using server = await startServer({
    runFlags: LOOPBACK_FLAGS,
    env: { LM_STUDIO_URL: "http://10.255.255.1:1234" },
  });
  const result = await server.call("model_list");
  assert.equal(result.isError, true);
  assert.match(
    textOf(result),
    /may not connect to 10\.255\.255\.1:1234[\s\S]*--allow-net=10\.255\.255\.1:1234/,
  );
});

Deno.test("with file access narrowed to the history folder, chat works and other files say which flag", async () => {
  await using sim = LmStudioSim.start();
  await using homeDir = await tempDir("narrow");
  const home = homeDir.path;
  await using outsideDir = await tempDir("outside");
  const outside = outsideDir.path;
  await Deno.writeFile(
    `${outside}/cat.png`,
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  );
  const history = `${home}/.mcp-llm-studio`;
  const flags = [
    ...RUN_FLAGS.filter((f) => f !== "--allow-read" && f !== "--allow-write"),
    `--allow-read=${history}`,
    `--allow-write=${history}`,
  ];
  await using server = await startServer({ home, runFlags: flags, env: { LM_STUDIO_URL: sim.url } });
  const chat = await server.call("chat", { session_id: "s", model: "qwen/qwen3-8b", message: "hi" });
  assert.equal(chat.isError, undefined, textOf(chat));
  assert.ok((await Deno.stat(`${history}/sessions.db`)).isFile);
  const image = await server.call("ask", {
    model: "google/gemma-3-4b",
    prompt: "x",
    images: [`${outside}/cat.png`],
  });
  assert.equal(image.isError, true);
  assert.match(
    textOf(image),
    /may not read ".*cat\.png": it is outside the folders Deno's --allow-read grants[\s\S]*--allow-read=/,
  );
  await Deno.remove(outside, { recursive: true });
});
