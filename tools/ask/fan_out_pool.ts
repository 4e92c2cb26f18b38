/**
 * `each` / `prompts` over several LM Studio servers: the requests go to every server where the model is
 * loaded, each with its own width (the call's `parallel`, else LMSTUDIO_MCP_PARALLEL, else that
 * instance's slots) and KV budget (that instance's loaded context); a server that fails mid-job is marked
 * down and its unfinished requests move to the others (lib/inference/pool_fanout.ts). With one server this is
 * exactly the single fan-out (lib/inference/fanout.ts).
 *
 * @module
 */
import { type Budget, type BudgetedRun, mapBudgeted } from "../../lib/inference/fanout.ts";
import { findModel } from "../../lib/lmstudio/models.ts";
import { brief, type Host, isHostFailure, slotsOf } from "../../lib/lmstudio/pool.ts";
import { type Lane, type LaneReport, mapOverLanes } from "../../lib/inference/pool_fanout.ts";
import type { AskRequest } from "./generate.ts";
import { DEFAULT_CONTEXT } from "../common/file_input.ts";
import { onHost } from "../common/route.ts";
import type { ToolContext } from "../tool.ts";

/** What a fan-out over the pool did, besides the outcomes. */
export interface Spread<R> extends BudgetedRun<R> {
  /** Per server: requests, answers, at once (only with several servers). */
  readonly hosts?: readonly LaneReport[];
  /** Servers left out, one sentence each. */
  readonly notes: readonly string[];
  /** The call on the server where a combine step has the most room (the caller's with one server). */
  readonly best: AskRequest;
}

/**
 * Runs the items of `each`/`prompts` on every server where the model is loaded (or, with one server, on
 * it alone within `budget`).
 *
 * @param request The call, pointed at the server it was routed to
 * @param items The items
 * @param budget The routed server's width and context, and each item's cost
 * @param run The work for one item, given the call pointed at the server that runs it
 * @param context Cancellation
 * @returns The outcomes in input order, the peak, the per-server report and notes
 */
export async function spreadOverPool<T, R>(
  request: AskRequest,
  items: readonly T[],
  budget: Budget,
  run: (item: T, index: number, request: AskRequest) => Promise<R>,
  context: Pick<ToolContext, "signal">,
): Promise<Spread<R>> {
  const { deps, args } = request;
  const pool = deps.pool;
  if (!pool.several) {
    const single = await mapBudgeted(items, budget, (item, i) => run(item, i, request), context.signal);
    return { ...single, notes: [], best: request };
  }
  const notes: string[] = [];
  const lanes: Lane<Host>[] = [];
  const up = pool.hosts.filter((host) => {
    if (host.client === deps.client || !pool.isDown(host)) return true;
    notes.push(pool.downNote(host));
    return false;
  });
  for (const entry of await pool.catalogs({ signal: context.signal, fresh: true, hosts: up })) {
    const routed = entry.host.client === deps.client;
    if (entry.error) {
      if (routed) throw entry.error;
      notes.push(`${entry.host.name} was skipped: ${brief(entry.error)}`);
      continue;
    }
    const model = findModel(entry.models, args.model);
    const instances = model?.loaded_instances ?? [];
    if (!instances.length) {
      if (model) {
        notes.push(
          `${entry.host.name} has ${model.key} downloaded but not loaded: model_load it there (host ` +
            `"${entry.host.name}") to spread the work over it too`,
        );
      }
      if (!routed) continue;
    }
    // The smallest loaded instance sizes the lane: LM Studio may send a request to any of them.
    const contexts = instances.map((i) => i.config?.context_length ?? DEFAULT_CONTEXT);
    const slots = slotsOf(model);
    const width = args.parallel ?? deps.config.parallel ?? (slots || budget.width);
    lanes.push({
      host: entry.host,
      name: entry.host.name,
      width: routed ? Math.max(width, 1) : width,
      total: contexts.length ? Math.min(...contexts) : budget.total,
    });
  }
  const on = new Map(lanes.map((lane) => [
    lane.host,
    {
      ...request,
      deps: onHost(deps, lane.host),
      loaded: true,
    } satisfies AskRequest,
  ]));
  const spread = await mapOverLanes(items, lanes, (item, i, lane) => run(item, i, on.get(lane.host)!), {
    cost: budget.cost,
    isHostFailure,
    describe: (error) => deps.redact(brief(error)),
    onHostFailure: (lane, error) => pool.markDown(lane.host, error),
    isDown: (lane) => pool.isDown(lane.host),
    signal: context.signal,
  });
  for (const [i, lane] of spread.lanes.entries()) {
    if (lane.failed === undefined) {
      if (lane.answers > 0) pool.markUp(lanes[i]!.host); // Answering ends a back-off's doubling.
      continue;
    }
    notes.push(
      `${lane.host} failed mid-job (${lane.failed}); it is skipped for a while and its ${lane.moved} ` +
        `unfinished request${lane.moved === 1 ? "" : "s"} went to the other servers`,
    );
  }
  const alive = lanes.filter((lane) => !pool.isDown(lane.host)).sort((a, b) => b.total - a.total)[0];
  return {
    settled: spread.settled,
    peak: spread.peak,
    hosts: spread.lanes,
    notes: notes.map(deps.redact),
    best: alive ? on.get(alive.host)! : request,
  };
}

/**
 * The per-server line of a fan-out's summary.
 *
 * @param hosts The per-server report
 * @returns `Servers: a 16 requests, 16 answers, 4 at once; …`
 */
export function hostsLine(hosts: readonly LaneReport[]): string {
  return "Servers: " +
    hosts.map((h) =>
      `${h.host} ${h.requests} request${h.requests === 1 ? "" : "s"}, ${h.answers} answer${
        h.answers === 1 ? "" : "s"
      }, ${h.at_once} at once`
    ).join("; ") + ".";
}
