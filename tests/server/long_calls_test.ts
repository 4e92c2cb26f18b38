/**
 * Which calls become tasks is each tool's own rule (`long` in its definition); server/tasks.ts only asks
 * it, and counts a rule that throws as no.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { worthATask } from "../../server/tasks.ts";
import { defineTool, READ_ONLY, type ToolDeps } from "../../tools/tool.ts";
import { textAndStructured } from "../../tools/common/result.ts";
import { TOOLS } from "../../tools/index.ts";

const deps = {} as ToolDeps;

function tool(long?: (args: { n: number }) => boolean | Promise<boolean>) {
  return defineTool("probe", () => ({
    title: "Probe",
    description: "A tool made for this test",
    inputSchema: { n: z.number() },
    outputSchema: {},
    annotations: READ_ONLY,
    ...(long ? { long } : {}),
  }), () => Promise.resolve(textAndStructured("", {})));
}

Deno.test("long calls: the tool's own rule decides; none means never, a throw means no", async () => {
  assert.equal(await worthATask(tool(), { n: 5 }, deps), false, "no rule: never a task");
  assert.equal(await worthATask(tool(({ n }) => n > 3), { n: 5 }, deps), true);
  assert.equal(await worthATask(tool(({ n }) => n > 3), { n: 1 }, deps), false);
  assert.equal(await worthATask(tool(() => Promise.resolve(true)), { n: 1 }, deps), true, "awaited");
  const unreachable = tool(() => Promise.reject(new Error("LM Studio is not running")));
  assert.equal(await worthATask(unreachable, { n: 1 }, deps), false, "a failing rule: the plain call");
});

Deno.test("long calls: the rules of the listed tools (a download always, ask when it fans out or runs long)", async () => {
  const byName = new Map(TOOLS.map((t) => [t.name, t]));
  const long = (name: string, args: Record<string, unknown>) =>
    worthATask(byName.get(name)!, byName.get(name)!.input().parse(args), deps);
  assert.equal(await long("model_download", { model: "ibm/granite-4-micro" }), true);
  assert.equal(await long("ask", { model: "m", prompt: "p" }), false);
  assert.equal(await long("ask", { model: "m", prompt: "p", max_tokens: 4095 }), false);
  assert.equal(await long("ask", { model: "m", prompt: "p", max_tokens: 4096 }), true);
  assert.equal(await long("ask", { model: "m", prompt: "p", files: ["a.ts"] }), true);
  assert.equal(await long("ask", { model: "m", prompt: "p", prompts: ["a"] }), true);
  assert.equal(await long("model_list", {}), false);
});
