/**
 * Zod schemas of LM Studio's replies (https://lmstudio.ai/docs/developer/rest). Lenient by design: unknown fields are
 * dropped, optional fields may be absent or null, so a newer LM Studio never breaks us.
 *
 * @module
 */
import { z } from "zod";

const nullableNumber = z.number().nullish();
const nullableString = z.string().nullish();

/** `loaded_instances[]` of `GET /api/v1/models`. */
export const LoadedInstanceSchema = z.object({
  id: z.string(),
  config: z.object({
    context_length: nullableNumber,
    eval_batch_size: nullableNumber,
    parallel: nullableNumber,
    flash_attention: z.boolean().nullish(),
    num_experts: nullableNumber,
    offload_kv_cache_to_gpu: z.boolean().nullish(),
  }).partial().nullish(),
});

/** One model of `GET /api/v1/models`. */
export const NativeModelSchema = z.object({
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
});

/** A model as LM Studio lists it. */
export type NativeModel = z.infer<typeof NativeModelSchema>;

/** `GET /api/v1/models`. */
export const ModelListSchema = z.object({ models: z.array(NativeModelSchema) });

/** `GET /v1/models` (OpenAI-compatible). */
export const OpenAiModelListSchema = z.object({
  data: z.array(z.object({ id: z.string() })),
});

/** `POST /api/v1/models/load`. Both the 0.4 flat shape and the pre-release nested one. */
export const LoadReplySchema = z.object({
  type: nullableString,
  instance_id: nullableString,
  model_instance_id: nullableString,
  load_time_seconds: nullableNumber,
  status: nullableString,
  load_config: z.record(z.string(), z.unknown()).nullish(),
  config: z.record(z.string(), z.unknown()).nullish(),
});

/** `POST /api/v1/models/unload`. */
export const UnloadReplySchema = z.object({ instance_id: nullableString });

/** Download job (`/api/v1/models/download` and its status endpoint). */
export const DownloadJobSchema = z.object({
  job_id: nullableString,
  status: z.string(),
  total_size_bytes: nullableNumber,
  downloaded_bytes: nullableNumber,
  bytes_per_second: nullableNumber,
  estimated_completion: nullableString,
  started_at: nullableString,
  completed_at: nullableString,
});

/** A download job's state. */
export type DownloadJob = z.infer<typeof DownloadJobSchema>;
