const entries = Deno.args;
const times: Record<string, number[]> = {};
async function once(entry: string) {
  const t = performance.now();
  const child = new Deno.Command(Deno.execPath(), { args: ["run", "--quiet", "-A", "--v8-flags=--max-semi-space-size=1,--optimize-for-size", entry], stdin: "piped", stdout: "piped", stderr: "null", env: { LM_STUDIO_URL: "http://127.0.0.1:9", HOME: "/tmp" } }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "b", version: "0" } } }) + "\n"));
  let text = "";
  for await (const c of child.stdout.pipeThrough(new TextDecoderStream())) { text += c; if (text.includes('"id":1')) break; }
  const e = performance.now() - t;
  child.kill("SIGKILL"); await child.status;
  return e;
}
for (const e of entries) { await once(e); await once(e); }
for (let i = 0; i < 30; i++) for (const e of entries) (times[e] ??= []).push(await once(e));
for (const e of entries) { const s = times[e]!.sort((a, b) => a - b); console.log(e, "median", s[15]!.toFixed(1), "p25", s[7]!.toFixed(1)); }
