/**
 * @module Sender Keys for groups (Signal's SenderKey, as in libsignal sender_keys.rs): the
 * distribution message that hands a sender's chain key and signing key to each member (inside a
 * pairwise session), the group message format, and the per-message key derivation. Operations
 * on stored records are in group-cipher.ts.
 */
import { concatBytes, u32be } from "../../protocol/encoding";
import { ByteReader } from "../state/codec";
import type { SenderKeyState } from "../state/sender-key-record";
import { CryptoError, checkBytes } from "./errors";
import { chainStep, LABELS, type MessageKeys, messageKeys } from "./kdf";
import { AEAD_TAG_BYTES, ED25519_SIGNATURE_BYTES } from "./primitives";

/** First bytes: format version 1 (high nibble), type 3 (distribution) and 4 (group message). */
export const SENDER_KEY_DISTRIBUTION_TYPE = 0x13;
export const SENDER_KEY_MESSAGE_TYPE = 0x14;
/** Group id as the SDK names a distribution: 16 random bytes (a UUID), one per group (and per rotation epoch if the app wants). */
export const DISTRIBUTION_ID_BYTES = 16;
/** type (1) || distribution id (16) || key id (u32) || iteration (u32). */
export const SENDER_KEY_HEADER_BYTES = 1 + DISTRIBUTION_ID_BYTES + 8;

export interface SenderKeyDistribution {
  distributionId: Uint8Array;
  keyId: number;
  iteration: number;
  chainKey: Uint8Array;
  signingPublic: Uint8Array;
}

/** type || distribution id (16) || key id (u32) || iteration (u32) || chain key (32) || signing key (32). */
export function encodeDistribution(d: SenderKeyDistribution): Uint8Array {
  return concatBytes(Uint8Array.of(SENDER_KEY_DISTRIBUTION_TYPE), d.distributionId, u32be(d.keyId), u32be(d.iteration), d.chainKey, d.signingPublic);
}

export function parseDistribution(bytes: Uint8Array): SenderKeyDistribution {
  checkBytes(bytes, undefined, "sender key distribution");
  const r = new ByteReader(bytes, "sender key distribution");
  if (r.u8() !== SENDER_KEY_DISTRIBUTION_TYPE) throw new CryptoError("UNSUPPORTED_VERSION", "not a version 1 sender key distribution");
  const out = { distributionId: r.fixed(DISTRIBUTION_ID_BYTES), keyId: r.u32(), iteration: r.u32(), chainKey: r.fixed(32), signingPublic: r.fixed(32) };
  r.end();
  return out;
}

export interface SenderKeyMessage {
  distributionId: Uint8Array;
  keyId: number;
  iteration: number;
  header: Uint8Array;
  sealed: Uint8Array;
  /** Everything the signature covers (all bytes before it). */
  signed: Uint8Array;
  signature: Uint8Array;
}

/** header || ChaCha20-Poly1305(plaintext, AD = header) || Ed25519 signature over all preceding bytes. */
export function encodeSenderKeyBody(distributionId: Uint8Array, keyId: number, iteration: number, seal: (header: Uint8Array) => Uint8Array): Uint8Array {
  checkBytes(distributionId, DISTRIBUTION_ID_BYTES, "distribution id");
  const header = concatBytes(Uint8Array.of(SENDER_KEY_MESSAGE_TYPE), distributionId, u32be(keyId), u32be(iteration));
  return concatBytes(header, seal(header));
}

export function parseSenderKeyMessage(bytes: Uint8Array): SenderKeyMessage {
  checkBytes(bytes, undefined, "group message");
  if (bytes.length < SENDER_KEY_HEADER_BYTES + AEAD_TAG_BYTES + ED25519_SIGNATURE_BYTES) throw new CryptoError("MALFORMED", "group message too short");
  if (bytes[0] !== SENDER_KEY_MESSAGE_TYPE) throw new CryptoError("UNSUPPORTED_VERSION", "not a version 1 group message");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const end = bytes.length - ED25519_SIGNATURE_BYTES;
  return {
    distributionId: bytes.subarray(1, 1 + DISTRIBUTION_ID_BYTES),
    keyId: view.getUint32(1 + DISTRIBUTION_ID_BYTES, false),
    iteration: view.getUint32(5 + DISTRIBUTION_ID_BYTES, false),
    header: bytes.subarray(0, SENDER_KEY_HEADER_BYTES),
    sealed: bytes.subarray(SENDER_KEY_HEADER_BYTES, end),
    signed: bytes.subarray(0, end),
    signature: bytes.subarray(end),
  };
}

/** Message keys of the state's current iteration; advances the chain (the old chain key is gone). */
export function nextSenderMessageKeys(state: SenderKeyState): MessageKeys {
  const { messageKeySeed, nextChainKey } = chainStep(state.chainKey);
  state.chainKey = nextChainKey;
  state.iteration++;
  return messageKeys(messageKeySeed, LABELS.senderKeyMessageKeys);
}

export const senderMessageKeys = (seed: Uint8Array): MessageKeys => messageKeys(seed, LABELS.senderKeyMessageKeys);
