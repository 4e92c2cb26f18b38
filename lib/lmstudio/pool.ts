/**
 * Several LM Studio servers as one pool: one client per server (each with its own token, sent only to
 * its own origin, and its own load gate), one catalogue over all of them, routing of a request to a
 * server where the model is loaded and has room (else one where it is downloaded), and a back-off for a
 * server that stopped answering. With one server nothing here sends a request of its own: routing is
 * the identity, so a single LM Studio behaves exactly as before.
 *
 * @module
 */
import { normalizeBaseUrl, type Timeouts } from "../config/config.ts";
import { HttpStatusError, InputError, LmStudioError, StreamError, UnreachableError } from "../errors.ts";
import { type HostConfig, hostNames } from "./hosts.ts";
import { existingLedger } from "../inference/kv_ledger.ts";
import { LmStudioClient } from "./client.ts";
import { findModel } from "./models.ts";
import type { NativeModel } from "./schemas.ts";

/** Parallel slots LM Studio gives a loaded instance whose config does not list `parallel`. */
const DEFAULT_SLOTS = 4;
/** How long a server that failed is skipped at first; each failure in a row doubles it. */
export const DEFAULT_BACKOFF_MS = 15_000;
/** The longest back-off. */
const MAX_BACKOFF_MS = 5 * 60_000;

/** One LM Studio server of the pool. */
export interface Host {
  /** Its short name in results (`gpu-box:1234`). */
  readonly name: string;
  /** Its base URL. */
  readonly baseUrl: string;
  /** Its client (its own token, origin check and load gate). */
  readonly client: LmStudioClient;
  /** Its place in LM_STUDIO_URL, from 0. */
  readonly index: number;
}

/** A server's catalogue, or why it could not be read. */
export type HostCatalog =
  | { readonly host: Host; readonly models: readonly NativeModel[]; readonly error?: undefined }
  | { readonly host: Host; readonly models?: undefined; readonly error: LmStudioError };

/** Where a request goes. */
export interface Route {
  /** The server. */
  readonly host: Host;
  /** Why it was chosen. */
  readonly why: "only" | "asked" | "loaded" | "busy" | "downloaded";
  /** Servers skipped because they are down, one sentence each. */
  readonly notes: readonly string[];
  /**
   * Ends the request's count on its server. The count starts when the route is chosen, in the same
   * step, so that calls routed at once see each other. Safe to call twice.
   */
  readonly release: () => void;
  /** The same as `release`, for `using`. */
  readonly [Symbol.dispose]: () => void;
}

/** Options of {@linkcode Pool}. */
export interface PoolOptions {
  /** Timeouts of every client. */
  readonly timeouts: Timeouts;
  /** The fetch to use. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** First back-off of a failed server. @default DEFAULT_BACKOFF_MS */
  readonly backoffMs?: number;
}

/**
 * Whether an error says the server itself failed (so another server should take the work): it could not
 * be reached, it dropped the connection, or it answered 5xx. A model's own refusal (4xx, a context
 * overflow) is not the server's failure.
 *
 * @param error What a request threw
 * @returns True for a server failure
 */
export function isHostFailure(error: unknown): boolean {
  if (error instanceof UnreachableError) return true;
  if (error instanceof HttpStatusError) return error.status >= 500;
  if (error instanceof StreamError) {
    // Dropped while reading: the cause is the network's error, not one of ours.
    let cause = error.cause;
    for (let depth = 0; depth < 4 && cause instanceof StreamError; depth++) cause = cause.cause;
    return cause instanceof Error && !(cause instanceof LmStudioError);
  }
  return false;
}

/**
 * Slots of a model on one server: the `parallel` of each loaded instance (LM Studio's default 4 when
 * not listed).
 *
 * @param model The model as the server lists it
 * @returns The slots, 0 when it is not loaded
 */
export function slotsOf(model: NativeModel | undefined): number {
  let slots = 0;
  for (const instance of model?.loaded_instances ?? []) {
    const listed = instance.config?.parallel;
    slots += typeof listed === "number" && Number.isInteger(listed) && listed > 0 ? listed : DEFAULT_SLOTS;
  }
  return slots;
}

/**
 * What the process's ledgers (lib/inference/kv_ledger.ts, one per loaded instance) hold on a server for a model:
 * requests in flight and waiting, from every call of this process.
 */
function ledgerLoad(host: Host, model: NativeModel): number {
  let load = 0;
  for (const instance of model.loaded_instances ?? []) {
    const ledger = existingLedger({ baseUrl: host.baseUrl, instanceId: instance.id });
    if (ledger) load += ledger.inFlight + ledger.waiting;
  }
  return load;
}

/**
 * An error's first sentence, at most 200 characters: enough to say why a server was skipped.
 *
 * @param error The error
 * @returns The short reason
 */
export function brief(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const first = message.split(/(?<=[.)])\s/)[0] ?? message;
  return first.length > 200 ? `${first.slice(0, 199)}…` : first.replace(/\.$/, "");
}

/** Every LM Studio server this process talks to. */
export class Pool {
  /** The servers, in the order of LM_STUDIO_URL. */
  readonly hosts: readonly Host[];
  readonly #backoffMs: number;
  readonly #down = new Map<Host, { until: number; backoff: number; reason: string }>();
  readonly #inFlight = new Map<string, number>();

  /**
   * Creates one client per server.
   *
   * @param hosts The servers, each with its token
   * @param options Timeouts, fetch, back-off
   */
  constructor(hosts: readonly HostConfig[], options: PoolOptions) {
    const names = hostNames(hosts);
    this.hosts = Object.freeze(hosts.map((h, index) =>
      Object.freeze({
        name: names[index]!,
        baseUrl: h.baseUrl,
        index,
        client: new LmStudioClient({
          baseUrl: h.baseUrl,
          apiKey: h.apiKey,
          timeouts: options.timeouts,
          ...(options.fetch ? { fetch: options.fetch } : {}),
        }),
      })
    ));
    this.#backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS;
  }

  /** Whether there is more than one server (results then name the server). */
  get several(): boolean {
    return this.hosts.length > 1;
  }

  /**
   * Finds a server by its name or base URL.
   *
   * @param name What the caller wrote
   * @returns The server
   * @throws {InputError} When no server has that name
   */
  host(name: string): Host {
    const wanted = name.trim().replace(/\/+$/, "");
    let url: string | undefined;
    try {
      url = normalizeBaseUrl(wanted);
    } catch {
      url = undefined; // Not a URL: a name.
    }
    const found = this.hosts.find((h) => h.name === wanted || h.baseUrl === wanted || h.baseUrl === url);
    if (found) return found;
    throw new InputError(
      `No LM Studio server is named "${name}". The servers (LM_STUDIO_URL): ${
        this.hosts.map((h) => h.name).join(", ")
      }`,
    );
  }

  /**
   * Whether a server is in its back-off period after a failure.
   *
   * @param host The server
   * @returns True while it is skipped
   */
  isDown(host: Host): boolean {
    const down = this.#down.get(host);
    return down !== undefined && performance.now() < down.until;
  }

  /**
   * Marks a server down for its back-off period (doubling with each failure in a row).
   *
   * @param host The server
   * @param error Why
   */
  markDown(host: Host, error: unknown): void {
    const before = this.#down.get(host);
    const backoff = before ? Math.min(MAX_BACKOFF_MS, before.backoff * 2) : this.#backoffMs;
    const reason = brief(error);
    this.#down.set(host, { until: performance.now() + backoff, backoff, reason });
  }

  /**
   * Clears a server's back-off after it answered.
   *
   * @param host The server
   */
  markUp(host: Host): void {
    this.#down.delete(host);
  }

  /**
   * One sentence on a server that is down.
   *
   * @param host The server
   * @returns The note
   */
  downNote(host: Host): string {
    const down = this.#down.get(host);
    const seconds = down ? Math.max(1, Math.round((down.until - performance.now()) / 1000)) : 0;
    return `${host.name} was skipped: it failed (${
      down?.reason ?? "unknown"
    }) and is retried in ${seconds} s`;
  }

  /**
   * Every server's catalogue (or those of `hosts`), read at once; a server that cannot be read is marked
   * down.
   *
   * @param options Cancellation; `fresh` to bypass the two-second catalogue cache
   * @returns One entry per server, in order
   */
  async catalogs(
    options: { signal?: AbortSignal | undefined; fresh?: boolean; hosts?: readonly Host[] } = {},
  ): Promise<HostCatalog[]> {
    return await Promise.all((options.hosts ?? this.hosts).map(async (host): Promise<HostCatalog> => {
      try {
        const call = { signal: options.signal };
        // A listing does not end a back-off: a server may list its models and still fail every request.
        const models = options.fresh ? await host.client.listModels(call) : await host.client.catalog(call);
        return { host, models };
      } catch (error) {
        if (!(error instanceof LmStudioError) || options.signal?.aborted) throw error;
        if (isHostFailure(error)) this.markDown(host, error);
        return { host, error };
      }
    }));
  }

  /**
   * Requests this process has in flight on a server for a model.
   *
   * @param host The server
   * @param key The model key
   * @returns The count
   */
  inFlight(host: Host, key: string): number {
    return this.#inFlight.get(`${host.index}\n${key}`) ?? 0;
  }

  /**
   * Counts a request in flight on a server until the returned function is called (once).
   *
   * @param host The server
   * @param key The model key
   * @returns The release
   */
  hold(host: Host, key: string): () => void {
    const id = `${host.index}\n${key}`;
    this.#inFlight.set(id, (this.#inFlight.get(id) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#inFlight.get(id) ?? 1) - 1;
      if (left > 0) this.#inFlight.set(id, left);
      else this.#inFlight.delete(id);
    };
  }

  /**
   * Chooses the server for a request on `model`: the one named, else (with one server) that one without
   * asking anything, else the first where the model is loaded and has a free slot (the most free first),
   * else the first where it is downloaded but not loaded, else the least busy where it is loaded. Servers
   * that are down are skipped with a note while others are up.
   *
   * @param model The model the caller named (key, variant or instance id)
   * @param options The server the caller named; cancellation
   * @returns The route
   * @throws {InputError} When no server has the model; {LmStudioError} when no server answers
   */
  async route(
    model: string,
    options: { host?: string | undefined; signal?: AbortSignal | undefined } = {},
  ): Promise<Route> {
    const to = (host: Host, why: Route["why"], notes: readonly string[], key = model): Route => {
      const release = this.hold(host, key);
      return { host, why, notes, release, [Symbol.dispose]: release };
    };
    if (options.host !== undefined) return to(this.host(options.host), "asked", []);
    if (!this.several) return to(this.hosts[0]!, "only", []);
    // Servers in their back-off are not asked (one that hangs would cost a timeout), unless all are.
    const notes: string[] = [];
    let candidates = this.hosts.filter((h) => !this.isDown(h));
    if (candidates.length === 0) candidates = [...this.hosts];
    else for (const h of this.hosts) if (this.isDown(h)) notes.push(this.downNote(h));
    const catalogs = await this.catalogs({ signal: options.signal, hosts: candidates });
    const up = catalogs.filter((c) => {
      if (c.models) return true;
      notes.push(`${c.host.name} was skipped: ${brief(c.error)}`);
      return false;
    });
    if (up.length === 0) {
      if (catalogs.length === 1) throw catalogs[0]!.error!;
      throw new LmStudioError(
        `No LM Studio server answers: ${
          catalogs.map((c) => `${c.host.name} (${brief(c.error)})`).join("; ")
        }. ` +
          "Start LM Studio's server on at least one of them, or fix LM_STUDIO_URL",
        { cause: catalogs[0]!.error },
      );
    }
    const withModel = up.flatMap((c) => {
      const found = findModel(c.models!, model);
      return found ? [{ host: c.host, model: found }] : [];
    });
    if (withModel.length === 0) {
      throw new InputError(
        `No LM Studio server has "${model}" (${up.map((c) => c.host.name).join(", ")}). ` +
          "model_list shows the keys on each; model_download fetches one",
      );
    }
    const key = withModel[0]!.model.key;
    const loaded = withModel.filter((c) => slotsOf(c.model) > 0).map((c) => {
      const slots = slotsOf(c.model);
      const busy = Math.max(this.inFlight(c.host, key), ledgerLoad(c.host, c.model));
      return { host: c.host, free: slots - busy, load: busy / slots };
    });
    const free = loaded.filter((c) => c.free > 0).sort((a, b) =>
      b.free - a.free || a.host.index - b.host.index
    );
    if (free.length) return to(free[0]!.host, "loaded", notes, key);
    // No loaded instance has room: a server that has the model but not loaded takes it (LM Studio loads it
    // there on demand), so a second machine joins instead of the request queueing on a full one.
    const idle = withModel.find((c) => slotsOf(c.model) === 0);
    if (idle) return to(idle.host, "downloaded", notes, key);
    const least = loaded.sort((a, b) => a.load - b.load || a.host.index - b.host.index)[0];
    return to(least!.host, "busy", notes, key);
  }
}
