/**
 * A fake LM Studio HTTP server for tests, as strict as the real one: native `/api/v1/*` (bodies
 * validated like LM Studio validates them, see `sim/strict.ts`), OpenAI-compatible `/v1/*`, its error
 * envelopes, API-key auth, and injectable faults (status, hang, delay, dropped connection, raw bodies).
 * Its default catalogue and reply shapes come from replies recorded from real LM Studio servers
 * (`tests/fixtures/lmstudio/`). Listens on 127.0.0.1, port 0.
 *
 * One module per LM Studio route under `sim/` (models, load and unload, downloads, native chat, chat
 * completions, embeddings), with one shared helper for JSON and error replies (`sim/replies.ts`); this
 * file holds the server, its state (catalogue, instances and their engines, downloads, recorded
 * requests) and the fault injection, and puts the routes together.
 *
 * @module
 */
import { chatCompletions } from "./sim/chat_completions.ts";
import { DOWNLOAD_ROUTES } from "./sim/download.ts";
import { embeddings } from "./sim/embeddings.ts";
import { SimEngine } from "./sim/engine.ts";
import type { ChatScript, InferenceSimOptions } from "./sim/inference.ts";
import { LOAD_ROUTES } from "./sim/load.ts";
import { MODEL_ROUTES } from "./sim/models.ts";
import { nativeChat } from "./sim/native_chat.ts";
import { droppedResponse, json, nativeError } from "./sim/replies.ts";
import { validateNative } from "./sim/strict.ts";
import noneLoaded from "../fixtures/lmstudio/api-v1-models.none-loaded.json" with { type: "json" };

export type { ChatScript };

/** One loaded instance. */
export interface SimInstance {
  id: string;
  config: Record<string, unknown>;
}

/** One downloaded model, as `GET /api/v1/models` lists it. */
export interface SimModel {
  type: "llm" | "embedding";
  key: string;
  display_name?: string;
  publisher?: string;
  architecture?: string | null;
  quantization?: { name: string | null; bits_per_weight: number | null } | null;
  size_bytes?: number;
  params_string?: string | null;
  loaded_instances: SimInstance[];
  max_context_length?: number;
  format?: string | null;
  capabilities?: Record<string, unknown>;
  description?: string | null;
  variants?: string[];
  selected_variant?: string;
}

/** A fault applied to matching requests instead of (or before) the real route. */
export interface Fault {
  /** Reply with this status and JSON body. */
  status?: number;
  /** JSON body for `status`. */
  body?: unknown;
  /** Raw body text (sent as is, with `contentType`). */
  raw?: string;
  /** Content type of `raw`. @default "application/json" */
  contentType?: string;
  /** Extra reply headers (with `status` or `raw`), e.g. a redirect's `location`. */
  headers?: Record<string, string>;
  /** Wait this long, then run the real route. */
  delayMs?: number;
  /** Never answer (until the client aborts, or 30 s). */
  hang?: boolean;
  /** Send headers, then drop the connection. */
  drop?: boolean;
  /** Apply to this many requests, then expire. @default Infinity */
  times?: number;
  /** Apply only to requests whose body's JSON text contains this. */
  bodyIncludes?: string;
}

/** One request as the simulator saw it. */
export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
  authorization: string | null;
  /** `performance.now()` when it arrived. */
  startedAt: number;
  /** `performance.now()` when the client went away before the reply finished, if it did. */
  abortedAt?: number;
  /** Streamed answer and reasoning deltas sent so far. */
  deltas?: number;
  /** `performance.now()` when a streamed reply was completely written. */
  endedAt?: number;
  /** The loaded instance that served an inference request. */
  instance?: string;
  /** `performance.now()` when LM Studio started working on it (a slot was free). */
  admittedAt?: number;
}

/** A load LM Studio started on its own for a request (JIT), with the request's `ttl`. */
export interface JitLoad {
  /** Model key. */
  model: string;
  /** The instance it became. */
  id: string;
  /** The `ttl` of the request that caused it. */
  ttl: number | undefined;
}

/** A download job in progress. */
export interface SimDownload {
  job_id: string;
  model: string;
  total: number;
  done: number;
  status: "downloading" | "paused" | "completed" | "failed";
  started_at: string;
}

/** Handles one route; returns undefined to fall through to the next route table. */
export type SimRouteHandler = (
  request: Request,
  body: unknown,
  sim: LmStudioSim,
  record: RecordedRequest,
) => Response | Promise<Response>;

/** Route table: "METHOD /path" → handler. A trailing `*` matches any suffix. */
export type SimRoutes = Record<string, SimRouteHandler>;

/** Options of {@linkcode LmStudioSim.start}. */
export interface SimOptions extends InferenceSimOptions {
  /** Downloaded models. */
  models?: SimModel[];
  /** Models `model_download` can fetch: key → size in bytes. */
  catalog?: Record<string, number>;
  /** Require this bearer token. */
  apiKey?: string;
  /** How long a load takes. @default 0 */
  loadDelayMs?: number;
  /** Whether load replies carry `load_time_seconds`. @default true */
  reportLoadTime?: boolean;
  /**
   * The context length a load (REST or JIT) applies, given the one asked for (undefined when none was). Real LM Studio
   * does not always apply what was asked: it lowers the context to fit memory (lmstudio-bug-tracker#1902)
   * or its engine picks its own (#2270, #2318), and the instance and the echoed `load_config` then show
   * the applied value. @default the requested context, or 4096
   */
  loadContext?: (requested: number | undefined, model: SimModel) => number;
  /** Polls until a download completes. @default 4 */
  downloadSteps?: number;
  /** Extra route tables (chat, embeddings), tried before the built-in ones. */
  routes?: SimRoutes[];
  /**
   * Whether a GGUF instance's config lists `parallel`, as LM Studio's docs show; replies recorded from
   * 0.4 servers lack it (the slots are then still LM Studio's default 4). @default true
   */
  listParallel?: boolean;
  /**
   * Requests an MLX instance (which lists no `parallel`) serves at once, each with its own cache capped
   * by the context (mlx-engine `DEFAULT_MAX_SEQ_NUMS`). @default 4
   */
  mlxParallel?: number;
  /**
   * The largest context a REST load may ask for before LM Studio's resource guardrails refuse it
   * for lack of memory ("Model loading was stopped due to insufficient system resources…"). @default none
   */
  memoryLimitContext?: number;
}

/**
 * A GGUF model shaped like the example of LM Studio's REST docs (a loaded instance whose config carries
 * every llama.cpp field, and reasoning options), next to the MLX models of the recorded catalogue.
 */
function ggufReasoningModel(): SimModel {
  return {
    type: "llm",
    publisher: "qwen",
    key: "qwen/qwen3-8b",
    display_name: "Qwen3 8B",
    architecture: "qwen3",
    quantization: { name: "Q4_K_M", bits_per_weight: 4 },
    size_bytes: 5_030_000_000,
    params_string: "8B",
    loaded_instances: [{
      id: "qwen/qwen3-8b",
      config: {
        context_length: 8192,
        eval_batch_size: 512,
        parallel: 4,
        flash_attention: true,
        offload_kv_cache_to_gpu: true,
      },
    }],
    max_context_length: 32768,
    format: "gguf",
    capabilities: {
      vision: false,
      trained_for_tool_use: true,
      reasoning: { allowed_options: ["off", "on"], default: "on" },
    },
    description: null,
    variants: ["qwen/qwen3-8b@q4_k_m"],
    selected_variant: "qwen/qwen3-8b@q4_k_m",
  };
}

/**
 * A loaded GGUF LLM (shaped like {@linkcode defaultModels}' first one, without reasoning) whose instance
 * has `parallel` slots, or no `parallel` field at all when it is undefined, as LM Studio 0.4 servers and
 * MLX instances report it (LM Studio then runs 4 at once). Not in the default catalogue: tests add it.
 *
 * @param key The model key (and instance id)
 * @param parallel The instance's `config.parallel`, or undefined for none
 * @returns The model
 */
export function slottedModel(key: string, parallel: number | undefined): SimModel {
  const model = ggufReasoningModel();
  const config: Record<string, unknown> = { ...model.loaded_instances[0]!.config };
  if (parallel === undefined) delete config.parallel;
  else config.parallel = parallel;
  return {
    ...model,
    key,
    display_name: key,
    loaded_instances: [{ id: key, config }],
    capabilities: { vision: false, trained_for_tool_use: true },
    variants: [`${key}@q4_k_m`],
    selected_variant: `${key}@q4_k_m`,
  };
}

/**
 * The default catalogue: the recorded catalogue of a real LM Studio with nothing loaded (MLX LLMs,
 * some with vision, and a GGUF embedding model without `capabilities`), plus one loaded GGUF reasoning
 * model first.
 */
export function defaultModels(): SimModel[] {
  return [ggufReasoningModel(), ...structuredClone(noneLoaded.models as SimModel[])];
}

/** The fake server. */
export class LmStudioSim {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** Every request, in arrival order. */
  readonly requests: RecordedRequest[] = [];
  /** Current model state. */
  models: SimModel[];
  /** Download jobs by id. */
  readonly downloads = new Map<string, SimDownload>();
  /** Options as given. */
  readonly options: SimOptions;
  /** How the simulated model answers the next inference requests. */
  chatScript: ChatScript = {};
  /** The most inference requests each model served at once (its parallel slots cap this). */
  readonly peakInFlight: Map<string, number> = new Map();
  /** The most inference requests each model had open at once, queued ones included (what was sent). */
  readonly peakRequested: Map<string, number> = new Map();
  /** Loads LM Studio started on its own for requests, in order. */
  readonly jitLoads: JitLoad[] = [];
  #engines = new Map<string, SimEngine>();
  #loading = new Map<string, number>();
  #server: Deno.HttpServer<Deno.NetAddr>;
  #faults: { route: string; fault: Fault }[] = [];
  #pending = new Set<Promise<unknown>>();
  #closing = new AbortController();
  #jobCounter = 0;

  private constructor(options: SimOptions) {
    this.options = options;
    this.models = structuredClone(options.models ?? defaultModels());
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => this.#handle(request),
    );
    this.url = `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /**
   * Starts a simulator.
   *
   * @param options Catalogue, auth, delays, extra routes
   * @returns The running simulator
   */
  static start(options: SimOptions = {}): LmStudioSim {
    return new LmStudioSim(options);
  }

  /**
   * Injects a fault for requests whose "METHOD /path" starts with `route`.
   *
   * @param route e.g. "POST /api/v1/models/load"
   * @param fault What to do instead
   */
  fault(route: string, fault: Fault): void {
    this.#faults.push({ route, fault: { ...fault } });
  }

  /** Removes every fault. */
  clearFaults(): void {
    this.#faults = [];
  }

  /** Requests whose path starts with `prefix`. */
  requestsTo(prefix: string): RecordedRequest[] {
    return this.requests.filter((r) => `${r.method} ${r.path}`.startsWith(prefix));
  }

  /** Finds a model by key. */
  model(key: string): SimModel | undefined {
    return this.models.find((m) => m.key === key);
  }

  /** Resolves after `ms`, or when the simulator closes or `signal` aborts. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        this.#closing.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
      this.#closing.signal.addEventListener("abort", done, { once: true });
    });
  }

  /** The instance with this id, and its model. */
  instance(id: string): { model: SimModel; instance: SimInstance } | undefined {
    for (const model of this.models) {
      const instance = model.loaded_instances.find((i) => i.id === id);
      if (instance) return { model, instance };
    }
    return undefined;
  }

  /**
   * The engine of a loaded instance: its parallel slots (the config's `parallel`; else `mlxParallel` for
   * MLX, and LM Studio's default 4 for llama.cpp) and its KV cache (one shared by every request in flight
   * on llama.cpp; one per request, capped by the context, on MLX).
   *
   * @param id The instance id
   * @returns The engine
   */
  engine(id: string): SimEngine {
    let engine = this.#engines.get(id);
    if (!engine) {
      const found = () => this.instance(id);
      engine = new SimEngine({
        slots: () => {
          const hit = found();
          const listed = Number(hit?.instance.config.parallel);
          if (Number.isInteger(listed) && listed > 0) return listed;
          return hit?.model.format === "mlx" ? this.options.mlxParallel ?? 4 : 4;
        },
        unified: () => found()?.model.format !== "mlx",
        context: () => {
          const value = found()?.instance.config.context_length;
          return typeof value === "number" ? value : 4096;
        },
        busy: () => {
          const model = found()?.model;
          if (!model) return;
          const total = model.loaded_instances.reduce(
            (n, i) => n + (this.#engines.get(i.id)?.inFlight ?? 0),
            0,
          );
          this.peakInFlight.set(model.key, Math.max(this.peakInFlight.get(model.key) ?? 0, total));
        },
        requested: () => {
          const model = found()?.model;
          if (!model) return;
          const open = model.loaded_instances.reduce((n, i) => n + (this.#engines.get(i.id)?.open ?? 0), 0);
          this.peakRequested.set(model.key, Math.max(this.peakRequested.get(model.key) ?? 0, open));
        },
      });
      this.#engines.set(id, engine);
    }
    return engine;
  }

  /** Times a shared KV cache ran out, over every instance. */
  get contextExceeded(): number {
    let sum = 0;
    for (const engine of this.#engines.values()) sum += engine.exceeded;
    return sum;
  }

  /**
   * Starts loading an instance of `model`: the first is named by the key, later ones `key:2`, `key:3`,
   * counting the loads still running, so concurrent loads of one model make several instances
   * (lmstudio-bug-tracker#1751).
   *
   * @param model The model
   * @returns The new instance's id, and `done` to call with its config when loaded (or undefined when not)
   */
  beginLoad(
    model: SimModel,
  ): { id: string; done: (config: Record<string, unknown> | undefined) => SimInstance | undefined } {
    const loading = this.#loading.get(model.key) ?? 0;
    this.#loading.set(model.key, loading + 1);
    const n = model.loaded_instances.length + loading;
    let id = n === 0 ? model.key : `${model.key}:${n + 1}`;
    for (let k = n + 2; model.loaded_instances.some((i) => i.id === id); k++) id = `${model.key}:${k}`;
    return {
      id,
      done: (config) => {
        this.#loading.set(model.key, (this.#loading.get(model.key) ?? 1) - 1);
        if (!config) return undefined;
        const instance = { id, config };
        model.loaded_instances.push(instance);
        return instance;
      },
    };
  }

  /**
   * The config LM Studio gives a new instance. As recorded: an MLX (or embedding) instance's config holds
   * only context_length; llama.cpp (GGUF) LLM instances carry the engine's fields too.
   *
   * @param model The model
   * @param fields Load fields from the request
   * @returns The config
   */
  loadConfig(model: SimModel, fields: Record<string, unknown> = {}): Record<string, unknown> {
    return this.#loadConfig(model, fields);
  }

  /**
   * Why LM Studio's resource guardrails refuse this load, if they do: a context larger than
   * `memoryLimitContext` needs more memory than the machine has.
   *
   * @param model The model
   * @param requested The context length asked for, if any
   * @returns LM Studio's message, or undefined when the load goes ahead
   */
  memoryRefusal(model: SimModel, requested: number | undefined): string | undefined {
    const limit = this.options.memoryLimitContext;
    const applied = this.options.loadContext?.(requested, model) ?? requested ?? 4096;
    if (limit === undefined || applied <= limit) return undefined;
    return `Failed to load model "${model.key}". Error: Model loading was stopped due to insufficient system ` +
      "resources. Continuing to load the model would likely overload your system and cause it to freeze. " +
      "If you believe this is a mistake, you can try to change the model loading guardrails in the settings.";
  }

  #loadConfig(model: SimModel, fields: Record<string, unknown>): Record<string, unknown> {
    const requested = typeof fields.context_length === "number" ? fields.context_length : undefined;
    const config: Record<string, unknown> = {
      context_length: this.options.loadContext?.(requested, model) ?? requested ?? 4096,
    };
    if (model.type === "llm" && model.format === "gguf") {
      config.eval_batch_size = fields.eval_batch_size ?? 512;
      if (this.options.listParallel !== false) config.parallel = 4;
      config.flash_attention = fields.flash_attention ?? true;
      config.offload_kv_cache_to_gpu = fields.offload_kv_cache_to_gpu ?? true;
      if (fields.num_experts !== undefined) config.num_experts = fields.num_experts;
    }
    return config;
  }

  /**
   * Loads a model on demand for a request (JIT), taking `loadDelayMs` in three steps.
   *
   * @param model The model
   * @param options The request's `ttl` and context, a progress callback, and cancellation
   * @returns The instance, or undefined when the client went away first
   */
  async jitLoad(
    model: SimModel,
    options: {
      ttl?: number | undefined;
      context?: number | undefined;
      onStart?: (id: string) => Promise<void>;
      onProgress?: (fraction: number) => Promise<void>;
      signal: AbortSignal;
    },
  ): Promise<SimInstance | undefined> {
    const load = this.beginLoad(model);
    let config: Record<string, unknown> | undefined;
    try {
      await options.onStart?.(load.id);
      for (const fraction of [0.25, 0.5, 0.75]) {
        await options.onProgress?.(fraction);
        if (this.options.loadDelayMs) await this.wait(this.options.loadDelayMs / 3, options.signal);
      }
      if (!options.signal.aborted) {
        config = this.loadConfig(
          model,
          options.context === undefined ? {} : { context_length: options.context },
        );
        this.jitLoads.push({ model: model.key, id: load.id, ttl: options.ttl });
      }
    } finally {
      load.done(config);
    }
    return config ? this.instance(load.id)?.instance : undefined;
  }

  /** Stops the server and waits for open requests to end. */
  async close(): Promise<void> {
    this.#closing.abort();
    await Promise.allSettled([...this.#pending]);
    await this.#server.shutdown();
  }

  /** For `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #handle(request: Request): Promise<Response> {
    const work = this.#route(request);
    this.#pending.add(work);
    try {
      return await work;
    } finally {
      this.#pending.delete(work);
    }
  }

  async #route(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const text = request.method === "POST" ? await request.text() : "";
    let body: unknown = undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      return nativeError(400, "invalid_request", "Request body is not valid JSON");
    }
    const record: RecordedRequest = {
      method: request.method,
      path: url.pathname,
      body,
      authorization: request.headers.get("authorization"),
      startedAt: performance.now(),
    };
    request.signal.addEventListener("abort", () => {
      record.abortedAt ??= performance.now();
    }, { once: true });
    this.requests.push(record);
    if (this.options.apiKey !== undefined) {
      const auth = record.authorization;
      if (!auth) {
        return json({
          error: {
            type: "invalid_request",
            code: "invalid_api_key",
            message: "An LM Studio API token is required to make requests to this server, but none " +
              "was provided using the Authorization header using the 'Bearer' scheme.",
          },
        }, 401);
      }
      if (auth !== `Bearer ${this.options.apiKey}`) {
        return json({
          error: {
            type: "invalid_request",
            code: "invalid_api_key",
            message: "Malformed LM Studio API token provided: the token is not valid.",
          },
        }, 401);
      }
    }
    const key = `${request.method} ${url.pathname}`;
    const faulted = await this.#applyFault(key, request, text);
    if (faulted) return faulted;
    const invalid = validateNative(key, body);
    if (invalid) return json(invalid, 400);
    for (const table of [...(this.options.routes ?? []), ROUTES]) {
      const handler = findRoute(table, key);
      if (handler) return await handler(request, body, this, record);
    }
    return json({ error: `Unexpected endpoint or method. (${key})` });
  }

  async #applyFault(key: string, request: Request, text: string): Promise<Response | undefined> {
    const entry = this.#faults.find((f) =>
      key.startsWith(f.route) && (f.fault.bodyIncludes === undefined || text.includes(f.fault.bodyIncludes))
    );
    if (!entry) return undefined;
    const fault = entry.fault;
    if (fault.times !== undefined && --fault.times <= 0) {
      this.#faults = this.#faults.filter((f) => f !== entry);
    }
    if (fault.hang) {
      await this.wait(30_000, request.signal);
      return json({ error: "hung request released" }, 503);
    }
    if (fault.delayMs) await this.wait(fault.delayMs, request.signal);
    if (fault.drop) return droppedResponse();
    if (fault.raw !== undefined) {
      return new Response(fault.raw, {
        status: fault.status ?? 200,
        headers: { "content-type": fault.contentType ?? "application/json", ...fault.headers },
      });
    }
    if (fault.status !== undefined) {
      const reply = json(fault.body ?? {}, fault.status);
      for (const [name, value] of Object.entries(fault.headers ?? {})) reply.headers.set(name, value);
      return reply;
    }
    return undefined;
  }

  /** Starts a download job. */
  startDownload(model: string, total: number): SimDownload {
    const job: SimDownload = {
      job_id: `job_${(++this.#jobCounter).toString(16).padStart(10, "0")}`,
      model,
      total,
      done: 0,
      status: "downloading",
      started_at: new Date().toISOString(),
    };
    this.downloads.set(job.job_id, job);
    return job;
  }
}

function findRoute(table: SimRoutes, key: string): SimRouteHandler | undefined {
  if (table[key]) return table[key];
  for (const [pattern, handler] of Object.entries(table)) {
    if (pattern.endsWith("*") && key.startsWith(pattern.slice(0, -1))) return handler;
  }
  return undefined;
}

/** Every route, in the order they are tried. */
const ROUTES: SimRoutes = {
  ...MODEL_ROUTES,
  ...LOAD_ROUTES,
  ...DOWNLOAD_ROUTES,
  "POST /api/v1/chat": nativeChat,
  "POST /v1/chat/completions": chatCompletions,
  "POST /v1/embeddings": embeddings,
};
