/**
 * `lib/files/is_inside.ts` alone: the roots containment check, named after what it protects against.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { isInside, resolveReal } from "../../lib/files/is_inside.ts";
import { tempDir } from "../support/temp.ts";

const POSIX_CASES: readonly [what: string, path: string, folders: string[], inside: boolean][] = [
  ["the folder itself", "/home/me/proj", ["/home/me/proj"], true],
  ["a file below it", "/home/me/proj/src/a.ts", ["/home/me/proj"], true],
  ["a trailing separator on the folder", "/home/me/proj/a", ["/home/me/proj/"], true],
  ["a sibling sharing the prefix (prefix attack)", "/home/me/proj-evil/a.ts", ["/home/me/proj"], false],
  ["a sibling that is the prefix plus a letter", "/home/me/projx", ["/home/me/proj"], false],
  ["the parent", "/home/me", ["/home/me/proj"], false],
  ["traversal with ..", "/home/me/proj/../secret", ["/home/me/proj"], false],
  ["traversal that comes back", "/home/me/proj/a/../b", ["/home/me/proj"], true],
  ["deep traversal out", "/home/me/proj/a/b/../../../../etc/passwd", ["/home/me/proj"], false],
  ["repeated separators", "/home//me///proj//a", ["/home/me/proj"], true],
  ["a relative path is never inside", "proj/a", ["/home/me/proj"], false],
  ["a relative folder allows nothing", "/home/me/proj/a", ["proj"], false],
  ["case differs on POSIX", "/Home/Me/Proj/a", ["/home/me/proj"], false],
  ["the filesystem root allows everything", "/etc/passwd", ["/"], true],
  ["one of several folders", "/srv/b/x", ["/srv/a", "/srv/b"], true],
  ["no folders allow nothing", "/srv/a", [], false],
];

Deno.test("isInside: POSIX paths", () => {
  for (const [what, path, folders, inside] of POSIX_CASES) {
    assert.equal(isInside(path, folders, { windows: false }), inside, what);
  }
});

const WINDOWS_CASES: readonly [what: string, path: string, folders: string[], inside: boolean][] = [
  ["a file below it", "C:\\Users\\me\\proj\\a.ts", ["C:\\Users\\me\\proj"], true],
  ["drive letter and names compare without case", "c:\\users\\ME\\Proj\\a.ts", ["C:\\Users\\me\\proj"], true],
  ["forward slashes", "C:/Users/me/proj/a.ts", ["C:\\Users\\me\\proj"], true],
  [
    "a sibling sharing the prefix (prefix attack)",
    "C:\\Users\\me\\proj-evil\\a",
    ["C:\\Users\\me\\proj"],
    false,
  ],
  ["another drive", "D:\\Users\\me\\proj\\a", ["C:\\Users\\me\\proj"], false],
  ["traversal with ..", "C:\\Users\\me\\proj\\..\\..\\secret", ["C:\\Users\\me\\proj"], false],
  ["a drive root", "C:\\anything", ["C:\\"], true],
  ["a UNC share", "\\\\server\\share\\dir\\a", ["\\\\server\\share\\dir"], true],
  ["another UNC share", "\\\\server\\other\\a", ["\\\\server\\share"], false],
];

Deno.test("isInside: Windows paths", () => {
  for (const [what, path, folders, inside] of WINDOWS_CASES) {
    assert.equal(isInside(path, folders, { windows: true }), inside, what);
  }
});

Deno.test("resolveReal with isInside: a symlink out of the folder is outside, one within stays inside", {
  ignore: Deno.build.os === "windows",
}, async () => {
  await using tmp = await tempDir("inside");
  const root = await Deno.realPath(tmp.path);
  const project = join(root, "proj");
  const outside = join(root, "proj-evil");
  await Deno.mkdir(join(project, "src"), { recursive: true });
  await Deno.mkdir(outside);
  await Deno.writeTextFile(join(outside, "secret"), "x");
  await Deno.writeTextFile(join(project, "src", "a.ts"), "x");
  await Deno.symlink(join(outside, "secret"), join(project, "link-out"));
  await Deno.symlink(join(project, "src", "a.ts"), join(project, "link-in"));
  await Deno.symlink(outside, join(project, "dir-out"));
  const cases: [string, boolean][] = [
    [join(project, "link-out"), false],
    [join(project, "link-in"), true],
    [join(project, "dir-out", "secret"), false],
    [join(project, "missing", "..", "..", "proj-evil"), false],
    [join(project, "does-not-exist"), true],
  ];
  for (const [path, inside] of cases) {
    assert.equal(isInside(await resolveReal(path), [project], { windows: false }), inside, path);
  }
});
