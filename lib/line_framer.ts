/**
 * Splits a byte stream into newline-delimited lines in linear time, with a bound on a line's size.
 *
 * Each chunk is scanned once for `\n`; the pieces of an unfinished line are kept in a list and joined
 * once, when its newline arrives (concatenating on every chunk would copy a large line again and again,
 * which makes an 8 MB line cost seconds). A line over the bound is not kept: its bytes are skipped up to
 * its newline and reported as oversized, with its first bytes, so the caller can still answer it.
 *
 * @module
 */

/** One framed line, or the report of a line that was too long. */
export type FramedLine =
  | { readonly kind: "line"; readonly bytes: Uint8Array }
  | { readonly kind: "oversized"; readonly head: Uint8Array; readonly size: number };

/** How many leading bytes of an oversized line are kept for its report. */
const HEAD_BYTES = 4096;
const NEWLINE = 0x0a;

/** Frames lines from chunks. */
export class LineFramer {
  readonly #max: number;
  #pieces: Uint8Array[] = [];
  #size = 0;
  #skipping = false;
  #head: Uint8Array = new Uint8Array(0);

  /**
   * Creates the instance.
   *
   * @param maxLineBytes The largest line kept, newline excluded
   */
  constructor(maxLineBytes: number) {
    this.#max = maxLineBytes;
  }

  /**
   * Feeds a chunk and returns the lines it completes.
   *
   * @param chunk Bytes as they arrived
   * @returns The finished lines, in order
   * @example
   * ```ts
   * import { LineFramer } from "./line_framer.ts";
   * const framer = new LineFramer(1024);
   * framer.push(new TextEncoder().encode('{"a":1}\n{"b"')).length; // 1
   * ```
   */
  push(chunk: Uint8Array): FramedLine[] {
    const out: FramedLine[] = [];
    let start = 0;
    while (start <= chunk.length) {
      const end = chunk.indexOf(NEWLINE, start);
      const piece = chunk.subarray(start, end < 0 ? chunk.length : end);
      this.#add(piece);
      if (end < 0) break;
      out.push(this.#finish());
      start = end + 1;
    }
    return out;
  }

  /** Bytes held for the line in progress. */
  get pending(): number {
    return this.#skipping ? 0 : this.#size;
  }

  #add(piece: Uint8Array): void {
    if (piece.length === 0) return;
    this.#size += piece.length;
    if (this.#skipping) {
      if (this.#head.length < HEAD_BYTES) {
        this.#head = join([this.#head, piece], Math.min(HEAD_BYTES, this.#head.length + piece.length));
      }
      return;
    }
    if (this.#size > this.#max) {
      this.#head = join([...this.#pieces, piece], Math.min(HEAD_BYTES, this.#size));
      this.#pieces = [];
      this.#skipping = true;
      return;
    }
    this.#pieces.push(piece.slice()); // A copy: the caller may reuse its buffer.
  }

  #finish(): FramedLine {
    const size = this.#size;
    let line: FramedLine;
    if (this.#skipping) {
      line = { kind: "oversized", head: this.#head, size };
    } else {
      line = { kind: "line", bytes: join(this.#pieces, size) };
    }
    this.#pieces = [];
    this.#size = 0;
    this.#skipping = false;
    this.#head = new Uint8Array(0) as Uint8Array;
    return line;
  }
}

/** Joins the first `size` bytes of `pieces` into one array. */
function join(pieces: readonly Uint8Array[], size: number): Uint8Array {
  if (pieces.length === 1 && pieces[0]!.length === size) return pieces[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const piece of pieces) {
    if (offset >= size) break;
    const part = piece.subarray(0, size - offset);
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
