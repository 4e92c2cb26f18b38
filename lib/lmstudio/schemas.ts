/**
 * Zod schemas of LM Studio's replies (https://lmstudio.ai/docs/developer/rest). Lenient by design: unknown fields are
 * dropped, optional fields may be absent or null, so a newer LM Studio never breaks us.
 *
 * @module
 */
import { z } from "zod";

/**
 * What the client needs of a schema: a `safeParse` that says what did not match. Zod schemas satisfy it;
 * the reply types below are written out so the public API does not expose zod's types.
 */
export interface Parser<T> {
  /** Checks `data`, returning the typed value or the issues. */
  safeParse(data: unknown):
    | { readonly success: true; readonly data: T }
    | {
      readonly success: false;
      readonly error: { readonly issues: readonly { message: string; path: readonly PropertyKey[] }[] };
    };
}

/**
 * A parser whose schema is built on first use: zod schemas cost time to construct, and a server that
 * starts in ~100 ms should not spend it on replies it has not received yet.
 *
 * @param build Builds the schema
 * @returns The parser
 */
export function lazyParser<T>(build: () => Parser<T>): Parser<T> {
  let built: Parser<T> | undefined;
  return { safeParse: (data) => (built ??= build()).safeParse(data) };
}

/** A field LM Studio may omit or send as null. */
export type Maybe<T> = T | null | undefined;

/** `loaded_instances[]` of `GET /api/v1/models`. */
export interface LoadedInstance {
  /** The instance id (the model key, or `key:2` for a second instance). */
  readonly id: string;
  /** The device serving it, when LM Studio says (LM Link): a name, or an object with one. */
  readonly device?: Maybe<string | { readonly name?: Maybe<string>; readonly identifier?: Maybe<string> }>;
  /** The load configuration LM Studio reports. */
  readonly config?: Maybe<{
    readonly context_length?: Maybe<number>;
    readonly eval_batch_size?: Maybe<number>;
    readonly parallel?: Maybe<number>;
    readonly flash_attention?: Maybe<boolean>;
    readonly num_experts?: Maybe<number>;
    readonly offload_kv_cache_to_gpu?: Maybe<boolean>;
  }>;
}

/** A model as LM Studio lists it (`GET /api/v1/models`). */
export interface NativeModel {
  /** `llm` or `embedding`. */
  readonly type: string;
  /** Publisher, e.g. `qwen`. */
  readonly publisher?: Maybe<string>;
  /** The model key to pass to every tool. */
  readonly key: string;
  /** Human name. */
  readonly display_name?: Maybe<string>;
  /** Architecture, e.g. `qwen3`. */
  readonly architecture?: Maybe<string>;
  /** Quantization name and bits per weight. */
  readonly quantization?: Maybe<{ readonly name?: Maybe<string>; readonly bits_per_weight?: Maybe<number> }>;
  /** Size on disk. */
  readonly size_bytes?: Maybe<number>;
  /** Parameter count as text, e.g. `8B`. */
  readonly params_string?: Maybe<string>;
  /** Loaded instances; empty when not loaded. */
  readonly loaded_instances?: Maybe<readonly LoadedInstance[]>;
  /** The largest context the model supports. */
  readonly max_context_length?: Maybe<number>;
  /** `gguf` or `mlx`. */
  readonly format?: Maybe<string>;
  /** What the model can do. */
  readonly capabilities?: Maybe<{
    readonly vision?: Maybe<boolean>;
    readonly trained_for_tool_use?: Maybe<boolean>;
    readonly reasoning?: Maybe<
      { readonly allowed_options?: Maybe<readonly string[]>; readonly default?: Maybe<string> }
    >;
  }>;
  /** Description. */
  readonly description?: Maybe<string>;
  /** Variant keys. */
  readonly variants?: Maybe<readonly string[]>;
  /** The selected variant. */
  readonly selected_variant?: Maybe<string>;
  /** The device that has the model, when LM Studio says (LM Link). */
  readonly device?: Maybe<string | { readonly name?: Maybe<string>; readonly identifier?: Maybe<string> }>;
}

/** `POST /api/v1/models/load`'s reply: the 0.4 flat shape or the pre-release nested one. */
export interface LoadReply {
  /** Reply type. */
  readonly type?: Maybe<string>;
  /** The new instance (0.4). */
  readonly instance_id?: Maybe<string>;
  /** The new instance (pre-release). */
  readonly model_instance_id?: Maybe<string>;
  /** Seconds the load took. */
  readonly load_time_seconds?: Maybe<number>;
  /** Status, e.g. `loaded`. */
  readonly status?: Maybe<string>;
  /** The applied load configuration (0.4). */
  readonly load_config?: Maybe<Record<string, unknown>>;
  /** The applied load configuration (pre-release). */
  readonly config?: Maybe<Record<string, unknown>>;
}

/** A download job's state (`/api/v1/models/download` and its status endpoint). */
export interface DownloadJob {
  /** The job id; absent when the model was already downloaded. */
  readonly job_id?: Maybe<string>;
  /** `downloading`, `paused`, `completed`, `failed` or `already_downloaded`. */
  readonly status: string;
  /** Total bytes. */
  readonly total_size_bytes?: Maybe<number>;
  /** Bytes so far. */
  readonly downloaded_bytes?: Maybe<number>;
  /** Current speed. */
  readonly bytes_per_second?: Maybe<number>;
  /** ISO time of the expected completion. */
  readonly estimated_completion?: Maybe<string>;
  /** ISO start time. */
  readonly started_at?: Maybe<string>;
  /** ISO completion time. */
  readonly completed_at?: Maybe<string>;
}

/** The schema pieces several replies share, built once on first use. */
let parts: ReturnType<typeof buildParts> | undefined;
function buildParts() {
  const nullableNumber = z.number().nullish();
  const nullableString = z.string().nullish();

  const DeviceSchema = z.union([
    z.string(),
    z.object({ name: nullableString, identifier: nullableString }).partial(),
  ]).nullish().catch(undefined);

  const LoadedInstanceSchema = z.object({
    id: z.string(),
    device: DeviceSchema,
    config: z.object({
      context_length: nullableNumber,
      eval_batch_size: nullableNumber,
      parallel: nullableNumber,
      flash_attention: z.boolean().nullish(),
      num_experts: nullableNumber,
      offload_kv_cache_to_gpu: z.boolean().nullish(),
    }).partial().nullish(),
  });

  const NativeModelSchema = z.object({
    type: z.string(),
    publisher: nullableString,
    key: z.string(),
    display_name: nullableString,
    architecture: nullableString,
    quantization: z.object({ name: nullableString, bits_per_weight: nullableNumber }).nullish(),
    size_bytes: nullableNumber,
    params_string: nullableString,
    loaded_instances: z.array(LoadedInstanceSchema).nullish(),
    max_context_length: nullableNumber,
    format: nullableString,
    capabilities: z.object({
      vision: z.boolean().nullish(),
      trained_for_tool_use: z.boolean().nullish(),
      reasoning: z.object({
        allowed_options: z.array(z.string()).nullish(),
        default: nullableString,
      }).nullish(),
    }).nullish(),
    description: nullableString,
    variants: z.array(z.string()).nullish(),
    selected_variant: nullableString,
    device: DeviceSchema,
  });
  return { nullableNumber, nullableString, NativeModelSchema };
}
const shared = () => parts ??= buildParts();

/** `GET /api/v1/models`. */
export const ModelListSchema: Parser<{ readonly models: readonly NativeModel[] }> = lazyParser(() => {
  const S = shared();
  return z.object({
    models: z.array(S.NativeModelSchema),
  });
});

/** `GET /v1/models` (OpenAI-compatible). */
export const OpenAiModelListSchema: Parser<{ readonly data: readonly { readonly id: string }[] }> =
  lazyParser(() => z.object({ data: z.array(z.object({ id: z.string() })) }));

/** `POST /api/v1/models/load`. Both the 0.4 flat shape and the pre-release nested one. */
export const LoadReplySchema: Parser<LoadReply> = lazyParser(() => {
  const S = shared();
  return z.object({
    type: S.nullableString,
    instance_id: S.nullableString,
    model_instance_id: S.nullableString,
    load_time_seconds: S.nullableNumber,
    status: S.nullableString,
    load_config: z.record(z.string(), z.unknown()).nullish(),
    config: z.record(z.string(), z.unknown()).nullish(),
  });
});

/** `POST /api/v1/models/unload`. */
export const UnloadReplySchema: Parser<{ readonly instance_id?: Maybe<string> }> = lazyParser(() => {
  const S = shared();
  return z.object({
    instance_id: S.nullableString,
  });
});

/** Download job (`/api/v1/models/download` and its status endpoint). */
export const DownloadJobSchema: Parser<DownloadJob> = lazyParser(() => {
  const S = shared();
  return z.object({
    job_id: S.nullableString,
    status: z.string(),
    total_size_bytes: S.nullableNumber,
    downloaded_bytes: S.nullableNumber,
    bytes_per_second: S.nullableNumber,
    estimated_completion: S.nullableString,
    started_at: S.nullableString,
    completed_at: S.nullableString,
  });
});
