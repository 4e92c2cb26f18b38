await import("@modelcontextprotocol/sdk/server/index.js");
await import("@modelcontextprotocol/sdk/server/stdio.js");
const mods = ["@modelcontextprotocol/sdk/server/mcp.js","@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js","@modelcontextprotocol/sdk/server/completable.js","eventsource-parser/stream","node:sqlite","node:path","node:url","node:util","./lib/errors.ts","./lib/http.ts","./lib/lmstudio.ts","./lib/completions.ts","./lib/native_chat.ts","./lib/sessions.ts","./lib/files.ts","./tools/fields.ts","./tools/ask.ts","./tools/chat.ts","./tools/model_load.ts","./tools/model_list.ts","./tools/embed.ts","./tools/model_download.ts","./tools/mod.ts","./tools/http_server.ts","./lib/doctor.ts","./main.ts"];
const out: string[] = [];
for (const m of mods) { const t = performance.now(); await import(m); out.push(`${m.replace(/^.*\//,"")} ${(performance.now()-t).toFixed(1)}`); }
console.log(out.join(" | "));
