import assert from "node:assert/strict";
import {
  describeAvailability,
  findModel,
  formatBytes,
  resolveUnloadTargets,
  summarizeModel,
} from "../../lib/lmstudio/models.ts";
import type { NativeModel } from "../../lib/lmstudio/schemas.ts";
import { defaultModels } from "../support/lmstudio_sim.ts";

function catalogue(): NativeModel[] {
  const models = defaultModels() as NativeModel[];
  const first = models[0]!;
  models[0] = {
    ...first,
    loaded_instances: [...first.loaded_instances ?? [], {
      id: "qwen/qwen3-8b:2",
      config: { context_length: 4096 },
    }],
  };
  return models;
}

Deno.test("resolveUnloadTargets() unloads one instance when given its id", () => {
  assert.deepEqual(resolveUnloadTargets(catalogue(), "qwen/qwen3-8b:2"), ["qwen/qwen3-8b:2"]);
});

Deno.test("resolveUnloadTargets() unloads every instance of a model key", () => {
  const models = catalogue();
  models[0] = {
    ...models[0]!,
    loaded_instances: [{ id: "custom-a", config: {} }, { id: "custom-b", config: {} }],
  };
  assert.deepEqual(resolveUnloadTargets(models, "qwen/qwen3-8b"), ["custom-a", "custom-b"]);
});

Deno.test("resolveUnloadTargets() finds nothing for an unloaded or unknown model", () => {
  assert.deepEqual(resolveUnloadTargets(catalogue(), "google/gemma-3-4b"), []);
  assert.deepEqual(resolveUnloadTargets(catalogue(), "nope"), []);
});

Deno.test("findModel() matches keys, variants and instance ids", () => {
  assert.equal(findModel(catalogue(), "google/gemma-3-4b@4bit")?.key, "google/gemma-3-4b");
  assert.equal(findModel(catalogue(), "qwen/qwen3-8b:2")?.key, "qwen/qwen3-8b");
  assert.equal(findModel(catalogue(), "QWEN/Qwen3-8B")?.key, "qwen/qwen3-8b");
});

Deno.test("describeAvailability() tells downloaded-but-unloaded from unknown", () => {
  assert.match(
    describeAvailability(catalogue(), "google/gemma-3-4b"),
    /downloaded but not loaded.*model_load/,
  );
  assert.match(
    describeAvailability(catalogue(), "x/y"),
    /not a model LM Studio has downloaded.*model_download/,
  );
  assert.match(
    describeAvailability(catalogue(), "qwen/qwen3-8b"),
    /is loaded as qwen\/qwen3-8b, qwen\/qwen3-8b:2/,
  );
});

Deno.test("summarizeModel() reports loaded state, context and capabilities", () => {
  const summary = summarizeModel(catalogue()[0]!);
  assert.equal(summary.loaded, true);
  assert.deepEqual(summary.loaded_instances[0], { id: "qwen/qwen3-8b", context_length: 8192 });
  assert.deepEqual(summary.reasoning_options, ["off", "on"]);
  assert.equal(summarizeModel(catalogue()[2]!).loaded, false);
});

Deno.test("formatBytes() uses decimal units", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1_500_000), "1.5 MB");
  assert.equal(formatBytes(17_990_911_801), "17.99 GB");
  assert.equal(formatBytes(null), "unknown size");
});
