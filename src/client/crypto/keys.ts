/**
 * @module This device's key material: the Ed25519 identity, the signed X25519 prekey, one-time
 * X25519 prekeys and signed ML-KEM-768 prekeys (one-time and last-resort). Signatures cover
 * exactly the bytes fixed in src/protocol/key-signatures.ts, which the server verifies too.
 * Produces records (state/prekey-records.ts); storing and uploading them is the caller's job.
 */
import { pqPrekeySignedBytes, signedPrekeySignedBytes } from "../../protocol/key-signatures";
import type { IdentityRecord, OneTimePreKeyRecord, PqPreKeyRecord, SignedPreKeyRecord } from "../state/prekey-records";
import { CryptoError } from "./errors";
import {
  ed25519GenerateKeyPair,
  ed25519Sign,
  type KeyPair,
  mlKemGenerateKeyPair,
  type Rng,
  systemRng,
  x25519GenerateKeyPair,
} from "./primitives";

function checkKeyId(keyId: number): void {
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > 0xffff_ffff) throw new CryptoError("INVALID_INPUT", "key id must be a u32");
}

/** Registration ids are 14-bit and non-zero (the server schema: 1..0x3fff). */
export function generateRegistrationId(rng: Rng = systemRng): number {
  const b = rng(2);
  return ((((b[0]! << 8) | b[1]!) & 0x3fff) % 0x3fff) + 1;
}

export async function generateIdentity(rng: Rng = systemRng): Promise<IdentityRecord> {
  return { identity: await ed25519GenerateKeyPair(rng), registrationId: generateRegistrationId(rng) };
}

export async function generateSignedPreKey(identity: KeyPair, keyId: number, now: number, rng: Rng = systemRng): Promise<SignedPreKeyRecord> {
  checkKeyId(keyId);
  const keyPair = await x25519GenerateKeyPair(rng);
  const signature = await ed25519Sign(identity, signedPrekeySignedBytes(keyId, keyPair.publicKey));
  return { keyId, keyPair, signature, createdAt: now };
}

/** `count` one-time prekeys with consecutive ids from `firstKeyId`. */
export async function generateOneTimePreKeys(firstKeyId: number, count: number, rng: Rng = systemRng): Promise<OneTimePreKeyRecord[]> {
  checkKeyId(firstKeyId + count - 1);
  const out: OneTimePreKeyRecord[] = [];
  for (let i = 0; i < count; i++) out.push({ keyId: firstKeyId + i, keyPair: await x25519GenerateKeyPair(rng) });
  return out;
}

export async function generatePqPreKey(
  identity: KeyPair,
  keyId: number,
  lastResort: boolean,
  now: number,
  rng: Rng = systemRng,
): Promise<PqPreKeyRecord> {
  checkKeyId(keyId);
  const keyPair = mlKemGenerateKeyPair(rng);
  const signature = await ed25519Sign(identity, pqPrekeySignedBytes(keyId, keyPair.publicKey, lastResort));
  return { keyId, keyPair, signature, lastResort, createdAt: now };
}
