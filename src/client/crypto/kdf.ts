/**
 * @module Every key derivation of the protocol and its label, in one place so docs/PROTOCOL.md can
 * cite them and a second implementation can check them. Labels are ASCII and all start with
 * "parley:" so no derivation here can collide with another protocol's.
 *
 * Knows nothing of sessions or storage: pure functions from bytes to bytes.
 */
import { utf8 } from "../../protocol/encoding";
import { CHACHA_NONCE_BYTES, hkdfExpandSha256, hkdfSha256, hmacSha256 } from "./primitives";

export const LABELS = {
  x3dh: utf8("parley:x3dh:v1:X25519:SHA-256"),
  pqxdh: utf8("parley:pqxdh:v1:X25519:ML-KEM-768:SHA-256"),
  root: utf8("parley:ratchet:root:v1"),
  messageKeys: utf8("parley:ratchet:message-keys:v1"),
  senderKeyMessageKeys: utf8("parley:sender-key:message-keys:v1"),
  mediaKeys: utf8("parley:media:keys:v1"),
} as const;

const ZERO_SALT = new Uint8Array(32);
const MESSAGE_KEY_SEED = Uint8Array.of(0x01);
const CHAIN_KEY_SEED = Uint8Array.of(0x02);

/** 32 bytes of 0xFF prepended to the X3DH input (Signal's X3DH section 2.2: domain separation from XEdDSA). */
export const X3DH_PREFIX = new Uint8Array(32).fill(0xff);

/**
 * Shared secret of the handshake: HKDF(salt = 32 zero bytes, ikm = 0xFF*32 || DH1 || DH2 || DH3
 * [|| DH4] [|| KEM secret], info = label) -> 32-byte initial root key. The label differs between
 * the classical and the hybrid handshake so the two can never be confused.
 */
export function handshakeSecret(ikm: Uint8Array, postQuantum: boolean): Uint8Array {
  return hkdfSha256(ikm, ZERO_SALT, postQuantum ? LABELS.pqxdh : LABELS.x3dh, 32);
}

/** KDF_RK: HKDF(salt = root key, ikm = DH output) -> (new root key, chain key). */
export function rootStep(rootKey: Uint8Array, dhOutput: Uint8Array): { rootKey: Uint8Array; chainKey: Uint8Array } {
  const out = hkdfSha256(dhOutput, rootKey, LABELS.root, 64);
  return { rootKey: out.subarray(0, 32), chainKey: out.subarray(32, 64) };
}

/** KDF_CK (Double Ratchet section 5.2): message key seed = HMAC(ck, 0x01), next ck = HMAC(ck, 0x02). */
export function chainStep(chainKey: Uint8Array): { messageKeySeed: Uint8Array; nextChainKey: Uint8Array } {
  return { messageKeySeed: hmacSha256(chainKey, MESSAGE_KEY_SEED), nextChainKey: hmacSha256(chainKey, CHAIN_KEY_SEED) };
}

export interface MessageKeys {
  key: Uint8Array;
  nonce: Uint8Array;
}

/**
 * The fixed ChaCha20-Poly1305 nonce. Every message key encrypts exactly one message (chain keys
 * only move forward and used keys are deleted), so the (key, nonce) pair never repeats.
 */
export const MESSAGE_NONCE = new Uint8Array(CHACHA_NONCE_BYTES);

/**
 * AEAD key of one message: HKDF-Expand(PRK = message key seed, info = label, 32), a single HMAC.
 * The seed is already a uniformly random HMAC output, so the Extract step would add nothing.
 */
export function messageKeys(seed: Uint8Array, label: Uint8Array = LABELS.messageKeys): MessageKeys {
  return { key: hkdfExpandSha256(seed, label, 32), nonce: MESSAGE_NONCE };
}
