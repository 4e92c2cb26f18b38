/**
 * `lib/inference/tokens.ts`: token estimates as tokenizers count, on samples in code, English, Chinese, Japanese,
 * Korean and Russian (tests/fixtures/tokens). The simulator's count stands in for a real tokenizer (Han,
 * kana and Hangul one per character, the rest one per four): the estimate must never be below it, nor
 * far above it.
 */
import assert from "node:assert/strict";
import { estimateTokens, prefixWithin } from "../../lib/inference/tokens.ts";
import { estimateTokens as tokenizerCount } from "../support/sim/inference.ts";

const samples = ["code.ts", "english.md", "chinese.md", "japanese.md", "korean.md", "russian.md"];
const read = (name: string) => Deno.readTextFile(new URL(`../fixtures/tokens/${name}`, import.meta.url));

for (const name of samples) {
  Deno.test(`tokens: ${name} is never under-counted, and not over-counted by more than 1.5×`, async () => {
    const text = await read(name);
    const estimate = estimateTokens(text);
    const real = tokenizerCount(text);
    assert.ok(estimate >= real, `${name}: estimate ${estimate} < tokenizer ${real}`);
    assert.ok(estimate <= real * 1.5, `${name}: estimate ${estimate} > 1.5 × tokenizer ${real}`);
  });
}

Deno.test("tokens: Han, kana and Hangul cost one token per character; other text one per three", async () => {
  assert.equal(estimateTokens("你好世界"), 4);
  assert.equal(estimateTokens("ひらがなカタカナ"), 8);
  assert.equal(estimateTokens("한국어"), 3);
  assert.equal(estimateTokens("。「」"), 3, "CJK punctuation");
  assert.equal(estimateTokens("𠀀𠀁"), 2, "supplementary Han: one token per character, not per unit");
  assert.equal(estimateTokens("abcdef"), 2);
  assert.equal(estimateTokens(""), 0);
  const chinese = await read("chinese.md");
  assert.ok(estimateTokens(chinese) > chinese.length * 0.8, "Chinese is not sized at 3 characters a token");
});

Deno.test("tokens: prefixWithin takes the longest prefix that fits, never half a surrogate pair", () => {
  assert.equal(prefixWithin("你好世界", 2), 2);
  assert.equal(prefixWithin("abcdefgh", 2), 6);
  assert.equal(prefixWithin("𠀀𠀁", 1), 2);
  assert.equal(prefixWithin("abc", 100), 3);
  assert.equal(prefixWithin("你", 0), 0);
});
