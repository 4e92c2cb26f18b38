/**
 * Image inputs for vision models: local files or `data:` URLs, checked (a readable file, a JPEG, PNG or
 * WebP by its magic number, not too large) and turned into base64 data URLs, which is what LM Studio
 * accepts. LM Studio documents exactly these three types for image input
 * (https://lmstudio.ai/docs/developer/rest/chat).
 *
 * Error messages never tell a missing file from an unreadable one, so a caller cannot use them to probe
 * which paths exist.
 *
 * @module
 */
import { InputError } from "../errors.ts";

/** Largest image we send, in bytes. */
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;

/** The image types LM Studio takes. */
export type ImageMime = "image/png" | "image/jpeg" | "image/webp";

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function startsWith(bytes: Uint8Array, signature: readonly number[], at = 0): boolean {
  return signature.every((b, i) => bytes[at + i] === b);
}

function ascii(bytes: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...bytes.subarray(from, to));
}

/** Bytes needed to recognise every type below. */
const HEAD_BYTES = 16;

/**
 * Detects a supported image type by its full magic number (PNG's 8-byte signature, JPEG's SOI marker
 * followed by a marker byte, WebP's RIFF container with the WEBP form type).
 *
 * @param bytes The file's first bytes (16 are enough)
 * @returns The MIME type, or undefined when it is not a PNG, JPEG or WebP image
 * @example
 * ```ts
 * import { sniffImage } from "./images.ts";
 * sniffImage(new Uint8Array([0xff, 0xd8, 0xff, 0xe0])); // "image/jpeg"
 * ```
 */
export function sniffImage(bytes: Uint8Array): ImageMime | undefined {
  if (startsWith(bytes, PNG)) return "image/png";
  if (startsWith(bytes, [0xff, 0xd8, 0xff]) && (bytes[3] ?? 0) >= 0xc0) return "image/jpeg";
  if (ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 12) === "WEBP") return "image/webp";
  return undefined;
}

/** Names a known image type LM Studio does not take, so the message can say to convert it. */
function unsupportedType(bytes: Uint8Array): string | undefined {
  const head = ascii(bytes, 0, 6);
  if (head === "GIF87a" || head === "GIF89a") return "a GIF";
  // BMP: "BM", then the file size, then four reserved zero bytes, then a pixel-data offset of at least 26.
  if (ascii(bytes, 0, 2) === "BM" && bytes[6] === 0 && bytes[7] === 0 && bytes[8] === 0 && bytes[9] === 0) {
    const offset = (bytes[10] ?? 0) | (bytes[11] ?? 0) << 8;
    if (offset >= 26) return "a BMP";
  }
  if (ascii(bytes, 4, 8) === "ftyp" && /^(heic|heix|mif1|avif)/.test(ascii(bytes, 8, 12))) {
    return "a HEIC/AVIF";
  }
  return undefined;
}

function notAnImage(what: string, bytes: Uint8Array): InputError {
  const kind = unsupportedType(bytes);
  return new InputError(
    kind
      ? `${what} is ${kind} image; LM Studio takes JPEG, PNG and WebP only. Convert it to PNG or JPEG first`
      : `${what} is not a JPEG, PNG or WebP image (checked its first bytes)`,
  );
}

/**
 * Resolves one image argument (a path, `~/…`, `file://` URL or `data:` URL) to a data URL.
 *
 * @param source What the caller passed
 * @param options The home directory, for `~`
 * @returns The data URL
 * @throws {InputError} Unreadable path, not a supported image, too large, remote URL, or a path outside
 *   Deno's read permission
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
  const path = localPath(trimmed, options.home);
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path, { read: true });
    const info = await file.stat();
    if (!info.isFile) throw unreadable(path);
    if (info.size > MAX_IMAGE_BYTES) throw tooLarge(path, info.size);
    // Sniff the head before reading the rest: a large non-image is never read whole.
    const head = new Uint8Array(HEAD_BYTES);
    const got = (await file.read(head)) ?? 0;
    const mime = sniffImage(head.subarray(0, got));
    if (!mime) throw notAnImage(`"${short(path)}"`, head.subarray(0, got));
    await file.seek(0, Deno.SeekMode.Start);
    const bytes = new Uint8Array(await new Response(file.readable).arrayBuffer());
    file = undefined; // The readable closed it.
    if (bytes.byteLength > MAX_IMAGE_BYTES) throw tooLarge(path, bytes.byteLength);
    return `data:${mime};base64,${bytes.toBase64()}`;
  } catch (error) {
    if (error instanceof InputError) throw error;
    if (error instanceof Deno.errors.NotCapable) {
      throw new InputError(
        `This server may not read "${short(path)}": it is outside the folders Deno's --allow-read grants. ` +
          `Start the server with --allow-read=<that folder> added (see the README, "Permissions"), or pass ` +
          `the image as a data: URL`,
      );
    }
    throw unreadable(path);
  } finally {
    file?.close();
  }
}

function localPath(source: string, home: string | undefined): string {
  let path = source;
  if (/^file:\/\//i.test(path)) {
    try {
      path = decodeURIComponent(new URL(path).pathname);
    } catch {
      throw new InputError(
        `Image "${short(source)}" is not a valid file:// URL (bad %-escape). Pass a plain absolute path`,
      );
    }
  }
  if ((path === "~" || path.startsWith("~/")) && home) path = home + path.slice(1);
  return path;
}

function unreadable(path: string): InputError {
  return new InputError(
    `Cannot read an image file at "${short(path)}". Pass an absolute path to a readable JPEG, PNG or WebP ` +
      `file, or a data: URL`,
  );
}

function checkDataUrl(url: string): string {
  const match = /^data:(image\/[a-z0-9.+-]+);base64,([a-z0-9+/=\s]+)$/i.exec(url);
  if (!match) {
    throw new InputError(
      `An image data URL must look like data:image/png;base64,<base64 data>; got "${short(url)}"`,
    );
  }
  const data = (match[2] ?? "").replace(/\s/g, "");
  const approxBytes = Math.floor(data.length * 3 / 4);
  if (approxBytes > MAX_IMAGE_BYTES) throw tooLarge("the data URL", approxBytes);
  let head: Uint8Array;
  try {
    head = Uint8Array.from(atob(data.slice(0, 24)), (c) => c.charCodeAt(0));
  } catch {
    throw new InputError("An image data URL holds invalid base64 data");
  }
  const mime = sniffImage(head);
  if (!mime) throw notAnImage("The data URL", head);
  return `data:${mime};base64,${data}`;
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
