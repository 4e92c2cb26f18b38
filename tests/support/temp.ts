/**
 * Temporary folders that remove themselves: `await using tmp = await tempDir()`.
 *
 * @module
 */

/** A temporary folder, removed with everything in it when disposed. */
export interface TempDir extends AsyncDisposable {
  /** Its absolute path. */
  readonly path: string;
}

/**
 * Makes a temporary folder under the system temp dir, named `lmstudio-mcp-<prefix>-…`.
 *
 * @param prefix What the folder is for
 * @returns The folder; dispose it to remove it
 */
export async function tempDir(prefix = "test"): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix: `lmstudio-mcp-${prefix}-` });
  return {
    path,
    [Symbol.asyncDispose]: () => removeTree(path),
  };
}

/**
 * Removes a folder and everything in it; a folder already gone is fine.
 *
 * @param path The folder
 */
export async function removeTree(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
