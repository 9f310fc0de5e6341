/**
 * @module Media capabilities: `exp.sig`, where sig = HMAC-SHA256(k, "parley:media-cap:v1|" || use
 * || "|" || media_id || "|" || exp) in base64url and k is derived from AUTH_TOKEN_SECRET with its
 * own label (one secret to manage; a token MAC can never pass for a capability and vice versa).
 * Stateless like device tokens: any isolate checks one without D1. A capability is a bearer
 * secret for one media id and one use: "upload" (the slot's routes) or "download" (the blob).
 * Download capabilities travel to recipients inside end-to-end-encrypted messages only.
 */
import { ApiError } from "../errors";
import { bytesEqual, fromBase64, toBase64Url, utf8 } from "../protocol/encoding";

export type CapabilityUse = "upload" | "download";

const keys = new Map<string, Promise<CryptoKey>>();

function capabilityKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = (async () => {
      const root = await crypto.subtle.importKey("raw", utf8(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const derived = await crypto.subtle.sign("HMAC", root, utf8("parley:media-cap-key:v1"));
      return crypto.subtle.importKey("raw", derived, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    })();
    keys.set(secret, key);
  }
  return key;
}

async function tag(secret: string, use: CapabilityUse, mediaId: string, exp: number): Promise<Uint8Array> {
  const data = utf8(`parley:media-cap:v1|${use}|${mediaId}|${exp}`);
  return new Uint8Array(await crypto.subtle.sign("HMAC", await capabilityKey(secret), data));
}

export async function issueCapability(secret: string, use: CapabilityUse, mediaId: string, exp: number): Promise<string> {
  return `${exp}.${toBase64Url(await tag(secret, use, mediaId, exp))}`;
}

export type CapabilityCheck = { ok: true; exp: number } | { ok: false; reason: "missing" | "forged" | "expired" };

export async function verifyCapability(secret: string, use: CapabilityUse, mediaId: string, cap: string | undefined, now: number): Promise<CapabilityCheck> {
  if (!cap) return { ok: false, reason: "missing" };
  const dot = cap.indexOf(".");
  const exp = Number(cap.slice(0, dot));
  const sig = fromBase64(cap.slice(dot + 1));
  if (dot < 1 || !Number.isSafeInteger(exp) || !sig || sig.length !== 32) return { ok: false, reason: "forged" };
  if (!bytesEqual(sig, await tag(secret, use, mediaId, exp))) return { ok: false, reason: "forged" };
  if (exp <= now) return { ok: false, reason: "expired" };
  return { ok: true, exp };
}

/** verifyCapability as the routes need it: 401 when missing, 403 when forged or expired. */
export async function requireCapability(secret: string, use: CapabilityUse, mediaId: string, cap: string | undefined, now: number): Promise<void> {
  const check = await verifyCapability(secret, use, mediaId, cap, now);
  if (check.ok) return;
  if (check.reason === "missing") throw new ApiError("unauthorized", `this route needs the media's ${use} capability (?cap=)`);
  throw new ApiError("forbidden", check.reason === "expired" ? `${use} capability expired` : `invalid ${use} capability`);
}
