/**
 * @module The one error type of the server and its mapping to HTTP. Every failure a client can
 * cause becomes `{ error: { code, message, details? } }` with the status below; anything else is a
 * bug and becomes a logged 500 `internal` without internals in the body.
 */
import type { Context } from "hono";
import type { AppEnv } from "./app-env";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { describeError, logEvent } from "./log";

export const ERROR_STATUS = {
  invalid_request: 400,
  malformed_json: 400,
  unauthorized: 401,
  token_expired: 401,
  verification_failed: 403,
  forbidden: 403,
  account_suspended: 403,
  invalid_device_list: 403,
  not_found: 404,
  method_not_allowed: 405,
  handle_taken: 409,
  verification_used: 409,
  conflict: 409,
  device_mismatch: 409,
  stale_device_list: 409,
  device_limit_reached: 409,
  verification_expired: 410,
  device_removed: 410,
  stale_devices: 410,
  upgrade_required: 426,
  payload_too_large: 413,
  range_not_satisfiable: 416,
  unsupported_media_type: 415,
  rate_limited: 429,
  too_many_attempts: 429,
  quota_exceeded: 429,
  internal: 500,
  config_invalid: 500,
  upstream_failed: 502,
  delivery_pending: 503,
  unavailable: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = "ApiError";
  }

  get status(): ContentfulStatusCode {
    return ERROR_STATUS[this.code];
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

export function errorBody(err: ApiError): ErrorBody {
  return {
    error: { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) },
  };
}

/** Converts Hono's own exceptions (body limit, validator JSON parsing) into ApiErrors. */
function fromHttpException(err: HTTPException): ApiError {
  if (err.status === 413) return new ApiError("payload_too_large", "request body is too large");
  // @hono/zod-openapi's media-type gate: a body sent without Content-Type, or with a non-JSON one.
  if (err.status === 415) return new ApiError("unsupported_media_type", "request bodies must be application/json");
  if (err.status === 400 && /json/i.test(err.message)) return new ApiError("malformed_json", "request body is not valid JSON");
  if (err.status === 401) return new ApiError("unauthorized", err.message || "unauthorized");
  return new ApiError("invalid_request", err.message || "invalid request");
}

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof HTTPException) return fromHttpException(err);
  // A Durable Object reset (deploy, restart) or overload: the request is safe to retry later.
  const flags = err as { retryable?: unknown; overloaded?: unknown } | null;
  if (flags?.retryable === true || flags?.overloaded === true) {
    return new ApiError("unavailable", "temporarily unavailable, retry the request", undefined, 1);
  }
  return new ApiError("internal", "internal error");
}

export function errorResponse(c: Context<AppEnv>, err: unknown): Response {
  const apiError = toApiError(err);
  if (apiError.status >= 500) {
    logEvent("error", "request_failed", { request_id: c.get("requestId"), code: apiError.code, message: apiError.message, cause: describeError(err) });
  }
  if (apiError.retryAfterSeconds !== undefined) c.header("Retry-After", String(apiError.retryAfterSeconds));
  return c.json(errorBody(apiError), apiError.status);
}
