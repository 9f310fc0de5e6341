/**
 * Assertions on the error contract of src/errors.ts: every client-caused failure is
 * `{ error: { code, message, details? } }` with the status ERROR_STATUS gives its code.
 */
import { expect } from "vitest";
import { ERROR_STATUS, type ErrorCode } from "../../src/errors";
import type { JsonResponse } from "./identity";

/** Asserts the response is exactly this error (status from the code's own mapping) and returns it. */
export function expectError(res: JsonResponse, code: ErrorCode): { code: ErrorCode; message: string; details?: any } {
  expect({ status: res.status, code: res.body?.error?.code }, JSON.stringify(res.body)).toEqual({ status: ERROR_STATUS[code], code });
  expect(typeof res.body.error.message).toBe("string");
  expect(res.body.error.message.length).toBeGreaterThan(0);
  return res.body.error;
}
