/**
 * What `deno compile` and `deno publish` need, checked here because neither can run fully on these
 * machines: static imports only, no reads of project files at run time, one set of permission flags
 * everywhere, a publish list that holds the server and nothing else, and release metadata that
 * matches deno.json.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import denoJson from "../deno.json" with { type: "json" };
import manifest from "../manifest.json" with { type: "json" };
import serverJson from "../server.json" with { type: "json" };
import { CONFIG_VARIABLES } from "../lib/config/config.ts";
import { VERSION } from "../main.ts";
import { serverRunFlags, TARGETS } from "../scripts/permissions.ts";
import { ROOT } from "./support/mcp.ts";
import { releaseNotes } from "../scripts/release_notes.ts";
import { runWithin } from "./support/wait.ts";

async function shippedFiles(): Promise<string[]> {
  const files = ["main.ts"];
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
      if (entry.isDirectory) await walk(`${dir}/${entry.name}`);
      else if (entry.isFile && entry.name.endsWith(".ts")) files.push(`${dir}/${entry.name}`);
    }
  };
  for (const dir of ["lib", "tools", "server", "transports"]) await walk(dir);
  return files.sort();
}

function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
}

Deno.test("shipped code has no dynamic import and reads no project file at run time", async () => {
  for (const file of await shippedFiles()) {
    const code = stripComments(await Deno.readTextFile(`${ROOT}${file}`));
    assert.doesNotMatch(code, /\bimport\s*\(/, `${file}: dynamic import( is not compile-safe`);
    assert.doesNotMatch(code, /\brequire\s*\(/, `${file}: require(`);
    assert.doesNotMatch(code, /import\.meta\.(url|dirname|filename|resolve)/, `${file}: import.meta paths`);
    assert.doesNotMatch(
      code,
      /Deno\.(readTextFile|readFile|open|readDir|stat)(Sync)?\(\s*["'`]/,
      `${file}: reads a fixed path (a project file?)`,
    );
    assert.doesNotMatch(code, /from\s+["'](https?:|jsr:)/, `${file}: remote import`);
  }
  const main = await Deno.readTextFile(`${ROOT}main.ts`);
  assert.match(main, /import denoJson from "\.\/deno\.json" with \{ type: "json" \}/);
  assert.equal(VERSION, denoJson.version);
});

Deno.test("the module graph of main.ts is local files, npm: and node: only, all in the publish list", async () => {
  const out = await runWithin(
    Deno.execPath(),
    {
      args: ["info", "--json", `${ROOT}main.ts`],
    },
    "deno info on main.ts",
    60_000,
  );
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: { specifier: string }[] };
  const local = new Set<string>();
  for (const { specifier } of info.modules) {
    if (specifier.startsWith("file://")) {
      const path = fileURLToPath(specifier);
      assert.ok(path.startsWith(ROOT), `${path} is outside the project`);
      local.add(path.slice(ROOT.length).replaceAll("\\", "/"));
    } else {
      assert.match(specifier, /^(npm:|node:)/, `unexpected module ${specifier}`);
    }
  }
  for (const file of local) {
    assert.ok(
      file === "main.ts" || file === "deno.json" ||
        /^(transports|server|tools|lib)\/([^/]+\/)*[^/]+\.ts$/.test(file),
      `${file} is imported by main.ts but not in publish.include`,
    );
  }
  assert.ok(local.has("deno.json"), "the version comes from a JSON import of deno.json");
});

Deno.test("one set of least-privilege permission flags is used everywhere", async () => {
  const flags = serverRunFlags();
  assert.ok(flags.includes("--no-prompt"));
  assert.ok(!flags.includes("-A") && !flags.includes("--allow-all"));
  // The network flag is wide so the release binary reaches LM Studio on another machine; the HTTP client
  // talks only to LM_STUDIO_URL's origin (tests/lib/http_origin_test.ts).
  assert.ok(flags.includes("--allow-net"), "LM Studio may be on another host");
  assert.ok(!flags.some((f) => /^--allow-(run|ffi|sys)/.test(f)), "no run, ffi or sys");
  const env = flags.find((f) => f.startsWith("--allow-env="))?.slice("--allow-env=".length).split(",") ?? [];
  const allowed = (name: string) =>
    env.some((pattern) => pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : pattern === name);
  for (const name of CONFIG_VARIABLES) assert.ok(allowed(name), `--allow-env lacks ${name}`);
  assert.match(denoJson.tasks.compile, /scripts\/compile\.ts$/);
  assert.match(denoJson.tasks["compile:all"], /scripts\/compile\.ts --all$/);
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const quoted = flags.map((f) => (/[*[]/.test(f) ? `'${f}'` : f)).join(" ");
  const jsrLine = `deno run ${quoted} jsr:${denoJson.name}`;
  assert.ok(readme.includes(jsrLine), `README has the JSR line:\n${jsrLine}`);
});

Deno.test("deno publish --dry-run ships the server and its docs, not the tests", async () => {
  const out = await runWithin(
    Deno.execPath(),
    {
      args: ["publish", "--dry-run", "--allow-dirty"],
      cwd: ROOT,
    },
    "deno publish --dry-run",
    120_000,
  );
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  for (
    const file of [
      "main.ts",
      "lib/lmstudio/http.ts",
      "tools/ask/ask.ts",
      "server/build_server.ts",
      "transports/stdio.ts",
      "deno.json",
      "README.md",
      "LICENSE",
      "CHANGELOG.md",
    ]
  ) {
    assert.ok(text.includes(`/${file}`), `${file} is published`);
  }
  assert.doesNotMatch(text, /\/tests\/|\/scripts\/|\.github/);
});

Deno.test("workflows and release metadata match deno.json and the five targets", async () => {
  const ci = await Deno.readTextFile(`${ROOT}.github/workflows/ci.yml`);
  const release = await Deno.readTextFile(`${ROOT}.github/workflows/release.yml`);
  for (const workflow of [ci, release]) {
    assert.match(workflow, /denoland\/setup-deno@v2\s+with:\s+deno-version: 2\.9\.x/);
  }
  for (const os of ["ubuntu-latest", "macos-latest", "windows-latest"]) assert.ok(ci.includes(os), os);
  assert.match(release, /tags: \["v\*"\]/);
  assert.match(release, /deno task compile --target \$\{\{ matrix\.target \}\}/);
  assert.match(release, /deno task smoke "\$bin"/);
  assert.match(release, /id-token: write/);
  assert.match(release, /deno publish/);
  for (const target of TARGETS) assert.ok(release.includes(`target: ${target}`), `smoke test for ${target}`);
  assert.equal(manifest.version, denoJson.version);
  assert.equal(serverJson.version, denoJson.version);
  assert.equal(serverJson.name.split("/").length, 2);
  assert.ok(serverJson.description.length <= 100);
  const changelog = await Deno.readTextFile(`${ROOT}CHANGELOG.md`);
  assert.match(
    releaseNotes(changelog, denoJson.version) ?? "",
    /### Added/,
    "release notes for this version",
  );
});
