// deno-lint-ignore-file no-console -- prints the notes for the release
/**
 * Prints the CHANGELOG.md section of one version (Keep a Changelog headings: `## [x.y.z] - date`).
 *
 * Usage: `deno run --allow-read scripts/release_notes.ts 0.1.0`
 *
 * @module
 */

/**
 * The body of a version's section.
 *
 * @param changelog The CHANGELOG.md text
 * @param version The version, without `v`
 * @returns The section's lines after its heading, or undefined when there is none
 */
export function releaseNotes(changelog: string, version: string): string | undefined {
  const lines = changelog.split("\n");
  const start = lines.findIndex((line) => line.startsWith(`## [${version}]`));
  if (start < 0) return undefined;
  const end = lines.findIndex((line, i) => i > start && line.startsWith("## ["));
  return lines.slice(start + 1, end < 0 ? undefined : end).join("\n").trim();
}

if (import.meta.main) {
  const version = Deno.args[0];
  if (!version) throw new Error("usage: release_notes.ts <version>");
  const notes = releaseNotes(await Deno.readTextFile("CHANGELOG.md"), version);
  if (!notes) throw new Error(`CHANGELOG.md has no section for ${version}`);
  console.log(notes);
}
