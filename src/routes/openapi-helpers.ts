/**
 * @module Small helpers so each route's OpenAPI description stays one readable block:
 * JSON request bodies (required, so a missing or non-JSON body is a 400 rather than `{}`),
 * JSON responses, and the error responses every route can produce.
 */
import type { z } from "zod";
import { requireDevice } from "../middleware/auth";
import { ErrorBodySchema } from "../protocol/common";

export function jsonBody<T extends z.ZodType>(schema: T, description?: string) {
  return { required: true, description, content: { "application/json": { schema } } } as const;
}

export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } } as const;
}

const errorResponse = (description: string) => ({ description, content: { "application/json": { schema: ErrorBodySchema } } });

/** Error responses shared by all routes; routes add the specific ones they produce. */
export const commonErrors = {
  400: errorResponse("Invalid request: malformed JSON, unknown or wrong-typed fields, bad base64 or key lengths"),
  413: errorResponse("Body larger than the limit"),
  429: errorResponse("Rate limited; see Retry-After"),
} as const;

export const authErrors = {
  ...commonErrors,
  401: errorResponse("Missing, forged or expired bearer token"),
} as const;

export { errorResponse };

export const bearerSecurity = [{ bearerAuth: [] as string[] }];

/** Media upload and download routes: authorized by a capability in the `cap` query parameter. */
export const capabilitySecurity = [{ mediaCapability: [] as string[] }];

/** The common part of a route only an authenticated device may call (bearer token, requireDevice). */
export function deviceRoute(tag: string) {
  return { security: bearerSecurity, middleware: [requireDevice], tags: [tag] };
}
