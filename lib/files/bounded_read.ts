/**
 * Reading files that may be hostile or may change while they are read: opening is cancellable (opening a
 * FIFO blocks until a writer comes, and Deno has no non-blocking open), and a read takes at most a given
 * number of bytes through the open handle (a file's reported size can be wrong: procfs files say 0 and
 * never end; a file can grow after it was measured).
 *
 * @module
 */

/**
 * Opens a file for reading; the wait ends when the signal aborts (a handle that opens later is closed).
 *
 * @param path The file
 * @param signal Cancels the wait
 * @returns The open file
 * @throws The signal's reason when it aborts first, or the error of the open
 */
export async function openForRead(path: string, signal?: AbortSignal): Promise<Deno.FsFile> {
  signal?.throwIfAborted();
  const opening = Deno.open(path, { read: true });
  if (!signal) return await opening;
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([opening, aborted]);
  } catch (error) {
    opening.then((file) => file.close(), () => {});
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/**
 * Reads at most `max` bytes from an open file, whatever its reported size.
 *
 * @param file The open file
 * @param max Most bytes read (pass a limit plus one to tell a file over the limit)
 * @param signal Checked between reads
 * @param sizeHint The size the file reports, to size the first buffer (a wrong one costs only time)
 * @returns The bytes read (fewer than `max` when the file ended first)
 */
export async function readAtMost(
  file: Deno.FsFile,
  max: number,
  signal?: AbortSignal,
  sizeHint = 64 * 1024,
): Promise<Uint8Array> {
  // Whole pages at page-aligned offsets: some special files (procfs) refuse reads of odd sizes.
  const page = (n: number) => Math.max(4096, Math.ceil(n / 4096) * 4096);
  let buffer = new Uint8Array(page(Math.min(max, sizeHint + 1)));
  let length = 0;
  while (length < max) {
    signal?.throwIfAborted();
    if (length === buffer.length) {
      const larger = new Uint8Array(page(Math.min(max, buffer.length * 2)));
      larger.set(buffer);
      buffer = larger;
    }
    const n = await file.read(buffer.subarray(length));
    if (n === null) break;
    length += n;
  }
  return buffer.subarray(0, Math.min(length, max));
}

/**
 * Whether two file infos name the same file (device and inode; true where the platform gives neither).
 *
 * @param a One
 * @param b The other
 * @returns False when they are known to differ
 */
export function sameFile(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  if (a.ino === null || b.ino === null) return true;
  return a.ino === b.ino && a.dev === b.dev;
}
