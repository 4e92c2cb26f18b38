/**
 * The release binary may reach any host (LM Studio can be on another machine), so the HTTP client is the
 * boundary: it sends requests to LM_STUDIO_URL's origin and nowhere else.
 */
import assert from "node:assert/strict";
import { ProtocolError } from "../../lib/errors.ts";
import { HttpClient } from "../../lib/lmstudio/http.ts";
import { LmStudioSim } from "../support/lmstudio_sim.ts";

Deno.test("the HTTP client refuses any origin but LM_STUDIO_URL's, before a byte is sent", async () => {
  await using sim = LmStudioSim.start({ apiKey: "sk-lm-origin" });
  const http = new HttpClient({ baseUrl: sim.url, apiKey: "sk-lm-origin" });
  // A path that would turn the base URL into credentials for another host: http://127.0.0.1:PORT@evil.example/x
  for (const path of ["@evil.example/x", "@127.0.0.2/api/v1/models"]) {
    await assert.rejects(
      http.json(path, { what: "Listing models", timeoutMs: 1000, timeoutVariable: "X" }),
      (error: unknown) =>
        error instanceof ProtocolError &&
        /refused to send a request to http:\/\/(evil\.example|127\.0\.0\.2); this server only talks to LM Studio at http:\/\/127\.0\.0\.1:\d+/
          .test(error.message),
    );
  }
  assert.equal(sim.requests.length, 0);
  // The right origin works, with the key.
  assert.ok(
    await http.json("/api/v1/models", { what: "Listing models", timeoutMs: 1000, timeoutVariable: "X" }),
  );
  assert.equal(sim.requests[0]?.authorization, "Bearer sk-lm-origin");
});
