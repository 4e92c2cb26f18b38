/**
 * Image inputs for vision models: local files or `data:` URLs, checked (exists, is an image, not too
 * large) and turned into base64 data URLs, which is what LM Studio accepts.
 *
 * @module
 */
import { encodeBase64 } from "./base64.ts";
import { InputError } from "./errors.ts";

/** Largest image we send, in bytes. */
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;

/** Image types LM Studio's vision models take, by magic number. */
const SIGNATURES: readonly { mime: string; test: (b: Uint8Array) => boolean }[] = [
  { mime: "image/png", test: (b) => b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 },
  { mime: "image/jpeg", test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { mime: "image/gif", test: (b) => ascii(b, 0, 4) === "GIF8" },
  { mime: "image/webp", test: (b) => ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 12) === "WEBP" },
  { mime: "image/bmp", test: (b) => ascii(b, 0, 2) === "BM" },
];

function ascii(bytes: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...bytes.subarray(from, to));
}

/**
 * Detects an image type from its first bytes.
 *
 * @param bytes The file's bytes
 * @returns The MIME type, or undefined when it is not an image we know
 */
export function sniffImage(bytes: Uint8Array): string | undefined {
  return SIGNATURES.find((s) => s.test(bytes))?.mime;
}

/**
 * Resolves one image argument (a path, `~/…`, `file://` URL or `data:` URL) to a data URL.
 *
 * @param source What the caller passed
 * @param options The home directory, for `~`
 * @returns The data URL
 * @throws {InputError} Missing file, not an image, too large, remote URL, or not readable by permission
 */
export async function loadImage(
  source: string,
  options: { home?: string | undefined } = {},
): Promise<string> {
  const trimmed = source.trim();
  if (/^data:/i.test(trimmed)) return checkDataUrl(trimmed);
  if (/^https?:\/\//i.test(trimmed)) {
    throw new InputError(
      `Image "${short(trimmed)}" is a web URL; LM Studio only takes local images. Download it and pass ` +
        `the file path, or a data: URL`,
    );
  }
  let path = trimmed;
  if (/^file:\/\//i.test(path)) path = decodeURIComponent(new URL(path).pathname);
  if ((path === "~" || path.startsWith("~/")) && options.home) path = options.home + path.slice(1);
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new InputError(`Image "${short(path)}" is not a file`);
    if (info.size > MAX_IMAGE_BYTES) throw tooLarge(path, info.size);
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof InputError) throw error;
    if (error instanceof Deno.errors.NotFound) {
      throw new InputError(`Image "${short(path)}" does not exist. Pass an absolute path to an image file`);
    }
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      throw new InputError(
        `This server may not read "${short(path)}": ${
          error instanceof Deno.errors.NotCapable
            ? "Deno's --allow-read does not include it"
            : "permission denied"
        }. Start the server with --allow-read=<that folder> added (see the README, "Permissions"), or ` +
          `pass the image as a data: URL`,
      );
    }
    throw new InputError(`Cannot read image "${short(path)}": ${(error as Error).message}`);
  }
  if (bytes.byteLength > MAX_IMAGE_BYTES) throw tooLarge(path, bytes.byteLength);
  const mime = sniffImage(bytes);
  if (!mime) {
    throw new InputError(
      `"${short(path)}" is not a PNG, JPEG, GIF, WebP or BMP image (checked its first bytes)`,
    );
  }
  return `data:${mime};base64,${encodeBase64(bytes)}`;
}

function checkDataUrl(url: string): string {
  const match = /^data:(image\/[a-z0-9.+-]+);base64,([a-z0-9+/=\s]+)$/i.exec(url);
  if (!match) {
    throw new InputError(
      `An image data URL must look like data:image/png;base64,<base64 data>; got "${short(url)}"`,
    );
  }
  const approxBytes = Math.floor((match[2]?.replace(/\s/g, "").length ?? 0) * 3 / 4);
  if (approxBytes > MAX_IMAGE_BYTES) throw tooLarge("the data URL", approxBytes);
  return url.replace(/\s/g, "");
}

function tooLarge(what: string, size: number): InputError {
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  return new InputError(
    `Image ${short(what)} is ${mib(size)}; the limit is ${mib(MAX_IMAGE_BYTES)}. Resize or compress it first`,
  );
}

function short(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}
