/**
 * Image inputs: type sniffing by full magic numbers, data URLs, size limits and file errors.
 */
import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import { loadImage, MAX_IMAGE_BYTES, sniffImage } from "../../lib/files/images.ts";
import { tempDir } from "../support/temp.ts";

const bytes = (...b: number[]) => new Uint8Array(b);
const ascii = (s: string) => new TextEncoder().encode(s);

Deno.test("sniffImage() recognises JPEG, PNG and WebP by their full signatures", () => {
  assert.equal(sniffImage(bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0)), "image/png");
  assert.equal(sniffImage(bytes(0xff, 0xd8, 0xff, 0xe0)), "image/jpeg");
  assert.equal(sniffImage(ascii("RIFF\0\0\0\0WEBPVP8 ")), "image/webp");
});

Deno.test("sniffImage() refuses truncated signatures and types LM Studio does not take", () => {
  assert.equal(sniffImage(bytes(0x89, 0x50, 0x4e, 0x47, 0x0d)), undefined, "a PNG needs all 8 bytes");
  assert.equal(sniffImage(bytes(0xff, 0xd8, 0xff, 0x00)), undefined, "SOI must be followed by a marker");
  assert.equal(sniffImage(ascii("RIFF\0\0\0\0WAVEfmt ")), undefined, "a RIFF that is not WebP");
  assert.equal(sniffImage(ascii("GIF89a")), undefined);
  assert.equal(sniffImage(ascii("BM is a text file")), undefined);
  assert.equal(sniffImage(ascii("%PDF-1.7")), undefined);
});

Deno.test("loadImage() turns files into data URLs; ~ and file:// resolve", async () => {
  await using tmp = await tempDir();
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3];
  await Deno.writeFile(`${tmp.path}/a.png`, new Uint8Array(png));
  const url = `data:image/png;base64,${btoa(String.fromCharCode(...png))}`;
  assert.equal(await loadImage(`${tmp.path}/a.png`), url);
  assert.equal(await loadImage("~/a.png", { home: tmp.path }), url);
  assert.equal(await loadImage(`file://${tmp.path}/a.png`), url);
  assert.equal(await loadImage(" data:image/jpeg;base64,/9j/4AAA\n"), "data:image/jpeg;base64,/9j/4AAA");
});

Deno.test("loadImage() names unsupported types and says to convert", async () => {
  await using tmp = await tempDir();
  await Deno.writeFile(`${tmp.path}/a.gif`, ascii("GIF89a-data"));
  const bmp = new Uint8Array(64);
  bmp.set(ascii("BM"));
  bmp[10] = 54;
  await Deno.writeFile(`${tmp.path}/a.bmp`, bmp);
  await Deno.writeTextFile(`${tmp.path}/bm.txt`, "BM, said the note");
  await assert.rejects(loadImage(`${tmp.path}/a.gif`), /is a GIF image; .*Convert it to PNG or JPEG/);
  await assert.rejects(loadImage(`${tmp.path}/a.bmp`), /is a BMP image; .*Convert it/);
  await assert.rejects(loadImage(`${tmp.path}/bm.txt`), /is not a JPEG, PNG or WebP image/);
  await assert.rejects(loadImage("data:image/png;base64,R0lGODlhAQAB"), /data URL is a GIF image/);
});

Deno.test("loadImage() words a missing file, a folder and an unreadable file alike", async () => {
  await using tmp = await tempDir();
  const messages: string[] = [];
  for (const path of [`${tmp.path}/missing.png`, tmp.path]) {
    const error = await loadImage(path).catch((e: unknown) => e);
    assert.ok(error instanceof InputError);
    messages.push(error.message.replace(path, "<path>"));
  }
  assert.equal(messages[0], messages[1], "the message does not tell which paths exist");
});

Deno.test("loadImage() refuses a malformed file:// URL as an input error", async () => {
  await assert.rejects(
    loadImage("file:///%zz"),
    (e: unknown) => e instanceof InputError && /%-escape/.test(e.message),
  );
});

Deno.test("loadImage() enforces the size limit for files and data URLs", async () => {
  await using tmp = await tempDir();
  const huge = `data:image/png;base64,${"A".repeat(Math.ceil(MAX_IMAGE_BYTES * 4 / 3) + 8)}`;
  await assert.rejects(
    loadImage(huge),
    (e: unknown) => e instanceof InputError && /limit is 20\.0 MiB/.test(e.message),
  );
  const big = await Deno.open(`${tmp.path}/big.png`, { create: true, write: true });
  await big.truncate(MAX_IMAGE_BYTES + 1);
  big.close();
  await assert.rejects(loadImage(`${tmp.path}/big.png`), /limit is 20\.0 MiB/);
});
