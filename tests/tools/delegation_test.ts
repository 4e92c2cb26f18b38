/**
 * Delegation through the SDK client: `files` (roots honoured and re-read, globs, folders that skip hidden,
 * `.gitignore`d and binary files, caps from the loaded context, outside-root refused), `each`/`prompts`
 * with `combine` (order kept, one failure isolated, cancel aborts all, one load before the fan-out,
 * never more requests in flight than the model's parallel slots), and `chat` with files.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { defaultModels, LmStudioSim, slottedModel } from "../support/lmstudio_sim.ts";
import { startInProcess } from "../support/in_process.ts";
import { textOf } from "../support/mcp.ts";
import { tempDir } from "../support/temp.ts";
import { until } from "../support/wait.ts";

const QWEN = "qwen/qwen3-8b";
const fileUrl = (path: string) => pathToFileURL(path).href;

type Files = { read: { path: string; chars: number }[]; skipped: { path: string; reason: string }[] };
type Item = { item: string; answer: string | null; error: string | null };

/** A small project: sources, a .gitignore, a hidden folder, build output, a binary and a Latin-1 file. */
async function project(root: string): Promise<void> {
  const write = async (path: string, content: string | Uint8Array) => {
    await Deno.mkdir(join(root, path, ".."), { recursive: true });
    if (typeof content === "string") await Deno.writeTextFile(join(root, path), content);
    else await Deno.writeFile(join(root, path), content);
  };
  await Deno.mkdir(join(root, ".git"));
  await write(".gitignore", "dist/\n*.log\n!keep.log\n");
  await write("src/a.ts", "export const a = 1;\n");
  await write("src/b.ts", "export const b = 2;\n");
  await write("src/sub/c.ts", "export const c = 3;\n");
  await write("src/readme.md", "# notes\n");
  await write("dist/out.js", "compiled();\n");
  await write("debug.log", "noise\n");
  await write("keep.log", "kept on purpose\n");
  await write(".hidden/secret.ts", "hidden();\n");
  await write("logo.png", new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 1, 2, 3]));
  await write("latin1.txt", new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0a]));
}

function sentInputs(sim: LmStudioSim): string[] {
  return sim.requestsTo("POST /api/v1/chat").map((r) => String((r.body as { input: unknown }).input));
}

Deno.test("ask files: globs and folders are read by the server, framed with their paths, and reported", async () => {
  await using tmp = await tempDir("files");
  await project(tmp.path);
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url },
    roots: () => [{ uri: fileUrl(tmp.path), name: "project" }],
  });
  const glob = await server.call("ask", { model: QWEN, prompt: "Summarise", files: ["src/**/*.ts"] });
  assert.equal(glob.isError, undefined, textOf(glob));
  const files = (glob.structuredContent as { files: Files }).files;
  assert.deepEqual(files.read.map((f) => f.path), ["src/a.ts", "src/b.ts", "src/sub/c.ts"]);
  const input = sentInputs(sim).at(-1)!;
  assert.match(input, /^Summarise\n\n<file path="src\/a.ts">\nexport const a = 1;\n\n<\/file>/);
  assert.match(input, /<file path="src\/sub\/c.ts">/);
  assert.match(JSON.stringify(glob.content), /Read 3 files \(\d+ characters, ~\d+ tokens\)/);

  const folder = await server.call("ask", { model: QWEN, prompt: "Summarise", files: ["."] });
  const all = (folder.structuredContent as { files: Files }).files;
  assert.deepEqual(all.read.map((f) => f.path), [
    "keep.log", // *.log is ignored, but !keep.log takes it back
    "src/a.ts",
    "src/b.ts",
    "src/readme.md",
    "src/sub/c.ts",
  ]);
  assert.deepEqual(
    all.skipped.map((s) => `${s.path}: ${s.reason}`).sort(),
    ["latin1.txt: not UTF-8 text", "logo.png: binary"],
    "binary and non-UTF-8 files are listed; hidden and .gitignored ones are not read at all",
  );
  assert.doesNotMatch(sentInputs(sim).at(-1)!, /hidden\(\)|compiled\(\)|noise/);

  const named = await server.call("ask", {
    model: QWEN,
    prompt: "Check",
    files: ["dist/out.js", "src/none.ts"],
  });
  assert.equal(named.isError, true, "a missing path is an error");
  assert.match(textOf(named), /src\/none.ts cannot be read \(no such file or folder\)/);
  const explicit = await server.call("ask", { model: QWEN, prompt: "Check", files: ["dist/out.js"] });
  assert.deepEqual((explicit.structuredContent as { files: Files }).files.read.map((f) => f.path), [
    "dist/out.js",
  ]);
});

Deno.test("ask files: outside the roots is refused, links out are skipped, and roots are re-read when they change", async () => {
  await using tmp = await tempDir("roots");
  await project(tmp.path);
  await using outside = await tempDir("outside");
  await Deno.writeTextFile(join(outside.path, "secret.txt"), "top secret\n");
  await Deno.symlink(join(outside.path, "secret.txt"), join(tmp.path, "src", "link.ts"));
  let roots = [{ uri: fileUrl(join(tmp.path, "src")), name: "src" }];
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url }, roots: () => roots });
  const refused = await server.call("ask", {
    model: QWEN,
    prompt: "x",
    files: [join(outside.path, "secret.txt")],
  });
  assert.equal(refused.isError, true);
  assert.match(
    textOf(refused),
    /is outside the folders files may be read from \(.*src\)\. Pass a path inside one of the client's MCP roots/,
  );
  const escape = await server.call("ask", { model: QWEN, prompt: "x", files: ["../debug.log"] });
  assert.match(textOf(escape), /outside the folders files may be read from/);
  const linked = await server.call("ask", { model: QWEN, prompt: "x", files: ["**/*.ts"] });
  const files = (linked.structuredContent as { files: Files }).files;
  assert.deepEqual(files.skipped, [{ path: "link.ts", reason: "a link to outside the allowed folders" }]);
  assert.doesNotMatch(
    sentInputs(sim).join("\n"),
    /top secret/,
    "nothing outside the roots reached LM Studio",
  );
  // The client changes its roots and says so: the next call sees the new ones.
  roots = [{ uri: fileUrl(outside.path), name: "other" }];
  await server.client.sendRootsListChanged();
  await until(async () => {
    const r = await server.call("ask", {
      model: QWEN,
      prompt: "x",
      files: [join(outside.path, "secret.txt")],
    });
    return r.isError === undefined;
  }, "the new roots to apply");
});

Deno.test("ask files: a file larger than the context is read in parts; only the per-file cap skips", async () => {
  await using tmp = await tempDir("caps");
  await Deno.writeTextFile(join(tmp.path, "big.txt"), "word word word word\n".repeat(2500)); // 50,000 characters
  await Deno.writeTextFile(join(tmp.path, "small.txt"), "small file\n");
  await using sim = LmStudioSim.start(); // qwen/qwen3-8b is loaded with 8,192 tokens of context
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url },
    roots: () => [{ uri: fileUrl(tmp.path) }],
  });
  const result = await server.call("ask", { model: QWEN, prompt: "x", files: ["."] });
  assert.equal(result.isError, undefined, textOf(result));
  const files = (result.structuredContent as { files: Files }).files;
  assert.deepEqual(files.read.map((f) => f.path), ["big.txt", "small.txt"]);
  assert.deepEqual(files.skipped, []);
  const inputs = sim.requestsTo("POST /api/v1/chat").map((r) => String((r.body as { input: string }).input));
  assert.ok(
    inputs.some((i) => /<file path="big.txt" lines="1-\d+" of="2501">/.test(i)),
    "framed with its lines",
  );
  const noRoom = await server.call("ask", {
    model: QWEN,
    prompt: "x",
    files: ["small.txt"],
    max_tokens: 8150,
  });
  assert.match(textOf(noRoom), /no room for files in a request of 8192 tokens with max_tokens 8150/);
});

Deno.test("each: one request per file in order, one failure isolated, combine merges the answers", async () => {
  await using tmp = await tempDir("each");
  for (const name of ["1.txt", "2.txt", "3.txt", "4.txt", "5.txt"]) {
    await Deno.writeTextFile(join(tmp.path, name), `content of ${name}\n`);
  }
  await using sim = LmStudioSim.start();
  sim.chatScript = {
    reasoning: null,
    answer: (body) => {
      const input = String(body.input);
      return input.startsWith("Merge") ? "MERGED" : `summary of ${/content of (\S+)/.exec(input)?.[1]}`;
    },
  };
  sim.fault("POST /api/v1/chat", {
    status: 500,
    body: { error: "Compute error." },
    bodyIncludes: "content of 3.txt",
  });
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url },
    roots: () => [{ uri: fileUrl(tmp.path) }],
  });
  const result = await server.call("ask", {
    model: QWEN,
    prompt: "Summarise",
    files: ["*.txt"],
    each: true,
    combine: "Merge these",
  });
  assert.equal(result.isError, undefined, textOf(result));
  const data = result.structuredContent as { answer: string; items: Item[] };
  assert.equal(data.answer, "MERGED");
  assert.deepEqual(
    data.items.map((i) => i.item),
    ["1.txt", "2.txt", "3.txt", "4.txt", "5.txt"],
    "order kept",
  );
  assert.deepEqual(data.items.map((i) => i.answer), [
    "summary of 1.txt",
    "summary of 2.txt",
    null,
    "summary of 4.txt",
    "summary of 5.txt",
  ]);
  assert.match(data.items[2]!.error!, /Compute error/);
  const merged = sentInputs(sim).find((input) => input.startsWith("Merge these"))!;
  assert.match(merged, /<answer item="1.txt">\nsummary of 1.txt\n<\/answer>/);
  assert.doesNotMatch(merged, /3\.txt/, "a failed item is left out of the combine");
  assert.match(JSON.stringify(result.content), /4 of 5 answered, 1 failed/);
});

/** Runs `prompts` over `count` items of `model` and returns the progress messages seen. */
async function fanOut(sim: LmStudioSim, model: string, count: number): Promise<string[]> {
  sim.chatScript = {
    reasoning: null,
    tokenDelayMs: 5,
    answer: (body) => `echo ${String(body.input).slice(-3)}`,
  };
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const progress: string[] = [];
  const prompts = Array.from({ length: count }, (_, i) => `item ${String(i).padStart(2, "0")}`);
  const result = await server.client.callTool(
    { name: "ask", arguments: { model, prompt: "Classify", prompts, max_tokens: 100 } },
    { onprogress: (p) => progress.push(p.message ?? "") },
  );
  const data = result.structuredContent as { items: Item[] };
  assert.deepEqual(data.items.map((i) => i.answer), prompts.map((p) => `echo ${p.slice(-3)}`));
  return progress;
}

Deno.test("prompts: 16 items never exceed the instance's 2 parallel slots, and progress counts them", async () => {
  const model = "acme/two-slots";
  await using sim = LmStudioSim.start({ models: [...defaultModels(), slottedModel(model, 2)] });
  const progress = await fanOut(sim, model, 16);
  assert.equal(sim.peakRequested.get(model), 2, "never more requests at once than the instance's slots");
  assert.equal(sim.peakInFlight.get(model), 2, "as many at once as the instance has slots");
  assert.match(progress.at(-1) ?? "", /\(up to 2 at a time\)/);
  const counts = progress.map((m) => Number(/^(\d+) of 16 done/.exec(m)?.[1] ?? -1));
  assert.ok(counts.every((n) => n >= 0), progress.join(" | "));
  assert.ok(counts.some((n) => n > 0), `progress counted finished items: ${progress.join(" | ")}`);
  assert.deepEqual(counts, [...counts].sort((a, b) => a - b), "the count only grows");
});

Deno.test("prompts: an instance whose config has no parallel field gets LM Studio's default of 4", async () => {
  const model = "acme/no-parallel-field";
  await using sim = LmStudioSim.start({ models: [...defaultModels(), slottedModel(model, undefined)] });
  const progress = await fanOut(sim, model, 8);
  assert.equal(sim.peakRequested.get(model), 4, "4 requests at once, no more");
  assert.equal(sim.peakInFlight.get(model), 4);
  assert.match(progress.at(-1) ?? "", /\(up to 4 at a time\)/);
});

Deno.test("each loads an unloaded model once before fanning out, with the requested context", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const result = await server.call("ask", {
    model: "google/gemma-3-4b",
    prompt: "Classify",
    prompts: ["a", "b", "c", "d", "e", "f"],
    context_length: 4096,
  });
  assert.equal(result.isError, undefined, textOf(result));
  const loads = sim.requestsTo("POST /api/v1/models/load");
  assert.equal(loads.length, 1, "one explicit load");
  assert.equal((loads[0]!.body as { context_length: number }).context_length, 4096);
  const chats = sim.requestsTo("POST /api/v1/chat");
  assert.ok(chats.every((c) => c.startedAt > loads[0]!.startedAt), "every request after the load");
  assert.ok(chats.every((c) => !("context_length" in (c.body as object))), "no per-request reload");
});

Deno.test("cancelling an each call aborts every request in flight and starts no more", async () => {
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, tokenDelayMs: 50, answer: "word ".repeat(200) };
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const controller = new AbortController();
  const call = server.client.callTool(
    {
      name: "ask",
      arguments: {
        model: QWEN,
        prompt: "x",
        prompts: Array.from({ length: 12 }, (_, i) => `p${i}`),
        max_tokens: 300,
      },
    },
    { signal: controller.signal },
  );
  const chats = () => sim.requestsTo("POST /api/v1/chat");
  await until(() => chats().filter((c) => (c.deltas ?? 0) > 0).length === 4, "four requests to stream");
  controller.abort();
  await assert.rejects(call);
  await until(() => chats().every((c) => c.abortedAt !== undefined), "every request in flight to be aborted");
  assert.equal(chats().length, 4, "no request started after the cancel");
});

Deno.test("each and prompts explain their wrong combinations", async () => {
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({ env: { LM_STUDIO_URL: sim.url } });
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ each: true }, /each: true needs files/],
    [{ combine: "merge" }, /combine merges the answers of each or prompts/],
    [{ prompts: ["a"], files: ["x"] }, /either prompts .* or files with each/],
    [
      { prompts: ["a"], images: ["data:image/png;base64,AAAA"] },
      /images cannot be combined with each or prompts/,
    ],
  ];
  for (const [extra, pattern] of cases) {
    const result = await server.call("ask", { model: QWEN, prompt: "x", ...extra });
    assert.equal(result.isError, true, JSON.stringify(extra));
    assert.match(textOf(result), pattern);
  }
  assert.equal(sim.requestsTo("POST /api/v1/chat").length, 0);
});

Deno.test("chat files: sent with the message, stored as paths and digests, so later turns stay small", async () => {
  await using tmp = await tempDir("chat-files");
  await Deno.writeTextFile(join(tmp.path, "spec.md"), "The answer is 42.\n");
  await using sim = LmStudioSim.start();
  sim.chatScript = { reasoning: null, answer: "Noted." };
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: join(tmp.path, "sessions.db") },
    roots: () => [{ uri: fileUrl(tmp.path) }],
  });
  const first = await server.call("chat", {
    session_id: "s",
    model: QWEN,
    message: "Read this",
    files: ["spec.md"],
  });
  assert.equal(first.isError, undefined, textOf(first));
  const sent = sim.requestsTo("POST /v1/chat/completions").at(-1)!.body as {
    messages: { content: string }[];
  };
  assert.match(
    sent.messages.at(-1)!.content,
    /^Read this\n\n<file path="spec.md">\nThe answer is 42.\n\n<\/file>$/,
  );
  await server.call("chat", { session_id: "s", message: "And then?" });
  const later = sim.requestsTo("POST /v1/chat/completions").at(-1)!.body as {
    messages: { content: string }[];
  };
  assert.match(
    later.messages[0]!.content,
    /^Read this\n\n\[files sent with this message: spec\.md \(18 characters, sha256 [0-9a-f]{12}\)\]$/,
  );
  assert.doesNotMatch(JSON.stringify(later), /The answer is 42/, "the file's text is not resent");
});

Deno.test("prompts: review, summarize-folder and second-opinion expand to tool calls; model keys and sessions complete", async () => {
  await using tmp = await tempDir("prompts");
  await using sim = LmStudioSim.start();
  await using server = await startInProcess({
    env: { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: join(tmp.path, "sessions.db") },
  });
  const { prompts } = await server.client.listPrompts();
  assert.deepEqual(prompts.map((p) => p.name), ["review", "summarize-folder", "second-opinion"]);
  const review = await server.client.getPrompt({
    name: "review",
    arguments: { model: QWEN, files: "src/**/*.ts README.md" },
  });
  const text = (review.messages[0]!.content as { text: string }).text;
  assert.match(text, /ask \{/);
  assert.deepEqual(JSON.parse(/ask (\{[\s\S]*?\n\})/.exec(text)![1]!).files, ["src/**/*.ts", "README.md"]);
  const folder = await server.client.getPrompt({
    name: "summarize-folder",
    arguments: { model: QWEN, folder: "docs" },
  });
  const plan = JSON.parse(
    /ask (\{[\s\S]*?\n\})/.exec((folder.messages[0]!.content as { text: string }).text)![1]!,
  );
  assert.equal(plan.each, true);
  assert.ok(plan.combine);
  // The expanded call is one the tool accepts.
  const check = await server.call("ask", { ...plan, files: [tmp.path] });
  assert.doesNotMatch(textOf(check), /Input validation error|Invalid arguments/);

  const models = await server.client.complete({
    ref: { type: "ref/prompt", name: "review" },
    argument: { name: "model", value: "gemma" },
  });
  assert.ok(models.completion.values.length > 0);
  assert.ok(models.completion.values.every((v) => v.includes("gemma")), models.completion.values.join());
  assert.ok(!models.completion.values.some((v) => v.startsWith("text-embedding")), "only language models");

  await server.call("chat", { session_id: "design-review", model: QWEN, message: "hi" });
  await server.call("chat", { session_id: "other", model: QWEN, message: "hi" });
  const sessions = await server.client.complete({
    ref: { type: "ref/prompt", name: "second-opinion" },
    argument: { name: "session_id", value: "des" },
  });
  assert.deepEqual(sessions.completion.values, ["design-review"]);
  const opinion = await server.client.getPrompt({
    name: "second-opinion",
    arguments: { model: QWEN, question: "Is 2+2=5?", session_id: "design-review" },
  });
  assert.match(
    (opinion.messages[0]!.content as { text: string }).text,
    /chat \{[\s\S]*"session_id": "design-review"/,
  );
});
