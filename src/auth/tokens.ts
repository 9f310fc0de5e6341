/**
 * @module Device bearer tokens and authentication challenges, both stateless: an HMAC-SHA256 under
 * AUTH_TOKEN_SECRET lets any Worker isolate verify them without a database round trip.
 *
 * Token:     "pt1." + base64url(JSON {a: account_id, d: device_id, i: issued_ms, e: expires_ms}) + "." + base64url(mac)
 * Challenge: nonce(16) || expires_ms (u64 BE) || mac(16)   where mac binds account, device, nonce, expiry.
 *
 * Tokens are short-lived (AUTH_TOKEN_TTL_SECONDS, default 10 minutes). A removed device's tokens are
 * refused at once by its own inbox (which knows it was removed) and everywhere else when they expire.
 * Challenges are single-use: the device's inbox records each nonce until it expires.
 */
import { bytesEqual, concatBytes, fromBase64, toBase64Url, utf8 } from "../protocol/encoding";
import { AUTH_CHALLENGE_TTL_MS, AUTH_CLOCK_SKEW_MS } from "../limits";

export interface DevicePrincipal {
  accountId: string;
  deviceId: number;
}

export interface IssuedToken {
  token: string;
  expiresAt: number;
}

const TOKEN_PREFIX = "pt1";
const keyCache = new Map<string, Promise<CryptoKey>>();

function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keyCache.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", utf8(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    keyCache.set(secret, key);
  }
  return key;
}

async function mac(secret: string, label: string, data: Uint8Array): Promise<Uint8Array> {
  const key = await hmacKey(secret);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, concatBytes(utf8(label), data)));
}

export async function issueToken(secret: string, principal: DevicePrincipal, ttlSeconds: number, now: number): Promise<IssuedToken> {
  const expiresAt = now + ttlSeconds * 1000;
  const payload = toBase64Url(utf8(JSON.stringify({ a: principal.accountId, d: principal.deviceId, i: now, e: expiresAt })));
  const tag = await mac(secret, "parley:token:v1|", utf8(payload));
  return { token: `${TOKEN_PREFIX}.${payload}.${toBase64Url(tag)}`, expiresAt };
}

export type TokenCheck =
  | { ok: true; principal: DevicePrincipal; expiresAt: number }
  | { ok: false; reason: "malformed" | "forged" | "expired" };

export async function verifyToken(secret: string, token: string, now: number): Promise<TokenCheck> {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== TOKEN_PREFIX || token.length > 512) return { ok: false, reason: "malformed" };
  const [, payload, tagText] = parts as [string, string, string];
  const tag = fromBase64(tagText);
  if (!tag || tag.length !== 32) return { ok: false, reason: "malformed" };
  const expected = await mac(secret, "parley:token:v1|", utf8(payload));
  if (!bytesEqual(tag, expected)) return { ok: false, reason: "forged" };
  const json = fromBase64(payload);
  if (!json) return { ok: false, reason: "malformed" };
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder().decode(json));
  } catch {
    return { ok: false, reason: "malformed" };
  }
  const { a, d, i, e } = (claims ?? {}) as Record<string, unknown>;
  if (typeof a !== "string" || typeof d !== "number" || typeof i !== "number" || typeof e !== "number") {
    return { ok: false, reason: "malformed" };
  }
  if (now >= e || i > now + AUTH_CLOCK_SKEW_MS) return { ok: false, reason: "expired" };
  return { ok: true, principal: { accountId: a, deviceId: d }, expiresAt: e };
}

function challengeBinding(principal: DevicePrincipal, nonce: Uint8Array, expiresAt: number): Uint8Array {
  return concatBytes(utf8(`${principal.accountId}|${principal.deviceId}|`), nonce, u64be(expiresAt));
}

function u64be(value: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value), false);
  return out;
}

export interface IssuedChallenge {
  challenge: Uint8Array;
  nonce: Uint8Array;
  expiresAt: number;
}

export async function issueChallenge(secret: string, principal: DevicePrincipal, now: number, random: (n: number) => Uint8Array): Promise<IssuedChallenge> {
  const nonce = random(16);
  const expiresAt = now + AUTH_CHALLENGE_TTL_MS;
  const tag = (await mac(secret, "parley:challenge:v1|", challengeBinding(principal, nonce, expiresAt))).subarray(0, 16);
  return { challenge: concatBytes(nonce, u64be(expiresAt), tag), nonce, expiresAt };
}

export type ChallengeCheck = { ok: true; nonce: Uint8Array; expiresAt: number } | { ok: false; reason: "forged" | "expired" };

export async function verifyChallenge(secret: string, principal: DevicePrincipal, challenge: Uint8Array, now: number): Promise<ChallengeCheck> {
  if (challenge.length !== 40) return { ok: false, reason: "forged" };
  const nonce = challenge.subarray(0, 16);
  const expiresAt = Number(new DataView(challenge.buffer, challenge.byteOffset + 16, 8).getBigUint64(0, false));
  const tag = challenge.subarray(24, 40);
  const expected = (await mac(secret, "parley:challenge:v1|", challengeBinding(principal, nonce, expiresAt))).subarray(0, 16);
  if (!bytesEqual(tag, expected)) return { ok: false, reason: "forged" };
  if (now >= expiresAt) return { ok: false, reason: "expired" };
  return { ok: true, nonce, expiresAt };
}
