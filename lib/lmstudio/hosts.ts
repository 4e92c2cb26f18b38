/**
 * Several LM Studio servers: `LM_STUDIO_URL` may list them, comma-separated, and `LM_STUDIO_API_KEY`
 * then lists their tokens in the same order (an empty entry for a server without one). Each server's
 * token goes only to that server's origin, as a bearer: a URL never carries credentials, and one token is
 * never reused for a server it was not listed for. One URL is read exactly as before (the whole key is
 * its token).
 *
 * @module
 */
import { ConfigError } from "../errors.ts";

/** One LM Studio server of the pool. */
export interface HostConfig {
  /** Normalised base URL, e.g. `http://gpu-box:1234`. */
  readonly baseUrl: string;
  /** Its bearer token, or undefined when it needs none. Never print it. */
  readonly apiKey: string | undefined;
}

/** The most servers one pool may list. */
export const MAX_HOSTS = 16;

/** One entry of LM_STUDIO_URL with its token, before the URL is normalised. */
export interface RawHost {
  /** The URL as written. */
  readonly url: string;
  /** Its token, trimmed, or undefined. */
  readonly apiKey: string | undefined;
}

/**
 * Splits LM_STUDIO_URL and LM_STUDIO_API_KEY into one entry per server. With one URL the key is taken
 * whole, as before; with several, the key must be empty or list one token per URL (empty entries for
 * servers without a token), because sending one server's token to another would give it away.
 *
 * @param url LM_STUDIO_URL as given (undefined or blank for the default)
 * @param key LM_STUDIO_API_KEY as given
 * @param fallback The URL used when `url` is blank
 * @returns The servers, in the order listed
 * @throws {ConfigError} Empty entries, too many servers, or tokens not aligned with the URLs
 * @example
 * ```ts
 * import { splitHosts } from "./hosts.ts";
 * splitHosts("http://a:1234, http://b:1234", "sk-a,", "http://localhost:1234");
 * // [{ url: "http://a:1234", apiKey: "sk-a" }, { url: "http://b:1234", apiKey: undefined }]
 * ```
 */
export function splitHosts(
  url: string | undefined,
  key: string | undefined,
  fallback: string,
): RawHost[] {
  const value = url?.trim() || fallback;
  const token = key?.trim() || undefined;
  if (!value.includes(",")) return [{ url: value, apiKey: token }];
  const urls = value.split(",").map((u) => u.trim());
  if (urls.some((u) => u === "")) {
    throw new ConfigError(
      `LM_STUDIO_URL has an empty entry ("${value}"). List the servers separated by single commas, ` +
        "e.g. http://localhost:1234,http://gpu-box:1234",
    );
  }
  if (urls.length > MAX_HOSTS) {
    throw new ConfigError(`LM_STUDIO_URL lists ${urls.length} servers; at most ${MAX_HOSTS} are supported`);
  }
  if (token === undefined) return urls.map((u) => ({ url: u, apiKey: undefined }));
  const tokens = token.split(",").map((t) => t.trim() || undefined);
  if (tokens.length !== urls.length) {
    // The count only: the value is a secret.
    throw new ConfigError(
      `LM_STUDIO_API_KEY lists ${tokens.length} token${tokens.length === 1 ? "" : "s"} for the ` +
        `${urls.length} servers of LM_STUDIO_URL. Give one per server, comma-separated in the same order ` +
        `(leave an entry empty for a server without a token, e.g. "sk-lm-a,,sk-lm-c"): a token is sent only ` +
        "to the server it is listed for",
    );
  }
  return urls.map((u, i) => ({ url: u, apiKey: tokens[i] }));
}

/**
 * Refuses a server listed twice (after normalising): it would be counted as two hosts with twice the
 * slots.
 *
 * @param hosts The normalised servers
 * @returns The same list, frozen
 * @throws {ConfigError} When two entries are the same server
 */
export function distinctHosts(hosts: readonly HostConfig[]): readonly HostConfig[] {
  const seen = new Set<string>();
  for (const host of hosts) {
    if (seen.has(host.baseUrl)) {
      throw new ConfigError(`LM_STUDIO_URL lists ${host.baseUrl} twice; list each server once`);
    }
    seen.add(host.baseUrl);
  }
  return Object.freeze(hosts.map((h) => Object.freeze({ ...h })));
}

/**
 * Short names for the servers, as results show them: `host:port` (and the path, if any), or the whole
 * base URL when two servers would share a short name.
 *
 * @param hosts The servers
 * @returns One name per server, in order
 * @example
 * ```ts
 * import { hostNames } from "./hosts.ts";
 * hostNames([{ baseUrl: "http://gpu-box:1234", apiKey: undefined }]); // ["gpu-box:1234"]
 * ```
 */
export function hostNames(hosts: readonly HostConfig[]): string[] {
  const short = hosts.map((h) => {
    const url = new URL(h.baseUrl);
    return url.host + (url.pathname === "/" ? "" : url.pathname);
  });
  return new Set(short).size === short.length ? short : hosts.map((h) => h.baseUrl);
}

/**
 * Every token of the pool, for the redactor.
 *
 * @param hosts The servers
 * @returns Their tokens
 */
export function hostSecrets(hosts: readonly HostConfig[]): (string | undefined)[] {
  return hosts.map((h) => h.apiKey);
}
