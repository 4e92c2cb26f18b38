/**
 * Who may talk to the HTTP server: the `Host` and `Origin` checks against DNS rebinding, and the bearer
 * token, for `/mcp` and `/health` alike.
 *
 * Hosts accepted:
 * - bound to a loopback address: that address, `localhost`, `127.0.0.1` and `[::1]`, plus
 *   `LMSTUDIO_MCP_ALLOWED_HOSTS`;
 * - bound to another address: that address, plus the list;
 * - bound to every interface (`0.0.0.0`, `::`): the loopback names plus the list. With no list, `/mcp`
 *   takes any `Host`: the token (required there) is then what protects it, since a DNS-rebinding page
 *   cannot know it; `/health`, which needs no token, still answers only the loopback names (or a
 *   request that carries the token). Listing the names clients use is the stricter setting.
 *
 * Every refusal says `Connection: close` (and the connection guard closes the connection after it): a
 * client without the token keeps no connection open, so it cannot hold the connection limit against
 * those that have it.
 *
 * @module
 */
import type { HttpSettings } from "./http_listen.ts";

/** The `Host` values a server accepts. */
export interface AcceptedHosts {
  /** The listed values, each `host:port` in lower case. */
  readonly hosts: ReadonlySet<string>;
  /** Whether `/mcp` takes any `Host` (every-interface bind with no list). */
  readonly anyForMcp: boolean;
}

/**
 * The `Host` values accepted for a server.
 *
 * @param settings The HTTP settings
 * @param port The bound port
 * @returns The values, and whether `/mcp` takes any
 */
export function acceptedHosts(settings: HttpSettings, port: number): AcceptedHosts {
  const wildcard = settings.hostname === "0.0.0.0" || settings.hostname === "::";
  const hosts = new Set<string>();
  const add = (name: string) => {
    const bare = name.includes(":") && !name.startsWith("[") && name.split(":").length > 2
      ? `[${name}]`
      : name;
    hosts.add(/:\d+$/.test(bare) && !bare.endsWith("]") ? bare : `${bare}:${port}`);
  };
  if (!wildcard) add(settings.hostname.toLowerCase());
  if (settings.loopback || wildcard) { for (const name of ["localhost", "127.0.0.1", "[::1]"]) add(name); }
  for (const name of settings.allowedHosts) add(name);
  return { hosts, anyForMcp: wildcard && settings.allowedHosts.length === 0 };
}

/**
 * Checks a request's `Host`, `Origin` and token.
 *
 * @param request The request
 * @param settings The HTTP settings
 * @param accepted From {@linkcode acceptedHosts}
 * @returns A refusal, or undefined when the request may go on
 */
export async function checkAccess(
  request: Request,
  settings: HttpSettings,
  accepted: AcceptedHosts,
): Promise<Response | undefined> {
  const health = new URL(request.url).pathname === "/health";
  const host = request.headers.get("host")?.toLowerCase();
  const given = /^Bearer\s+(.+)$/i.exec(request.headers.get("authorization") ?? "")?.[1]?.trim();
  const tokenOk = settings.token !== undefined && given !== undefined &&
    await sameSecret(given, settings.token);
  const anyHost = accepted.anyForMcp && (!health || tokenOk);
  if (!anyHost && (!host || !accepted.hosts.has(host))) {
    return json(403, {
      error: `Host "${host ?? ""}" is not accepted (DNS rebinding protection). Add it to ` +
        "LMSTUDIO_MCP_ALLOWED_HOSTS",
    });
  }
  const origin = request.headers.get("origin")?.toLowerCase().replace(/\/+$/, "");
  if (origin === "null") return json(403, { error: "Origin null is not accepted" });
  if (origin) {
    let originHost: string | undefined;
    try {
      originHost = new URL(origin).host;
    } catch {
      originHost = undefined;
    }
    const sameSite = originHost !== undefined &&
      (anyHost ? originHost === host : accepted.hosts.has(originHost));
    if (!sameSite && !settings.allowedOrigins.includes(origin)) {
      return json(403, { error: `Origin ${origin} is not accepted. Add it to LMSTUDIO_MCP_ALLOWED_ORIGINS` });
    }
  }
  if (settings.token !== undefined && !health && !tokenOk) {
    return new Response(
      JSON.stringify({ error: given === undefined ? "Missing bearer token" : "Invalid bearer token" }),
      {
        status: 401,
        headers: {
          "content-type": "application/json",
          connection: "close",
          "www-authenticate": `Bearer realm="lmstudio-mcp"${
            given === undefined ? "" : ', error="invalid_token"'
          }`,
        },
      },
    );
  }
  return undefined;
}

/** Constant-time comparison over SHA-256 digests, so neither the content nor the length leaks. */
async function sameSecret(a: string, b: string): Promise<boolean> {
  const digest = async (text: string) =>
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  const [x, y] = await Promise.all([digest(a), digest(b)]);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", connection: "close" },
  });
}
