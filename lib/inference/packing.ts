/**
 * Packing files into context-sized requests: files in order, as many per request as its room holds; a
 * file larger than one request split at line boundaries into parts, each framed with its path and line
 * range (`<file path="lib/x.ts" lines="120-241" of="560">`), so that the model can cite it and the parts
 * read as parts. A single line longer than a request is cut within the line (rare: minified files).
 * Sizes are token estimates (lib/inference/tokens.ts), framing included.
 *
 * @module
 */
import { escapeAttribute, neutraliseTags, type TextFile } from "../files/files.ts";
import { estimateTokens, prefixWithin } from "./tokens.ts";

/** A whole file, or a range of its lines. */
export interface Piece {
  /** The file's path as shown. */
  readonly path: string;
  /** The text of this piece. */
  readonly text: string;
  /** For a part: its first and last line (1-based), and the file's line count. */
  readonly lines?: { readonly from: number; readonly to: number; readonly of: number };
}

/** Most parts one file may be split into; beyond it the rest of the file waits for a larger context. */
export const MAX_PARTS_PER_FILE = 1000;

/**
 * The framed text of one piece.
 *
 * @param piece The piece
 * @returns `<file path="…" [lines="a-b" of="n"]>…</file>`
 */
export function framePiece(piece: Piece): string {
  const range = piece.lines ? ` lines="${piece.lines.from}-${piece.lines.to}" of="${piece.lines.of}"` : "";
  return `<file path="${escapeAttribute(piece.path)}"${range}>\n${neutraliseTags(piece.text)}\n</file>`;
}

/**
 * Frames pieces for a prompt, one after another.
 *
 * @param pieces The pieces
 * @returns The text to append to the prompt
 */
export function framePieces(pieces: readonly Piece[]): string {
  return pieces.map(framePiece).join("\n\n");
}

/**
 * A piece's label for results: its path, with the line range for a part.
 *
 * @param piece The piece
 * @returns e.g. `lib/x.ts (lines 120-241 of 560)`
 */
export function pieceLabel(piece: Piece): string {
  return piece.lines
    ? `${piece.path} (lines ${piece.lines.from}-${piece.lines.to} of ${piece.lines.of})`
    : piece.path;
}

/**
 * Tokens a framed piece costs in a prompt.
 *
 * @param piece The piece
 * @returns Tokens
 */
export function pieceTokens(piece: Piece): number {
  // Two line breaks join pieces; the frame's text is small, its estimate one per 3 characters.
  return estimateTokens(piece.text) + Math.ceil((piece.path.length * 1.2 + 60) / 3);
}

/**
 * Splits a file into pieces of at most `room` tokens each, at line boundaries (a line longer than
 * `room` is cut within itself). A file that fits is one piece without a range.
 *
 * @param file The file
 * @param room Tokens one piece may take, frame included
 * @returns The pieces, in order
 */
export function splitFile(file: Pick<TextFile, "path" | "text">, room: number): Piece[] {
  const whole: Piece = { path: file.path, text: file.text };
  if (pieceTokens(whole) <= room) return [whole];
  const frame = pieceTokens({ path: file.path, text: "" }) + 8; // The range attribute.
  const textRoom = Math.max(1, room - frame);
  const lines = file.text.split("\n");
  const of = lines.length;
  const pieces: Piece[] = [];
  let start = 0;
  let current: string[] = [];
  let used = 0;
  const flush = (end: number) => {
    if (!current.length) return;
    pieces.push({ path: file.path, text: current.join("\n"), lines: { from: start + 1, to: end + 1, of } });
    current = [];
    used = 0;
  };
  for (let i = 0; i < lines.length && pieces.length < MAX_PARTS_PER_FILE; i++) {
    let line = lines[i]!;
    const cost = estimateTokens(line) + 1;
    if (current.length && used + cost > textRoom) flush(i - 1);
    if (!current.length) start = i;
    if (cost <= textRoom) {
      current.push(line);
      used += cost;
      continue;
    }
    // One line larger than a piece: cut it, each cut its own piece of this one line.
    while (line.length && pieces.length < MAX_PARTS_PER_FILE) {
      const cutAt = Math.max(1, prefixWithin(line, textRoom - 1));
      current.push(line.slice(0, cutAt));
      flush(i);
      start = i;
      line = line.slice(cutAt);
    }
  }
  flush(lines.length - 1);
  return pieces;
}

/**
 * Packs pieces in order into requests of at most `room` tokens each (a piece never spans two).
 *
 * @param pieces Pieces no larger than `room` (see {@linkcode splitFile})
 * @param room Tokens the files of one request may take
 * @returns The requests' pieces, in order
 */
export function packPieces(pieces: readonly Piece[], room: number): Piece[][] {
  const requests: Piece[][] = [];
  let current: Piece[] = [];
  let used = 0;
  for (const piece of pieces) {
    const cost = pieceTokens(piece) + 1;
    if (current.length && used + cost > room) {
      requests.push(current);
      current = [];
      used = 0;
    }
    current.push(piece);
    used += cost;
  }
  if (current.length) requests.push(current);
  return requests;
}
