/**
 * @module A request body that must be exactly N bytes, as R2 needs it: R2 accepts a stream only
 * when its length is known (a request body with Content-Length, or the readable half of a
 * FixedLengthStream), and a declared size must be the real size. The guard counts what passes,
 * fails the stream as soon as it overruns or ends short, and so R2 stores nothing (a single put is
 * atomic; a failed part is simply not recorded).
 */
import { ApiError } from "../errors";
import { describeError, logEvent } from "../log";

export interface ExactBody {
  stream: ReadableStream<Uint8Array>;
  /** Bytes seen so far (after a failure: how far the body got). */
  seen(): number;
}

/** Refuses a Content-Length that disagrees with the declaration before reading a byte. */
export function checkDeclaredLength(request: Request, expected: number, what: string): void {
  const header = request.headers.get("content-length");
  if (header !== null && Number(header) !== expected) {
    throw new ApiError("invalid_request", `${what} must be exactly ${expected} bytes (Content-Length says ${header})`, { expected, got: Number(header) });
  }
  if (!request.body) throw new ApiError("invalid_request", `${what} is missing (expected ${expected} bytes)`, { expected, got: 0 });
}

export function exactBody(body: ReadableStream<Uint8Array>, expected: number): ExactBody {
  let seen = 0;
  const guard = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > expected) controller.error(new Error(`body longer than ${expected} bytes`));
      else controller.enqueue(chunk);
    },
    flush(controller) {
      if (seen !== expected) controller.error(new Error(`body ended after ${seen} of ${expected} bytes`));
    },
  });
  return { stream: body.pipeThrough(guard).pipeThrough(new FixedLengthStream(expected)), seen: () => seen };
}

/** Turns a failed store into a clear 400 when the body was the problem; anything else is R2's. */
export function lengthError(body: ExactBody, expected: number, what: string, cause: unknown): ApiError {
  if (body.seen() !== expected) {
    return new ApiError("invalid_request", `${what} must be exactly ${expected} bytes; got ${body.seen() > expected ? "more" : body.seen()}`, {
      expected,
    });
  }
  logEvent("error", "media_write_failed", { cause: describeError(cause) });
  return new ApiError("upstream_failed", "storage write failed; retry");
}
