/**
 * LM Studio's HTTP API as typed methods: native `/api/v1/*` for the model lifecycle and `ask`,
 * OpenAI-compatible `/v1/*` for `chat` and `embed`. Knows nothing of MCP.
 *
 * Over 350 lines on purpose: LM Studio's model-management API, one method per endpoint, over one HTTP client.
 *
 * @module
 */
import type { Timeouts } from "../config/config.ts";
import { InputError, LmStudioError, ProtocolError } from "../errors.ts";
import { type EventSourceMessage, HttpClient, type RequestOptions } from "./http.ts";
import { LoadGate } from "./load_gate.ts";
import {
  type DownloadJob,
  DownloadJobSchema,
  LoadReplySchema,
  ModelListSchema,
  type NativeModel,
  OpenAiModelListSchema,
  type Parser,
  UnloadReplySchema,
} from "./schemas.ts";

/** Options of {@linkcode LmStudioClient}. */
export interface LmStudioClientOptions {
  /** Normalised base URL. */
  readonly baseUrl: string;
  /** Bearer token, if any. */
  readonly apiKey?: string | undefined;
  /** Timeouts from the config. */
  readonly timeouts: Timeouts;
  /** The fetch to use. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

/** Per-call options shared by every method. */
export interface CallOptions {
  /** Cancels the request (an MCP `notifications/cancelled`). */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Parameters of {@linkcode LmStudioClient.loadModel}: exactly the fields `POST /api/v1/models/load`
 * documents (LM Studio rejects any other key with HTTP 400, so there is no GPU ratio and no TTL here).
 */
export interface LoadParams {
  /** Model key. */
  readonly model: string;
  /** Context length in tokens. */
  readonly context_length?: number | undefined;
  /** Prompt-processing batch size (llama.cpp only). */
  readonly eval_batch_size?: number | undefined;
  /** Flash attention (llama.cpp only). */
  readonly flash_attention?: boolean | undefined;
  /** Experts to use, for mixture-of-experts models (llama.cpp only). */
  readonly num_experts?: number | undefined;
  /** Keep the KV cache in GPU memory; false keeps it in RAM (llama.cpp only). */
  readonly offload_kv_cache_to_gpu?: boolean | undefined;
}

/** The optional load fields LM Studio documents, in the order they are sent. */
export const LOAD_OPTIONS = [
  "context_length",
  "eval_batch_size",
  "flash_attention",
  "num_experts",
  "offload_kv_cache_to_gpu",
] as const;

/** The outcome of a load. */
export interface LoadResult {
  /** The instance id to use for unload. */
  readonly instanceId: string;
  /** `llm` or `embedding`, when LM Studio says. */
  readonly type: string | undefined;
  /** Seconds LM Studio reports, or undefined when it does not say. */
  readonly loadTimeSeconds: number | undefined;
  /** The resulting load config, as LM Studio echoes it. */
  readonly config: Readonly<Record<string, unknown>>;
}

const CATALOG_TTL_MS = 2000;

/** Typed access to one LM Studio server. */
export class LmStudioClient {
  /** The HTTP layer under every endpoint of this client. */
  readonly http: HttpClient;
  /** The configured timeouts. */
  readonly timeouts: Timeouts;
  /** One load in flight per model, for every tool and session of this server. */
  readonly loads: LoadGate = new LoadGate();
  readonly #hasKey: boolean;
  #catalog: { at: number; models: readonly NativeModel[] } | undefined;

  /**
   * Creates the instance.
   *
   * @param options Where LM Studio is and how long to wait
   */
  constructor(options: LmStudioClientOptions) {
    this.http = new HttpClient({
      baseUrl: options.baseUrl,
      apiKey: options.apiKey,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    this.timeouts = options.timeouts;
    this.#hasKey = options.apiKey !== undefined;
  }

  /** Whether an API key is configured. */
  get hasApiKey(): boolean {
    return this.#hasKey;
  }

  /**
   * Every downloaded model, loaded or not (`GET /api/v1/models`).
   *
   * @param options Cancellation
   * @returns The models
   * @throws {LmStudioError} Any mapped HTTP failure
   */
  async listModels(options: CallOptions = {}): Promise<readonly NativeModel[]> {
    const json = await this.http.json("/api/v1/models", this.#short("Listing models", options));
    return parse(ModelListSchema, json, "GET /api/v1/models").models;
  }

  /**
   * The catalogue for checks made before a call (type, vision, reasoning options): these never change
   * for a key, so a copy younger than two seconds serves, and a load or unload drops it. What is
   * loaded right now comes from {@linkcode LmStudioClient.listModels}.
   *
   * @param options Cancellation
   * @returns The models
   * @throws {LmStudioError} Any mapped HTTP failure
   */
  async catalog(options: CallOptions = {}): Promise<readonly NativeModel[]> {
    const cached = this.#catalog;
    if (cached && performance.now() - cached.at < CATALOG_TTL_MS) return cached.models;
    const models = await this.listModels(options);
    this.#catalog = { at: performance.now(), models };
    return models;
  }

  /**
   * Model ids of the OpenAI-compatible API (`GET /v1/models`); used by the doctor.
   *
   * @param options Cancellation
   * @returns The ids
   * @throws {LmStudioError} Any mapped HTTP failure
   */
  async listOpenAiModels(options: CallOptions = {}): Promise<string[]> {
    const json = await this.http.json("/v1/models", this.#short("Listing models (/v1)", options));
    return parse(OpenAiModelListSchema, json, "GET /v1/models").data.map((m) => m.id);
  }

  /**
   * Loads a model and waits until it is ready (`POST /api/v1/models/load`).
   *
   * @param params Model and load options
   * @param options Cancellation
   * @returns The instance id, load time and config
   * @throws {LmStudioError} Any mapped HTTP failure; TimeoutError names LM_STUDIO_TIMEOUT_LOAD_MS
   */
  async loadModel(params: LoadParams, options: CallOptions = {}): Promise<LoadResult> {
    const body: Record<string, unknown> = { model: params.model, echo_load_config: true };
    for (const key of LOAD_OPTIONS) {
      if (params[key] !== undefined) body[key] = params[key];
    }
    this.#catalog = undefined;
    const json = await this.http.json("/api/v1/models/load", {
      method: "POST",
      body,
      what: `Loading ${params.model}`,
      timeoutMs: this.timeouts.loadMs,
      timeoutVariable: "LM_STUDIO_TIMEOUT_LOAD_MS",
      signal: options.signal,
      model: params.model,
    });
    const reply = parse(LoadReplySchema, json, "POST /api/v1/models/load");
    return {
      instanceId: reply.instance_id ?? reply.model_instance_id ?? params.model,
      type: reply.type ?? undefined,
      loadTimeSeconds: reply.load_time_seconds ?? undefined,
      config: reply.load_config ?? reply.config ?? {},
    };
  }

  /**
   * Unloads one instance (`POST /api/v1/models/unload`).
   *
   * @param instanceId The instance id (see `loaded_instances[].id`)
   * @param options Cancellation
   * @returns The id LM Studio unloaded
   * @throws {LmStudioError} Any mapped HTTP failure
   */
  async unloadModel(instanceId: string, options: CallOptions = {}): Promise<string> {
    this.#catalog = undefined;
    const json = await this.http.json("/api/v1/models/unload", {
      ...this.#short(`Unloading ${instanceId}`, options),
      method: "POST",
      body: { instance_id: instanceId },
      model: instanceId,
    });
    return parse(UnloadReplySchema, json, "POST /api/v1/models/unload").instance_id ?? instanceId;
  }

  /**
   * Starts a download (`POST /api/v1/models/download`).
   *
   * @param model Catalog id or Hugging Face URL
   * @param quantization Quantization, for Hugging Face links
   * @param options Cancellation
   * @returns The job (no `job_id` when already downloaded)
   * @throws {LmStudioError} Any mapped HTTP failure
   */
  async startDownload(
    model: string,
    quantization: string | undefined,
    options: CallOptions = {},
  ): Promise<DownloadJob> {
    const json = await this.http.json("/api/v1/models/download", {
      ...this.#short(`Starting the download of ${model}`, options),
      method: "POST",
      body: quantization === undefined ? { model } : { model, quantization },
      model,
      notFound: (body) =>
        new LmStudioError(
          `LM Studio cannot find "${model}" to download (${body.message}). Check the id on ` +
            `lmstudio.ai/models, or pass a full Hugging Face URL`,
        ),
    });
    return parse(DownloadJobSchema, json, "POST /api/v1/models/download");
  }

  /**
   * The state of a download job (`GET /api/v1/models/download/status/:job_id`).
   *
   * @param jobId The job id from {@linkcode LmStudioClient.startDownload}
   * @param options Cancellation
   * @returns The job
   * @throws {LmStudioError} Unknown job, or any mapped HTTP failure
   */
  async downloadStatus(jobId: string, options: CallOptions = {}): Promise<DownloadJob> {
    if (!jobId.isWellFormed()) {
      throw new InputError("job_id holds an unpaired surrogate; pass the job_id model_download returned");
    }
    const json = await this.http.json(
      `/api/v1/models/download/status/${encodeURIComponent(jobId)}`,
      {
        ...this.#short(`Checking download ${jobId}`, options),
        notFound: () =>
          new LmStudioError(
            `Download job "${jobId}" is unknown to LM Studio (it may have restarted). ` +
              `Start the download again with model_download and the model name`,
          ),
      },
    );
    return parse(DownloadJobSchema, json, "GET /api/v1/models/download/status");
  }

  /**
   * Streams a request's Server-Sent Events with the inference timeouts.
   *
   * @param path API path
   * @param body JSON body
   * @param context What it does, the model and cancellation; with `queueMs`, how long LM Studio may keep
   *   it queued before the inference deadline starts (at the first event `startsWork` accepts)
   * @returns The raw events
   */
  streamEvents(
    path: string,
    body: unknown,
    context: {
      what: string;
      model: string;
      signal?: AbortSignal | undefined;
      queueMs?: number | undefined;
      startsWork?: ((event: EventSourceMessage) => boolean) | undefined;
    },
  ): AsyncGenerator<EventSourceMessage> {
    return this.http.sse(path, {
      method: "POST",
      body,
      what: context.what,
      model: context.model,
      signal: context.signal,
      queueMs: context.queueMs,
      startsWork: context.startsWork,
      timeoutMs: this.timeouts.inferenceMs,
      timeoutVariable: "LM_STUDIO_TIMEOUT_INFERENCE_MS",
      idleMs: this.timeouts.sseIdleMs,
      idleVariable: "LM_STUDIO_SSE_IDLE_TIMEOUT_MS",
    });
  }

  /**
   * Posts a JSON body with the inference (or default) timeout and returns the reply.
   *
   * @param path API path
   * @param body JSON body
   * @param context What it does, the model, cancellation, which timeout applies, and how long LM Studio
   *   may keep it queued before that timeout starts
   * @returns The parsed reply
   */
  postJson(
    path: string,
    body: unknown,
    context: {
      what: string;
      model: string;
      signal?: AbortSignal | undefined;
      inference: boolean;
      queueMs?: number | undefined;
    },
  ): Promise<unknown> {
    return this.http.json(path, {
      method: "POST",
      body,
      what: context.what,
      model: context.model,
      signal: context.signal,
      queueMs: context.queueMs,
      timeoutMs: context.inference ? this.timeouts.inferenceMs : this.timeouts.defaultMs,
      timeoutVariable: context.inference ? "LM_STUDIO_TIMEOUT_INFERENCE_MS" : "LM_STUDIO_TIMEOUT_DEFAULT_MS",
    });
  }

  #short(what: string, options: CallOptions): RequestOptions {
    return {
      what,
      timeoutMs: this.timeouts.defaultMs,
      timeoutVariable: "LM_STUDIO_TIMEOUT_DEFAULT_MS",
      signal: options.signal,
    };
  }
}

/**
 * Validates an LM Studio reply against its schema.
 *
 * @param schema The zod schema
 * @param json The parsed reply
 * @param endpoint The endpoint, for the message
 * @returns The typed reply
 * @throws {ProtocolError} When the reply does not match
 */
export function parse<T>(schema: Parser<T>, json: unknown, endpoint: string): T {
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue?.path.length ? ` at ${issue.path.join(".")}` : "";
  throw new ProtocolError(
    `LM Studio's reply to ${endpoint} is not in the expected shape (${
      issue?.message ?? "invalid"
    }${where}). ` +
      `This needs LM Studio 0.4.0 or newer: update LM Studio`,
  );
}
