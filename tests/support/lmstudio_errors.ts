/**
 * Error bodies that real LM Studio servers answer malformed requests with (sources in
 * `tests/fixtures/lmstudio/README.md`): the simulator must reproduce them exactly (`simulator_test.ts`),
 * and our tools must show them to the user (`contract_test.ts`).
 *
 * @module
 */

const GEMMA_1B = "google/gemma-3-1b";

/** Malformed requests and the exact bodies real LM Studio servers answer them with. */
export const REJECTED: readonly { path: string; body: unknown; error: Record<string, unknown> }[] = [
  {
    path: "/api/v1/models/load",
    body: { model: GEMMA_1B, ttl: 600 },
    error: {
      message: "Unrecognized key(s) in object: 'ttl'",
      type: "invalid_request",
      code: "unrecognized_keys",
    },
  },
  {
    path: "/api/v1/models/load",
    body: { model: GEMMA_1B, gpu: "max", ttl: 60 },
    error: {
      message: "Unrecognized key(s) in object: 'gpu', 'ttl'",
      type: "invalid_request",
      code: "unrecognized_keys",
    },
  },
  {
    path: "/api/v1/models/unload",
    body: { instance_id: GEMMA_1B, force: true },
    error: {
      message: "Unrecognized key(s) in object: 'force'",
      type: "invalid_request",
      code: "unrecognized_keys",
    },
  },
  {
    path: "/api/v1/models/download",
    body: { model: GEMMA_1B, wait: true },
    error: {
      message: "Unrecognized key(s) in object: 'wait'",
      type: "invalid_request",
      code: "unrecognized_keys",
    },
  },
  {
    path: "/api/v1/chat",
    body: { model: GEMMA_1B, input: "hi", stop: ["\n"] },
    error: {
      message: "Unrecognized key(s) in object: 'stop'",
      type: "invalid_request",
      code: "unrecognized_keys",
    },
  },
  {
    path: "/api/v1/chat",
    body: { model: GEMMA_1B, input: [{ type: "message", content: "hi" }] },
    error: {
      message: "Invalid discriminator value. Expected 'text' | 'image'",
      type: "invalid_request",
      code: "invalid_union",
      param: "input",
    },
  },
  {
    path: "/api/v1/chat",
    body: { model: GEMMA_1B, input: [{ type: "text", text: "hi" }] },
    error: {
      message: "'input.0.content' is required, Unrecognized key(s) in object: 'text'",
      type: "invalid_request",
      code: "invalid_union",
      param: "input",
    },
  },
  {
    path: "/api/v1/chat",
    body: { model: GEMMA_1B, input: [{ type: "text", content: "hi" }, { type: "image", url: "x" }] },
    error: {
      message: "'input.1.data_url' is required, Unrecognized key(s) in object: 'url'",
      type: "invalid_request",
      code: "invalid_union",
      param: "input",
    },
  },
  {
    path: "/api/v1/chat",
    body: { model: GEMMA_1B, input: "hi", max_output_tokens: "12" },
    error: {
      message: "Expected integer, received string",
      type: "invalid_request",
      code: "invalid_type",
      param: "max_output_tokens",
    },
  },
  {
    path: "/api/v1/chat",
    body: { model: "qwen/qwen3-4b-2507", input: "hi", reasoning: "off" },
    error: {
      message:
        "Reasoning setting 'off' is not supported by model 'qwen/qwen3-4b-2507'. Supported settings: none",
      type: "invalid_request",
      code: "invalid_value",
      param: "reasoning",
    },
  },
];
