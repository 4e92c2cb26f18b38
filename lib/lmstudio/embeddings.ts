/**
 * Embeddings through LM Studio's OpenAI-compatible `POST /v1/embeddings` (https://lmstudio.ai/docs/developer/openai-compat/embeddings).
 *
 * @module
 */
import { z } from "zod";
import { ProtocolError } from "../errors.ts";
import { type LmStudioClient, parse } from "./client.ts";

const EmbeddingsSchema = z.object({
  model: z.string().nullish(),
  data: z.array(z.object({ embedding: z.array(z.number()), index: z.number().int().nullish() })),
  usage: z.object({ prompt_tokens: z.number().nullish(), total_tokens: z.number().nullish() }).partial()
    .nullish(),
});

/** The vectors of one call, in input order. */
export interface EmbeddingsResult {
  /** The model that answered. */
  readonly model: string;
  /** Length of every vector. */
  readonly dimension: number;
  /** One vector per input, in input order. */
  readonly vectors: number[][];
  /** Prompt tokens, when LM Studio counts them (it may say 0). */
  readonly promptTokens: number | null;
}

/**
 * Embeds each input.
 *
 * @param client LM Studio
 * @param model An embedding model key
 * @param inputs The texts, already validated
 * @param signal Cancellation
 * @returns The vectors, in input order
 * @throws {ProtocolError} When LM Studio returns the wrong number of vectors or mixed dimensions
 * @throws {LmStudioError} Any mapped HTTP failure
 */
export async function embed(
  client: LmStudioClient,
  model: string,
  inputs: readonly string[],
  signal?: AbortSignal,
): Promise<EmbeddingsResult> {
  const json = await client.postJson("/v1/embeddings", { model, input: inputs }, {
    what: `Embedding ${inputs.length} input${inputs.length === 1 ? "" : "s"} with ${model}`,
    model,
    signal,
    inference: false,
  });
  const reply = parse(EmbeddingsSchema, json, "POST /v1/embeddings");
  if (reply.data.length !== inputs.length) {
    throw new ProtocolError(
      `LM Studio returned ${reply.data.length} embeddings for ${inputs.length} inputs. Is ${model} an ` +
        `embedding model? Check its type with model_list`,
    );
  }
  const vectors = reply.data
    .map((item, position) => ({ index: item.index ?? position, embedding: item.embedding }))
    .sort((a, b) => a.index - b.index)
    .map((item) => item.embedding);
  const dimension = vectors[0]?.length ?? 0;
  if (dimension === 0 || vectors.some((v) => v.length !== dimension)) {
    throw new ProtocolError(`LM Studio returned empty or mixed-length vectors from ${model}`);
  }
  return {
    model: reply.model ?? model,
    dimension,
    vectors,
    promptTokens: reply.usage?.prompt_tokens ?? null,
  };
}
