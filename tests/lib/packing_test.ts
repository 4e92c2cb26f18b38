/**
 * `lib/inference/packing.ts`: files split at line boundaries and packed, in order, into requests of a given size.
 */
import assert from "node:assert/strict";
import { framePiece, packPieces, pieceLabel, pieceTokens, splitFile } from "../../lib/inference/packing.ts";

const lines = (n: number) => Array.from({ length: n }, (_, i) => `line ${i + 1} of the file`).join("\n");

Deno.test("packing: a file that fits is one piece without a range", () => {
  const pieces = splitFile({ path: "a.ts", text: "one\ntwo" }, 1000);
  assert.deepEqual(pieces, [{ path: "a.ts", text: "one\ntwo" }]);
  assert.equal(framePiece(pieces[0]!), '<file path="a.ts">\none\ntwo\n</file>');
});

Deno.test("packing: a large file splits at line boundaries; the parts cover every line once, each within the room", () => {
  const text = lines(500);
  const pieces = splitFile({ path: "big.ts", text }, 300);
  assert.ok(pieces.length > 5);
  assert.equal(pieces.map((p) => p.text).join("\n"), text, "nothing lost, nothing repeated");
  let next = 1;
  for (const piece of pieces) {
    assert.equal(piece.lines!.from, next);
    assert.equal(piece.lines!.of, 500);
    assert.ok(pieceTokens(piece) <= 300, `${pieceLabel(piece)}: ${pieceTokens(piece)} tokens`);
    next = piece.lines!.to + 1;
  }
  assert.equal(next, 501);
  assert.match(framePiece(pieces[1]!), /^<file path="big.ts" lines="\d+-\d+" of="500">\n/);
  assert.match(pieceLabel(pieces[0]!), /^big.ts \(lines 1-\d+ of 500\)$/);
});

Deno.test("packing: one line longer than a request is cut within itself, never across a surrogate pair", () => {
  const line = "𠀀".repeat(1000);
  const pieces = splitFile({ path: "min.js", text: `a\n${line}\nb` }, 200);
  assert.equal(pieces.map((p) => p.text).join(""), `a${line}b`.replace(/\n/g, ""));
  for (const piece of pieces) {
    assert.ok(pieceTokens(piece) <= 200);
    assert.ok(!/^[\uDC00-\uDFFF]/.test(piece.text), "no piece starts with a low surrogate");
  }
  assert.ok(pieces.some((p) => p.lines!.from === 2 && p.lines!.to === 2));
});

Deno.test("packing: pieces go in order into as few requests as fit the room", () => {
  const pieces = ["a", "b", "c", "d", "e"].map((path) => ({ path, text: "x".repeat(300) }));
  const each = pieceTokens(pieces[0]!) + 1;
  const requests = packPieces(pieces, each * 2);
  assert.deepEqual(requests.map((r) => r.map((p) => p.path)), [["a", "b"], ["c", "d"], ["e"]]);
  assert.deepEqual(packPieces(pieces, each * 10).length, 1);
  assert.deepEqual(packPieces([], 100), []);
});

Deno.test("packing: Chinese text is sized at one token per character", () => {
  const text = Array.from({ length: 40 }, () => "这是一行中文文本，用来测试分块。").join("\n");
  const pieces = splitFile({ path: "zh.md", text }, 200);
  for (const piece of pieces) assert.ok([...piece.text.replace(/\n/g, "")].length <= 200);
  assert.ok(pieces.length >= 3, "640 characters need more than 3 × 200 tokens of room");
});
