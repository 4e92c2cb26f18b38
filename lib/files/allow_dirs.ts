/**
 * The folders `files` may read when the operator says so: `--allow-dir PATH` (repeatable) and
 * `LMSTUDIO_MCP_ALLOW_DIRS` (a path list, `:`-separated, `;` on Windows). Pure: the caller passes the
 * values, the working folder and the home folder in.
 *
 * @module
 */
import { isAbsolute, join, resolve } from "node:path";

/** The environment variable with the allowed folders. */
export const ALLOW_DIRS_VARIABLE = "LMSTUDIO_MCP_ALLOW_DIRS";

/** How to add a folder, for error messages. */
export const HOW_TO_ALLOW =
  `start the server with --allow-dir PATH (repeatable) or set ${ALLOW_DIRS_VARIABLE}`;

/**
 * The allowed folders as absolute paths, in order, without repeats: the flags first, then the variable.
 *
 * @param flags The `--allow-dir` values
 * @param variable The value of `LMSTUDIO_MCP_ALLOW_DIRS`, if set
 * @param where The working folder (relative paths), the home folder (`~`), and the OS (the separator)
 * @returns The folders (empty when none were given)
 */
export function allowedDirs(
  flags: readonly string[],
  variable: string | undefined,
  where: { readonly cwd: string; readonly home: string | undefined; readonly os: typeof Deno.build.os },
): readonly string[] {
  const separator = where.os === "windows" ? ";" : ":";
  const given = [...flags, ...(variable ?? "").split(separator)].map((path) => path.trim()).filter(Boolean);
  const out: string[] = [];
  for (const path of given) {
    const home = where.home;
    const expanded = home && (path === "~" || path.startsWith("~/") || path.startsWith("~\\"))
      ? join(home, path.slice(1))
      : path;
    const absolute = isAbsolute(expanded) ? resolve(expanded) : resolve(where.cwd, expanded);
    if (!out.includes(absolute)) out.push(absolute);
  }
  return Object.freeze(out);
}
