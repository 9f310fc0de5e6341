/**
 * @module Coarse rate limits through the RATE_LIMITER binding (per location, eventually
 * consistent; emulated locally with the same limit and fixed window). Used where there is no
 * device to count against: unauthenticated endpoints, keyed by the client's IP. Exact per-device
 * quotas live in the device's DO (src/abuse/device-quotas.ts).
 *
 * IPs never leave this module in clear: the key is an HMAC of the IP under a key derived from
 * AUTH_TOKEN_SECRET and the UTC day, so it rotates daily and a key seen anywhere (limiter state,
 * a log line) cannot be turned back into an address or linked across days.
 */
import { loadConfig } from "../config";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { toBase64Url, utf8 } from "../protocol/encoding";

/** The binding's window (wrangler.toml `period`), reported as Retry-After. */
const WINDOW_SECONDS = 60;
const DAY_MS = 86_400_000;

/** What an unauthenticated request is counted for (the key's prefix). */
export type IpLimitScope = "verify" | "register" | "auth" | "link" | "provision";

export async function enforceIpRateLimit(env: Env, request: Request, scope: IpLimitScope): Promise<void> {
  const key = `${scope}-ip:${await hashedClientIp(env, request, Date.now())}`;
  const { success } = await env.RATE_LIMITER.limit({ key });
  if (!success) throw new ApiError("rate_limited", "too many requests, slow down", { reason: `${scope}_per_ip` }, WINDOW_SECONDS);
}

const dayKeys = new Map<string, CryptoKey>();

/** HMAC-SHA256(day key, ip), 16 bytes base64url; the day key is HMAC(secret, "ip-key:" + day). */
export async function hashedClientIp(env: Env, request: Request, now: number): Promise<string> {
  const ip = request.headers.get("cf-connecting-ip") ?? "local";
  const day = Math.floor(now / DAY_MS);
  const secret = loadConfig(env).authTokenSecret;
  const cacheKey = `${day}:${secret}`;
  let key = dayKeys.get(cacheKey);
  if (!key) {
    const root = await hmacKey(utf8(secret));
    const derived = new Uint8Array(await crypto.subtle.sign("HMAC", root, utf8(`ip-key:${day}`)));
    key = await hmacKey(derived);
    dayKeys.clear(); // one day (and secret) at a time
    dayKeys.set(cacheKey, key);
  }
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8(ip)));
  return toBase64Url(mac.slice(0, 16));
}

function hmacKey(raw: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}
