/**
 * The layers of CONTRIBUTING.md, read from the source: `main.ts → transports/ → server/ → tools/ → lib/`,
 * no import running back up, no cycle, `lib/` knowing nothing of MCP, the SDK's runtime reached through
 * server/sdk.ts only, and no rule about one tool by name in server/ (each tool owns its rules).
 */
import assert from "node:assert/strict";
import { dirname, join, normalize } from "node:path";
import { ROOT } from "./support/mcp.ts";

/** The layers, lowest first: a file may import its own layer and those below it. */
const LAYERS = ["lib", "tools", "server", "transports", "main.ts"] as const;

/** One import of one source file. */
interface Import {
  /** The importing file, relative to the repository. */
  readonly from: string;
  /** The specifier as written. */
  readonly specifier: string;
  /** The imported file, relative to the repository (relative specifiers only). */
  readonly to: string | undefined;
  /** `import type` / `export type`: erased at run time. */
  readonly typeOnly: boolean;
}

async function sourceFiles(): Promise<string[]> {
  const files = ["main.ts"];
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(join(ROOT, dir))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile && entry.name.endsWith(".ts")) files.push(path);
    }
  };
  for (const dir of LAYERS.slice(0, -1)) await walk(dir);
  return files.sort();
}

function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

/** Every static and literal dynamic import and re-export of a file (comments removed first). */
function importsOf(file: string, source: string): Import[] {
  const code = withoutComments(source);
  const found: Import[] = [];
  const pattern =
    /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^"'`;]*?\sfrom\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;
  for (const match of code.matchAll(pattern)) {
    const specifier = match[3] ?? match[4]!;
    const local = specifier.startsWith(".") && specifier.endsWith(".ts");
    const to = local ? normalize(join(dirname(file), specifier)) : undefined;
    found.push({ from: file, specifier, to, typeOnly: match[2] !== undefined });
  }
  return found;
}

function layerOf(file: string): number {
  const layer = LAYERS.findIndex((name) => file === name || file.startsWith(`${name}/`));
  assert.notEqual(layer, -1, `${file} belongs to no layer`);
  return layer;
}

async function graph(): Promise<Import[]> {
  const all: Import[] = [];
  for (const file of await sourceFiles()) {
    all.push(...importsOf(file, await Deno.readTextFile(join(ROOT, file))));
  }
  return all;
}

Deno.test("layers: no import runs back up, no transport imports tools/, every relative import names a file", async () => {
  const imports = await graph();
  assert.ok(imports.length > 100, `read ${imports.length} imports: the parser found too few`);
  const upward = imports.filter((i) => i.to !== undefined && layerOf(i.to) > layerOf(i.from));
  assert.deepEqual(upward.map((i) => `${i.from} → ${i.to}`), []);
  // A transport is given a server factory; the tools and their dependencies are the server's business.
  const intoTools = imports.filter((i) => i.from.startsWith("transports/") && i.to?.startsWith("tools/"));
  assert.deepEqual(intoTools.map((i) => `${i.from} → ${i.to}`), []);
  const missing: string[] = [];
  for (const i of imports) {
    if (i.to === undefined) continue;
    try {
      await Deno.stat(join(ROOT, i.to));
    } catch {
      missing.push(`${i.from} → ${i.specifier}`);
    }
  }
  assert.deepEqual(missing, []);
});

Deno.test("layers: no cycle among the source files", async () => {
  const edges = new Map<string, string[]>();
  for (const i of await graph()) {
    if (i.to !== undefined) edges.set(i.from, [...(edges.get(i.from) ?? []), i.to]);
  }
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]): void => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "open") {
      cycles.push([...path.slice(path.indexOf(file)), file].join(" → "));
      return;
    }
    state.set(file, "open");
    for (const next of edges.get(file) ?? []) visit(next, [...path, file]);
    state.set(file, "done");
  };
  for (const file of edges.keys()) visit(file, []);
  assert.deepEqual(cycles, []);
});

Deno.test("layers: lib/ knows nothing of MCP, and the SDK's runtime is reached through server/sdk.ts", async () => {
  const imports = await graph();
  const sdk = (i: Import) => i.specifier.startsWith("@modelcontextprotocol/");
  assert.deepEqual(imports.filter((i) => sdk(i) && i.from.startsWith("lib/")).map((i) => i.from), []);
  const mcpTables: string[] = [];
  for (const file of (await sourceFiles()).filter((f) => f.startsWith("lib/"))) {
    if (/\bmcp_\w+/.test(withoutComments(await Deno.readTextFile(join(ROOT, file))))) mcpTables.push(file);
  }
  assert.deepEqual(mcpTables, [], "MCP's tables (tasks) are the server's");
  assert.deepEqual(
    imports.filter((i) => sdk(i) && !i.typeOnly && i.from !== "server/sdk.ts").map((i) =>
      `${i.from} → ${i.specifier}`
    ),
    [],
  );
});

Deno.test("layers: server/ holds no rule about one tool by name (each tool owns its rules)", async () => {
  const { TOOLS } = await import("../tools/index.ts");
  const names = TOOLS.map((tool) => tool.name);
  const found: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, "server"))) {
    if (!entry.name.endsWith(".ts")) continue;
    const source = withoutComments(await Deno.readTextFile(join(ROOT, "server", entry.name)));
    for (const name of names) {
      // The prompts' texts tell the assistant which tool to call (`call("ask", …)`): that is what they are.
      const literal = new RegExp(`(?<!call\\()["'\`]${name}["'\`]`, "g");
      for (const _ of source.matchAll(literal)) found.push(`server/${entry.name}: "${name}"`);
    }
  }
  assert.deepEqual(found, []);
});

Deno.test("layers: no source file over 450 lines unless its header says why one file is clearer", async () => {
  const long: string[] = [];
  for (const file of await sourceFiles()) {
    const source = await Deno.readTextFile(join(ROOT, file));
    const lines = source.split("\n").length;
    const header = /^\/\*\*[\s\S]*?\*\//.exec(source)?.[0] ?? "";
    if (lines > 450 && !/on purpose/.test(header)) long.push(`${file} (${lines} lines)`);
  }
  assert.deepEqual(long, []);
});
