/**
 * The release smoke test, run here against `deno run main.ts` so that the script the release
 * workflow runs on each compiled binary is itself tested.
 */
import { smoke } from "../smoke_binary.ts";
import { MAIN, ROOT, RUN_FLAGS } from "../support/mcp.ts";

Deno.test("the release smoke test passes on the server run from source", async () => {
  await smoke(Deno.execPath(), ["run", "--quiet", `--config=${ROOT}deno.json`, ...RUN_FLAGS, MAIN]);
});
