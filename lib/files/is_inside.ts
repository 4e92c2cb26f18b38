/**
 * The containment check behind the client's roots (and any allow-list of folders): is a path one of the
 * allowed folders or below one? Pure and small on purpose, so it can be tested alone against the attacks
 * it exists for: a sibling that shares a prefix (`/home/me/proj-evil` is not inside `/home/me/proj`),
 * `..` segments, Windows drive letters, case and separators. Symbolic links are the caller's part: pass
 * paths that were already resolved with `realPath` (see {@linkcode resolveReal}).
 *
 * @module
 */
import { posix, resolve, win32 } from "node:path";

/** Options of {@linkcode isInside}. */
export interface InsideOptions {
  /** Windows rules: `\` and `/` both separate, drive letters and names compare without case. @default the host's */
  readonly windows?: boolean;
}

/**
 * Whether `path` is one of `folders` or inside one of them. Both sides are normalised first (`..`, `.`,
 * repeated and trailing separators), so `/a/b/../../etc` is not inside `/a`.
 *
 * @param path An absolute path
 * @param folders Absolute folders
 * @param options Path rules
 * @returns True when contained
 * @example
 * ```ts
 * import { isInside } from "./is_inside.ts";
 * isInside("/home/me/proj/src/a.ts", ["/home/me/proj"]); // true
 * isInside("/home/me/proj-evil/a.ts", ["/home/me/proj"]); // false
 * ```
 */
export function isInside(path: string, folders: readonly string[], options: InsideOptions = {}): boolean {
  const windows = options.windows ?? Deno.build.os === "windows";
  const rules = windows ? win32 : posix;
  const fold = (p: string) => {
    const normal = rules.resolve(p);
    return windows ? normal.toLowerCase() : normal;
  };
  if (!rules.isAbsolute(path)) return false;
  const target = fold(path);
  return folders.some((folder) => {
    if (!rules.isAbsolute(folder)) return false;
    const root = fold(folder);
    if (target === root) return true;
    const prefix = root.endsWith(rules.sep) ? root : root + rules.sep;
    return target.startsWith(prefix);
  });
}

/**
 * A path with every symbolic link resolved, or the path itself (made absolute) when it does not exist
 * or cannot be resolved — so a check on the result is never weaker than on the path.
 *
 * @param path The path
 * @returns The real path
 */
export async function resolveReal(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    return resolve(path);
  }
}
