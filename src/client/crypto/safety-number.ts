/**
 * @module Safety numbers: the 60-digit fingerprint two users compare out of band, and the QR
 * payload one scans from the other's screen. Follows Signal's NumericFingerprintGenerator
 * (iterated SHA-512 per party, 30 digits each, ordered so both sides show the same number).
 *
 * The identity key here is the account's primary-device Ed25519 key: it signs the device list
 * (device-list.ts), so verifying it covers every linked device. The stable identifier is the
 * account id (UTF-8).
 */
import { bytesEqual, concatBytes, utf8 } from "../../protocol/encoding";
import { CryptoError, checkBytes } from "./errors";
import { SAFETY_NUMBER_ITERATIONS } from "./limits";
import { sha512 } from "./primitives";

/** Hash input version (u16 BE), as Signal's FINGERPRINT_VERSION. */
const FINGERPRINT_VERSION = Uint8Array.of(0, 0);
/** First byte of the QR payload. */
export const SCANNABLE_FINGERPRINT_VERSION = 1;

export interface FingerprintParty {
  accountId: string;
  identityKey: Uint8Array;
}

function partyHash(p: FingerprintParty): Uint8Array {
  checkBytes(p.identityKey, 32, "identity key");
  let hash = sha512(concatBytes(FINGERPRINT_VERSION, p.identityKey, utf8(p.accountId)));
  for (let i = 0; i < SAFETY_NUMBER_ITERATIONS; i++) hash = sha512(concatBytes(hash, p.identityKey));
  return hash;
}

/** 30 digits: six 5-byte big-endian groups of the hash, each mod 100000. */
function digits(hash: Uint8Array): string {
  let out = "";
  for (let i = 0; i < 30; i += 5) {
    let v = 0;
    for (let j = 0; j < 5; j++) v = v * 256 + hash[i + j]!;
    out += String(v % 100_000).padStart(5, "0");
  }
  return out;
}

export interface SafetyNumber {
  /** 60 digits, identical on both sides; show in 12 groups of 5. */
  displayable: string;
  /** QR payload: version || our fingerprint (32) || their fingerprint (32). */
  scannable: Uint8Array;
}

export function safetyNumber(local: FingerprintParty, remote: FingerprintParty): SafetyNumber {
  const l = partyHash(local);
  const r = partyHash(remote);
  const [ld, rd] = [digits(l), digits(r)];
  return {
    displayable: ld <= rd ? ld + rd : rd + ld,
    scannable: concatBytes(Uint8Array.of(SCANNABLE_FINGERPRINT_VERSION), l.subarray(0, 32), r.subarray(0, 32)),
  };
}

/** True when the peer's QR (their local, their remote) equals ours crosswise. */
export function compareScannable(ours: Uint8Array, scanned: Uint8Array): boolean {
  checkBytes(ours, 65, "our scannable fingerprint");
  checkBytes(scanned, undefined, "scanned fingerprint");
  if (scanned.length !== 65 || scanned[0] !== SCANNABLE_FINGERPRINT_VERSION) {
    throw new CryptoError("UNSUPPORTED_VERSION", "not a version 1 safety-number QR payload");
  }
  return bytesEqual(ours.subarray(1, 33), scanned.subarray(33, 65)) && bytesEqual(ours.subarray(33, 65), scanned.subarray(1, 33));
}
