import assert from "node:assert/strict";
import {
  AuthError,
  ContextOverflowError,
  HttpStatusError,
  LmStudioError,
  ModelNotFoundError,
} from "../../lib/errors.ts";
import { errorFromReply, readErrorBody } from "../../lib/lmstudio/http_errors.ts";

const ctx = { hadKey: false };

Deno.test("errorFromReply() maps 401 to AuthError that says how to set the key", () => {
  const error = errorFromReply(
    401,
    JSON.stringify({
      error: {
        type: "invalid_request",
        code: "invalid_api_key",
        message: "An LM Studio API token is required",
      },
    }),
    ctx,
  );
  assert.ok(error instanceof AuthError);
  assert.match(error.message, /LM_STUDIO_API_KEY/);
  assert.match(error.message, /Manage Tokens/);
});

Deno.test("errorFromReply() maps a rejected key to AuthError that says to replace it", () => {
  const error = errorFromReply(403, '{"error":{"message":"Malformed LM Studio API token provided"}}', {
    hadKey: true,
  });
  assert.ok(error instanceof AuthError);
  assert.match(error.message, /rejected the API token/);
});

Deno.test("errorFromReply() treats invalid_api_key as auth whatever the status", () => {
  const error = errorFromReply(400, '{"error":{"code":"invalid_api_key","message":"no"}}', ctx);
  assert.ok(error instanceof AuthError);
});

Deno.test("errorFromReply() names the model on model_not_found and suggests model_list", () => {
  const error = errorFromReply(
    404,
    '{"error":{"type":"model_not_found","message":"Model \\"x/y\\" not found"}}',
    { hadKey: false, model: "x/y" },
  );
  assert.ok(error instanceof ModelNotFoundError);
  assert.match(error.message, /"x\/y"/);
  assert.match(error.message, /model_list/);
});

Deno.test("errorFromReply() reads the OpenAI envelope's model_not_found", () => {
  const error = errorFromReply(
    404,
    JSON.stringify({
      error: {
        message: 'Model "m" not found. Please specify a valid model.',
        type: "invalid_request_error",
        code: "model_not_found",
      },
    }),
    { hadKey: false, model: "m" },
  );
  assert.ok(error instanceof ModelNotFoundError);
});

Deno.test("errorFromReply() maps 'No models loaded' to a load hint", () => {
  const error = errorFromReply(
    404,
    JSON.stringify({
      error: {
        message: "No models loaded. Please load a model in the developer page or use the 'lms load' command.",
      },
    }),
    { hadKey: false, model: "m" },
  );
  assert.ok(error instanceof ModelNotFoundError);
  assert.match(error.message, /model_load/);
});

Deno.test("errorFromReply() maps context overflow to ContextOverflowError with the fix", () => {
  const error = errorFromReply(
    400,
    JSON.stringify({
      error: {
        message:
          "The number of tokens to keep from the initial prompt is greater than the context length. Try to load the model with a larger context length, or provide a shorter input",
      },
    }),
    ctx,
  );
  assert.ok(error instanceof ContextOverflowError);
  assert.match(error.message, /context_length/);
});

Deno.test("errorFromReply() keeps LM Studio's own message for other errors", () => {
  const error = errorFromReply(
    500,
    '{"error":{"type":"internal_error","message":"CUDA out of memory"}}',
    ctx,
  );
  assert.ok(error instanceof HttpStatusError);
  assert.equal(error.status, 500);
  assert.equal(error.type, "internal_error");
  assert.match(error.message, /HTTP 500: CUDA out of memory/);
});

Deno.test("errorFromReply() handles plain-string, non-JSON and empty bodies", () => {
  assert.match(errorFromReply(500, '{"error":"boom"}', ctx).message, /HTTP 500: boom/);
  assert.match(errorFromReply(502, "<html>Bad gateway</html>", ctx).message, /HTTP 502: <html>Bad gateway/);
  assert.match(errorFromReply(503, "", ctx).message, /HTTP 503: empty reply/);
});

Deno.test("errorFromReply() uses the caller's not-found error for jobs", () => {
  const error = errorFromReply(404, '{"error":{"type":"job_not_found","message":"nope"}}', {
    hadKey: false,
    notFound: () => new LmStudioError("Job gone"),
  });
  assert.equal(error.message, "Job gone");
});

Deno.test("readErrorBody() returns undefined for bodies without an error", () => {
  assert.equal(readErrorBody('{"models":[]}'), undefined);
  assert.equal(readErrorBody("[1,2]"), undefined);
  assert.equal(readErrorBody("nope"), undefined);
});
