/**
 * @module The one interface every push provider implements, and the outcome vocabulary the queue
 * consumer acts on. Providers translate their protocol's answers into these outcomes; the consumer
 * alone decides what to do with them (ack, retry, delete the token).
 */
import type { PushTarget } from "../db/push-tokens";
import { QUEUE_MAX_DELAY_SECONDS } from "../limits";
import type { WakePayloadBody } from "../protocol/push";

export type PushResult =
  /** The provider accepted the notification. */
  | { outcome: "delivered" }
  /** The token is dead (app uninstalled, subscription expired): delete it, never retry. */
  | { outcome: "unregistered"; detail: string }
  /** Transient (throttled, provider down, our auth token expired): try again later. */
  | { outcome: "retry"; detail: string; retryAfterSeconds?: number }
  /** Refused for a reason retrying cannot fix (bad request, wrong credentials): log and drop. */
  | { outcome: "rejected"; detail: string };

export interface PushProvider<T extends PushTarget = PushTarget> {
  send(target: T, payload: WakePayloadBody): Promise<PushResult>;
}

/**
 * Parses Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP-date. Undefined when absent or
 * unreadable; clamped to what a queue retry can express.
 */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  let seconds: number;
  if (/^\d+$/.test(trimmed)) seconds = Number(trimmed);
  else {
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return undefined;
    seconds = Math.ceil((at - now) / 1000);
  }
  return Math.min(Math.max(seconds, 0), QUEUE_MAX_DELAY_SECONDS);
}

/**
 * The mapping shared by all three providers: 2xx delivered; 404/410 unregistered; 429 and 503
 * retry honouring Retry-After; other 5xx retry; anything else rejected. Providers refine it where
 * their protocol says more (APNs reasons, FCM error codes, expired auth tokens).
 */
export function classifyResponse(res: Response, detail: string, now: number): PushResult {
  if (res.status >= 200 && res.status < 300) return { outcome: "delivered" };
  if (res.status === 404 || res.status === 410) return { outcome: "unregistered", detail };
  if (res.status === 429 || res.status === 503) {
    const retryAfterSeconds = parseRetryAfter(res.headers.get("retry-after"), now);
    return retryAfterSeconds === undefined ? { outcome: "retry", detail } : { outcome: "retry", detail, retryAfterSeconds };
  }
  if (res.status >= 500) return { outcome: "retry", detail };
  return { outcome: "rejected", detail };
}

/** Reads at most a little of an error body for the log (providers answer errors in small JSON). */
export async function errorDetail(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  return `${res.status} ${text.slice(0, 300)}`.trim();
}
