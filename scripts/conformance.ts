// deno-lint-ignore-file no-console -- prints the suite's report
/**
 * `deno task conformance`: the official MCP conformance suite (`@modelcontextprotocol/conformance`
 * 0.1.16, server scenarios, over Streamable HTTP) against the real server on 127.0.0.1 port 0 and the LM
 * Studio simulator. The scenarios that need the reference "everything" server's fixtures are listed,
 * each with its reason, in `.ci/conformance-not-applicable.yaml`, the suite's expected-failures
 * baseline: the run fails on any other failure, and on a listed scenario that starts passing.
 *
 * The suite needs Node 22 or later; `npx -p node@22` brings one from the npm registry when the machine's
 * Node is older. Exits with the suite's code.
 *
 * @module
 */
import { readServerLog } from "../tests/support/http_log.ts";
import { LmStudioSim } from "../tests/support/lmstudio_sim.ts";
import { childEnv, MAIN, ROOT, RUN_FLAGS } from "../tests/support/mcp.ts";
import { tempDir } from "../tests/support/temp.ts";

const SUITE = "@modelcontextprotocol/conformance@0.1.16";
const NODE = "node@22";
const NPX = Deno.build.os === "windows" ? "npx.cmd" : "npx";
/** The whole run, npx downloads included, stays under this. */
const LIMIT_MS = 300_000;

if (import.meta.main) {
  await using sim = LmStudioSim.start();
  await using home = await tempDir("conformance");
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", `--config=${ROOT}deno.json`, ...RUN_FLAGS, MAIN, "--http", "127.0.0.1:0"],
    env: await childEnv(home.path, { LM_STUDIO_URL: sim.url, MCP_SESSIONS_DB: ":memory:" }),
    clearEnv: true,
    cwd: home.path,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log = readServerLog(server.stderr);
  const url = await log.url;
  let code = 1;
  if (!url) {
    console.error(`The HTTP server did not start:\n${log.text()}`);
  } else {
    const suite = new Deno.Command(NPX, {
      args: [
        "-y",
        "-p",
        NODE,
        "-p",
        SUITE,
        "conformance",
        "server",
        "--url",
        url,
        "--expected-failures",
        `${ROOT}.ci/conformance-not-applicable.yaml`,
      ],
      env: {
        ...Deno.env.toObject(),
        NO_COLOR: "1",
        npm_config_loglevel: "error",
        npm_config_engine_strict: "false",
      },
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    const timer = setTimeout(() => suite.kill("SIGKILL"), LIMIT_MS);
    code = (await suite.status).code;
    clearTimeout(timer);
  }
  server.kill("SIGTERM");
  await server.status;
  await log.ended;
  console.log(
    code === 0 ? "conformance: every scenario that applies passes" : `conformance: failed (exit ${code})`,
  );
  Deno.exit(code);
}
