/**
 * LineFramer: lines across any chunk split, the size bound (also when small chunks add up past it), and
 * oversized lines reported with their head.
 */
import assert from "node:assert/strict";
import { type FramedLine, LineFramer } from "../../lib/line_framer.ts";

const encode = (text: string) => new TextEncoder().encode(text);
const decode = (line: FramedLine) =>
  line.kind === "line" ? new TextDecoder().decode(line.bytes) : `<${line.size}>`;

Deno.test("LineFramer yields the same lines at every chunk split", () => {
  const text = '{"a":1}\n\n{"b":"é🚀"}\r\n{"c":[1,2]}\n{"partial"';
  const bytes = encode(text);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const framer = new LineFramer(1024);
    const lines = [...framer.push(bytes.subarray(0, cut)), ...framer.push(bytes.subarray(cut))].map(decode);
    assert.deepEqual(lines, ['{"a":1}', "", '{"b":"é🚀"}\r', '{"c":[1,2]}'], `cut at ${cut}`);
    assert.equal(framer.pending, encode('{"partial"').length);
  }
});

Deno.test("LineFramer reports a line over the bound with its size and head, then frames the next", () => {
  const framer = new LineFramer(16);
  const out = [
    ...framer.push(encode('{"id":7,"params":"')),
    ...framer.push(encode("x".repeat(100))),
    ...framer.push(encode('"}\n{"ok":1}\n')),
  ];
  assert.equal(out.length, 2);
  const first = out[0]!;
  assert.equal(first.kind, "oversized");
  if (first.kind === "oversized") {
    assert.equal(first.size, 18 + 100 + 2);
    assert.match(new TextDecoder().decode(first.head), /^\{"id":7,"params":"x+"\}$/);
  }
  assert.equal(decode(out[1]!), '{"ok":1}');
});

Deno.test("LineFramer bounds a line that arrives in small chunks, none of them over the bound", () => {
  const framer = new LineFramer(16);
  const line = encode(`{"id":7,"params":"${"x".repeat(30)}"}`); // 50 bytes, in chunks of 3.
  const out: FramedLine[] = [];
  for (let at = 0; at < line.length; at += 3) {
    out.push(...framer.push(line.subarray(at, at + 3)));
    assert.ok(framer.pending <= 16, `holds ${framer.pending} bytes after ${at + 3} of ${line.length}`);
  }
  assert.equal(out.length, 0, "no line is complete before its newline");
  out.push(...framer.push(encode('\n{"ok":1}\n')));
  assert.equal(out.length, 2);
  const first = out[0]!;
  assert.equal(first.kind, "oversized", "the chunks add up past the bound");
  if (first.kind === "oversized") {
    assert.equal(first.size, line.length);
    assert.equal(new TextDecoder().decode(first.head), new TextDecoder().decode(line));
  }
  assert.equal(decode(out[1]!), '{"ok":1}');
});

Deno.test("LineFramer keeps a line of exactly the bound, sent byte by byte, and refuses one byte more", () => {
  for (const [size, kind] of [[16, "line"], [17, "oversized"]] as const) {
    const framer = new LineFramer(16);
    const out: FramedLine[] = [];
    for (const byte of encode("y".repeat(size) + "\n")) out.push(...framer.push(Uint8Array.of(byte)));
    assert.deepEqual(out.map((line) => line.kind), [kind], `${size} bytes`);
  }
});

Deno.test("LineFramer copies its input, so a reused buffer does not corrupt a pending line", () => {
  const framer = new LineFramer(64);
  const buffer = encode("abc");
  framer.push(buffer);
  buffer.set(encode("XYZ"));
  assert.deepEqual(framer.push(encode("\n")).map(decode), ["abc"]);
});
