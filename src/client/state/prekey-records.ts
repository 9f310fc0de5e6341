/**
 * @module This device's own key records (identity, signed prekey, one-time prekey, ML-KEM prekey)
 * and their versioned storage forms. Generation and signing are in crypto/keys.ts.
 */
import type { KeyPair } from "../crypto/primitives";
import { ByteWriter, versioned } from "./codec";

export const KEY_RECORD_VERSION = 1;

export interface IdentityRecord {
  /** Ed25519: privateKey is the 32-byte seed. */
  identity: KeyPair;
  registrationId: number;
}

export interface SignedPreKeyRecord {
  keyId: number;
  keyPair: KeyPair;
  signature: Uint8Array;
  createdAt: number;
}

export interface OneTimePreKeyRecord {
  keyId: number;
  keyPair: KeyPair;
}

export interface PqPreKeyRecord {
  keyId: number;
  /** ML-KEM-768: publicKey 1184 bytes, privateKey 2400 bytes. */
  keyPair: KeyPair;
  signature: Uint8Array;
  lastResort: boolean;
  createdAt: number;
}

const pair = (w: ByteWriter, k: KeyPair) => w.bytes(k.privateKey).bytes(k.publicKey);

export function encodeIdentityRecord(r: IdentityRecord): Uint8Array {
  return pair(new ByteWriter().u8(KEY_RECORD_VERSION), r.identity).u32(r.registrationId).finish();
}

export function decodeIdentityRecord(bytes: Uint8Array): IdentityRecord {
  const r = versioned(bytes, KEY_RECORD_VERSION, "identity record");
  const out = { identity: { privateKey: r.bytes(32), publicKey: r.bytes(32) }, registrationId: r.u32() };
  r.end();
  return out;
}

export function encodeSignedPreKeyRecord(k: SignedPreKeyRecord): Uint8Array {
  return pair(new ByteWriter().u8(KEY_RECORD_VERSION).u32(k.keyId), k.keyPair).bytes(k.signature).u64(k.createdAt).finish();
}

export function decodeSignedPreKeyRecord(bytes: Uint8Array): SignedPreKeyRecord {
  const r = versioned(bytes, KEY_RECORD_VERSION, "signed prekey record");
  const out = { keyId: r.u32(), keyPair: { privateKey: r.bytes(32), publicKey: r.bytes(32) }, signature: r.bytes(64), createdAt: r.u64() };
  r.end();
  return out;
}

export function encodeOneTimePreKeyRecord(k: OneTimePreKeyRecord): Uint8Array {
  return pair(new ByteWriter().u8(KEY_RECORD_VERSION).u32(k.keyId), k.keyPair).finish();
}

export function decodeOneTimePreKeyRecord(bytes: Uint8Array): OneTimePreKeyRecord {
  const r = versioned(bytes, KEY_RECORD_VERSION, "one-time prekey record");
  const out = { keyId: r.u32(), keyPair: { privateKey: r.bytes(32), publicKey: r.bytes(32) } };
  r.end();
  return out;
}

export function encodePqPreKeyRecord(k: PqPreKeyRecord): Uint8Array {
  return pair(new ByteWriter().u8(KEY_RECORD_VERSION).u32(k.keyId), k.keyPair)
    .bytes(k.signature)
    .u8(k.lastResort ? 1 : 0)
    .u64(k.createdAt)
    .finish();
}

export function decodePqPreKeyRecord(bytes: Uint8Array): PqPreKeyRecord {
  const r = versioned(bytes, KEY_RECORD_VERSION, "PQ prekey record");
  const out = {
    keyId: r.u32(),
    keyPair: { privateKey: r.bytes(4096), publicKey: r.bytes(4096) },
    signature: r.bytes(64),
    lastResort: r.u8() === 1,
    createdAt: r.u64(),
  };
  r.end();
  return out;
}
