/**
 * A call on a pool of LM Studio servers: which server serves it, and how the result names it. With one
 * server the call goes there as before and results do not name it.
 *
 * @module
 */
import { findModel } from "../../lib/lmstudio/models.ts";
import { brief, type Host, isHostFailure, type Route } from "../../lib/lmstudio/pool.ts";
import type { NativeModel } from "../../lib/lmstudio/schemas.ts";
import type { ToolDeps } from "../tool.ts";

/** A call's dependencies with `client` set to the server it was routed to. */
export interface Routed {
  /** The dependencies, `client` being the chosen server's. */
  readonly deps: ToolDeps;
  /** The server and why. */
  readonly route: Route;
}

/**
 * Routes a call on `model` (see `Pool.route`) and points its dependencies at that server.
 *
 * @param deps The call's dependencies
 * @param model The model the caller named
 * @param options The server the caller named (`host`), cancellation
 * @returns The dependencies for that server, and the route
 */
export async function routeCall(
  deps: ToolDeps,
  model: string,
  options: { host?: string | undefined; signal?: AbortSignal | undefined } = {},
): Promise<Routed> {
  const route = await deps.pool.route(model, options);
  return { deps: onHost(deps, route.host), route };
}

/**
 * The dependencies of a call pointed at one server.
 *
 * @param deps The call's dependencies
 * @param host The server
 * @returns The same dependencies with that server's client
 */
export function onHost(deps: ToolDeps, host: Host): ToolDeps {
  return host.client === deps.client ? deps : { ...deps, client: host.client };
}

/**
 * What a result says about where it ran: nothing with one server.
 *
 * @param deps The call's dependencies
 * @param route The route
 * @returns The sentence (empty with one server), and the field for `structuredContent`
 */
export function hostReport(
  deps: ToolDeps,
  route: Route,
): { readonly line: string; readonly field: { host?: string } } {
  if (!deps.pool.several) return { line: "", field: {} };
  const notes = route.notes.map((n) => ` ${deps.redact(n)}.`).join("");
  return { line: `Served by ${route.host.name}.${notes}`, field: { host: route.host.name } };
}

/**
 * The server a model-management call acts on, with its catalogue read now: the one named, the only one,
 * or the first that has `model` downloaded (the first that answers when none has it, so that its
 * catalogue names what it has).
 *
 * @param deps The call's dependencies
 * @param model The model the caller named
 * @param options The server the caller named (`host`), cancellation
 * @returns The server and its models
 * @throws {LmStudioError} When the chosen server (or, choosing, every server) cannot be read
 */
export async function hostWithModel(
  deps: ToolDeps,
  model: string,
  options: { host?: string | undefined; signal?: AbortSignal | undefined },
): Promise<{ host: Host; models: readonly NativeModel[] }> {
  const call = { signal: options.signal };
  if (options.host !== undefined || !deps.pool.several) {
    const host = options.host === undefined ? deps.pool.hosts[0]! : deps.pool.host(options.host);
    return { host, models: await host.client.listModels(call) };
  }
  const catalogs = await deps.pool.catalogs({ ...call, fresh: true });
  const usable = catalogs.filter((c) => c.models !== undefined);
  const pick = usable.find((c) => findModel(c.models!, model)) ?? usable[0];
  if (!pick) throw catalogs[0]!.error!;
  return { host: pick.host, models: pick.models! };
}

/**
 * Runs a call's one request on its routed server and, with several servers, when that server fails
 * (refused, reset, 5xx) before answering: marks it down and sends the request once to the next server
 * the pool routes to, until one answers or none is left. Nothing was answered by the failed attempt, so
 * the request is answered once.
 *
 * @param routed The call's dependencies and route
 * @param model The model the caller named
 * @param work The request, on the dependencies of a server
 * @param signal Cancellation
 * @returns What `work` returned, and the route of the server that answered (with a note per failure)
 * @throws What `work` threw, when it is not a server failure or no other server is left
 */
export async function withFailover<T>(
  routed: Routed,
  model: string,
  work: (deps: ToolDeps) => Promise<T>,
  signal: AbortSignal,
): Promise<{ value: T; route: Route }> {
  const pool = routed.deps.pool;
  let { deps, route } = routed;
  const notes: string[] = [];
  const taken: Route[] = [];
  try {
    for (let attempt = 0;; attempt++) {
      try {
        const value = await work(deps);
        return { value, route: { ...route, notes: [...route.notes, ...notes] } };
      } catch (error) {
        if (!pool.several || signal.aborted || !isHostFailure(error) || attempt >= pool.hosts.length - 1) {
          throw error;
        }
        pool.markDown(route.host, error);
        let next: Route;
        try {
          next = await pool.route(model, { signal });
        } catch {
          throw error;
        }
        taken.push(next);
        if (pool.isDown(next.host)) throw error; // Every server is down.
        notes.push(`${route.host.name} failed (${brief(error)}); the request went to ${next.host.name}`);
        const failed = route.host.name;
        // The new route's note that the failed server is down says less than ours.
        route = {
          ...next,
          notes: [...route.notes, ...next.notes.filter((n) => !n.startsWith(`${failed} `))],
        };
        deps = onHost(deps, next.host);
      }
    }
  } finally {
    for (const t of taken) t.release();
  }
}
