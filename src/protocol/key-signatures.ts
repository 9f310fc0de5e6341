/**
 * @module What exactly an identity key signs. One definition shared by the server (which verifies
 * uploaded prekeys and auth challenges) and the SDK (which produces the signatures), so the two can
 * never drift. Each message starts with a distinct domain-separation label so a signature made for
 * one purpose can never be replayed as another. docs/PROTOCOL.md and docs/API.md cite these.
 *
 * Key sizes: identity keys are Ed25519 (32 bytes), signatures Ed25519 (64 bytes), signed and
 * one-time prekeys X25519 (32 bytes), post-quantum prekeys ML-KEM-768 encapsulation keys (1184 bytes).
 */
import { concatBytes, u32be, utf8 } from "./encoding";

export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;
export const X25519_PUBLIC_KEY_BYTES = 32;
export const ML_KEM_768_PUBLIC_KEY_BYTES = 1184;

/** Signed X25519 prekey: "parley:signed-prekey:v1" || key_id (u32 BE) || public key (32). */
export function signedPrekeySignedBytes(keyId: number, publicKey: Uint8Array): Uint8Array {
  return concatBytes(utf8("parley:signed-prekey:v1"), u32be(keyId), publicKey);
}

/**
 * ML-KEM-768 prekey (one-time or last-resort): "parley:pq-prekey:v1" || key_id (u32 BE) ||
 * last_resort flag (1 byte: 0 or 1) || encapsulation key (1184). The flag is signed so the server
 * cannot present a last-resort key as a one-time one (or the reverse).
 */
export function pqPrekeySignedBytes(keyId: number, publicKey: Uint8Array, lastResort: boolean): Uint8Array {
  return concatBytes(utf8("parley:pq-prekey:v1"), u32be(keyId), Uint8Array.of(lastResort ? 1 : 0), publicKey);
}

/**
 * Authentication challenge answer: "parley:auth:v1" || challenge bytes as issued by
 * POST /v1/auth/challenge. The challenge itself binds account, device and expiry.
 */
export function authChallengeSignedBytes(challenge: Uint8Array): Uint8Array {
  return concatBytes(utf8("parley:auth:v1"), challenge);
}
