const t0 = performance.now();
await import("@modelcontextprotocol/sdk/server/index.js");
await import("@modelcontextprotocol/sdk/server/stdio.js");
const t1 = performance.now();
await import("./main.ts");
const t2 = performance.now();
console.log(`sdk ${(t1-t0).toFixed(1)} ours+rest ${(t2-t1).toFixed(1)}`);
