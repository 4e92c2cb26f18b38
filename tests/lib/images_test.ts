/**
 * Image inputs: type sniffing, data URLs, size limits and file errors.
 */
import assert from "node:assert/strict";
import { InputError } from "../../lib/errors.ts";
import { loadImage, MAX_IMAGE_BYTES, sniffImage } from "../../lib/images.ts";

Deno.test("image types are recognised by their first bytes", () => {
  const bytes = (...b: number[]) => new Uint8Array(b);
  const ascii = (s: string) => new TextEncoder().encode(s);
  assert.equal(sniffImage(bytes(0x89, 0x50, 0x4e, 0x47, 0x0d)), "image/png");
  assert.equal(sniffImage(bytes(0xff, 0xd8, 0xff, 0xe0)), "image/jpeg");
  assert.equal(sniffImage(ascii("GIF89a")), "image/gif");
  assert.equal(sniffImage(ascii("RIFF\0\0\0\0WEBPVP8 ")), "image/webp");
  assert.equal(sniffImage(ascii("BM....")), "image/bmp");
  assert.equal(sniffImage(ascii("%PDF-1.7")), undefined);
});

Deno.test("files become data URLs; ~ expands; bad inputs are InputErrors", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(`${dir}/a.gif`, new TextEncoder().encode("GIF89a-data"));
  assert.equal(await loadImage(`${dir}/a.gif`), `data:image/gif;base64,${btoa("GIF89a-data")}`);
  assert.equal(await loadImage("~/a.gif", { home: dir }), `data:image/gif;base64,${btoa("GIF89a-data")}`);
  assert.equal(await loadImage(`file://${dir}/a.gif`), `data:image/gif;base64,${btoa("GIF89a-data")}`);
  assert.equal(await loadImage(" data:image/png;base64,AAAA\n"), "data:image/png;base64,AAAA");
  await assert.rejects(
    loadImage(dir),
    (e: unknown) => e instanceof InputError && /not a file/.test(e.message),
  );
  const huge = `data:image/png;base64,${"A".repeat(Math.ceil(MAX_IMAGE_BYTES * 4 / 3) + 8)}`;
  await assert.rejects(
    loadImage(huge),
    (e: unknown) => e instanceof InputError && /limit is 20\.0 MiB/.test(e.message),
  );
  const big = await Deno.open(`${dir}/big.png`, { create: true, write: true });
  await big.truncate(MAX_IMAGE_BYTES + 1);
  big.close();
  await assert.rejects(loadImage(`${dir}/big.png`), /limit is 20\.0 MiB/);
  await Deno.remove(dir, { recursive: true });
});
