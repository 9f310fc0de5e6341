/**
 * @module Coarse rate limits through the RATE_LIMITER binding (per location, eventually
 * consistent; emulated locally). Used where there is no device to count against: unauthenticated
 * endpoints keyed by client IP and by target. Exact per-device quotas live in the device's DO.
 */
import type { Env } from "../env";
import { ApiError } from "../errors";

/** The binding's window (wrangler.toml `period`), reported as Retry-After. */
const WINDOW_SECONDS = 60;

export async function enforceRateLimit(env: Env, key: string): Promise<void> {
  const { success } = await env.RATE_LIMITER.limit({ key });
  if (!success) throw new ApiError("rate_limited", "too many requests, slow down", { key: key.split(":")[0] }, WINDOW_SECONDS);
}

export function clientIp(request: Request): string {
  return request.headers.get("cf-connecting-ip") ?? "local";
}
