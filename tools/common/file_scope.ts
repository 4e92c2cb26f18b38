/**
 * Where `files` may read, per call: the operator's allow-list (`--allow-dir`, `LMSTUDIO_MCP_ALLOW_DIRS`),
 * the client's MCP roots (2025 clients that declare them), or the working folder. Roots narrow the
 * allow-list, never widen it; over HTTP beyond loopback nothing is read unless folders were allowed
 * explicitly (a remote client's idea of a working folder means nothing here). The 2026-07-28 revision
 * deprecates roots and a stateless client has none, so the allow-list is the way to bound `files` there.
 *
 * @module
 */
import { HOW_TO_ALLOW } from "../../lib/files/allow_dirs.ts";
import { InputError } from "../../lib/errors.ts";
import { isInside } from "../../lib/files/is_inside.ts";
import type { ToolContext, ToolDeps } from "../tool.ts";

/** Where one call's `files` may be read from. */
export interface FileScope {
  /** The folders every file must be inside; undefined when unbounded (Deno's permissions decide). */
  readonly roots: readonly string[] | undefined;
  /** The folder relative paths start from. */
  readonly base: string;
  /** What an error says about the folders and how to change them. */
  readonly hint: string;
}

/**
 * The scope of one call.
 *
 * @param deps The allow-list (config) and whether the server is reachable beyond loopback
 * @param context The client's roots
 * @returns The folders, the base and the hint
 * @throws {InputError} When the server is reachable beyond loopback with no allow-list, or the client's
 *   roots and the allow-list share no folder
 */
export async function fileScope(deps: ToolDeps, context: ToolContext): Promise<FileScope> {
  const allowed = deps.config.allowDirs;
  const roots = await context.roots();
  if (allowed.length === 0) {
    if (deps.remote) {
      throw new InputError(
        "files: this server is reached over HTTP beyond this machine and no folders are allowed for files. " +
          `To allow some, ${HOW_TO_ALLOW}; or pass the text in the prompt instead`,
      );
    }
    return roots
      ? { roots, base: roots[0] ?? Deno.cwd(), hint: "Pass a path inside one of the client's MCP roots" }
      : { roots: undefined, base: Deno.cwd(), hint: "" };
  }
  const hint = `Pass a path inside one of them; to allow another folder, ${HOW_TO_ALLOW}`;
  if (!roots) return { roots: allowed, base: allowed[0]!, hint };
  const both = [
    ...roots.filter((root) => isInside(root, allowed)),
    ...allowed.filter((dir) => isInside(dir, roots) && !roots.includes(dir)),
  ];
  if (both.length === 0) {
    throw new InputError(
      `files: none of the client's MCP roots (${
        roots.join(", ")
      }) is inside the folders this server allows ` +
        `(${allowed.join(", ")}). Open a workspace inside one of them, or ${HOW_TO_ALLOW}`,
    );
  }
  return { roots: both, base: both[0]!, hint };
}
