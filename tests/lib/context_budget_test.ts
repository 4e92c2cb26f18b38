/**
 * `lib/inference/context_budget.ts` alone: the one rule for what fits a model's context.
 */
import assert from "node:assert/strict";
import {
  charBudget,
  delegatedMaxTokens,
  loadedContextLength,
  requestTokens,
  sizingInstance,
  tokensNeeded,
} from "../../lib/inference/context_budget.ts";
import type { NativeModel } from "../../lib/lmstudio/schemas.ts";

Deno.test("charBudget keeps the answer's tokens and a margin aside, at 3 characters per token", () => {
  const cases: [window: number, maxTokens: number, fixed: number, chars: number][] = [
    [4096, 2048, 0, (4096 - 2048 - 64) * 3],
    [4096, 2048, 1000, (4096 - 2048 - 64) * 3 - 1000],
    [8192, 100, 0, (8192 - 100 - 64) * 3],
    [4096, 4096, 0, 0],
    [4096, 2048, 1_000_000, 0],
  ];
  for (const [window, maxTokens, fixed, chars] of cases) {
    assert.equal(charBudget(window, maxTokens, fixed), chars, `${window}/${maxTokens}/${fixed}`);
  }
});

Deno.test("tokensNeeded is the inverse: a request that uses its whole budget needs the whole window", () => {
  for (const [window, maxTokens] of [[4096, 2048], [8192, 512], [32768, 100]]) {
    assert.equal(tokensNeeded(charBudget(window!, maxTokens!, 0), maxTokens!), window);
  }
});

Deno.test("loadedContextLength reads the first loaded instance's context, and nothing else", () => {
  const model = (key: string, config: Record<string, unknown> | undefined): NativeModel =>
    ({ type: "llm", key, loaded_instances: config ? [{ id: key, config }] : [] }) as unknown as NativeModel;
  const catalog = [model("a", { context_length: 8192 }), model("b", {}), model("c", undefined)];
  assert.equal(loadedContextLength(catalog, "a"), 8192);
  assert.equal(loadedContextLength(catalog, "b"), undefined, "a config without the field");
  assert.equal(loadedContextLength(catalog, "c"), undefined, "not loaded");
  assert.equal(loadedContextLength(catalog, "missing"), undefined);
  assert.equal(loadedContextLength([model("z", { context_length: 0 })], "z"), undefined);
});

Deno.test("delegatedMaxTokens(): a quarter of the context, at most the default of 2,048", () => {
  assert.equal(delegatedMaxTokens(4096), 1024);
  assert.equal(delegatedMaxTokens(2048), 512);
  assert.equal(delegatedMaxTokens(32768), 2048);
  assert.equal(delegatedMaxTokens(100), 64, "never below 64");
});

Deno.test("requestTokens(): text by lib/inference/tokens.ts, plus the answer and the margin", () => {
  assert.equal(requestTokens("你好世界", 100), 4 + 100 + 64);
  assert.equal(requestTokens("abcdef", 0), 2 + 64);
});

Deno.test("sizingInstance(): the smallest loaded instance, or the one named; the others listed", () => {
  const catalog = [{
    type: "llm",
    key: "m",
    loaded_instances: [
      { id: "m", config: { context_length: 8192, parallel: 4 } },
      { id: "m:2", config: { context_length: 4096 } },
    ],
  }] as unknown as Parameters<typeof sizingInstance>[0];
  const byKey = sizingInstance(catalog, "m")!;
  assert.deepEqual(byKey.instance, { id: "m:2", context: 4096, parallel: undefined });
  assert.deepEqual(byKey.others.map((i) => i.id), ["m"]);
  assert.equal(sizingInstance(catalog, "m:2")!.instance.id, "m:2");
  assert.equal(loadedContextLength(catalog, "m"), 4096);
  assert.equal(sizingInstance(catalog, "other"), undefined);
});
