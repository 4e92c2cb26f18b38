/**
 * The floor of the runtime itself: a Deno process that answers `initialize` by hand, without the SDK.
 *
 * @module
 */
const encoder = new TextEncoder();
let buffer = "";
for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
  buffer += chunk;
  let end;
  while ((end = buffer.indexOf("\n")) >= 0) {
    const message = JSON.parse(buffer.slice(0, end));
    buffer = buffer.slice(end + 1);
    if (message.method !== "initialize") continue;
    const result = {
      protocolVersion: message.params.protocolVersion,
      capabilities: {},
      serverInfo: { name: "bare-floor", version: "0" },
    };
    await Deno.stdout.write(
      encoder.encode(JSON.stringify({ jsonrpc: "2.0", id: message.id, result }) + "\n"),
    );
  }
}
