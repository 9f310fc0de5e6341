/**
 * @module Sender-key record: the chain and signing key of one sender in one group (a
 * "distribution"), several generations of it for rotations in flight, and the versioned storage
 * form. Operations are in crypto/group-cipher.ts; message formats in crypto/sender-keys.ts.
 */
import { ByteWriter, versioned } from "./codec";

export const SENDER_KEY_RECORD_VERSION = 1;

export interface SenderKeyState {
  /** Random per generation; rotation creates a new one. */
  keyId: number;
  /** Iteration of the next message key this chain produces. */
  iteration: number;
  chainKey: Uint8Array;
  /** Ed25519 signing key; the private half exists only in the sender's own record. */
  signingPublic: Uint8Array;
  signingPrivate: Uint8Array | null;
  /** Oldest first, at most MAX_SENDER_KEY_SKIPPED. */
  skipped: { iteration: number; seed: Uint8Array }[];
}

export interface SenderKeyRecord {
  /** Newest first, at most MAX_SENDER_KEY_STATES. */
  states: SenderKeyState[];
}

export function encodeSenderKeyRecord(record: SenderKeyRecord): Uint8Array {
  const w = new ByteWriter().u8(SENDER_KEY_RECORD_VERSION).u32(record.states.length);
  for (const s of record.states) {
    w.u32(s.keyId).u32(s.iteration).fixed(s.chainKey).fixed(s.signingPublic);
    w.optional(s.signingPrivate, (p) => w.fixed(p));
    w.u32(s.skipped.length);
    for (const k of s.skipped) w.u32(k.iteration).fixed(k.seed);
  }
  return w.finish();
}

export function decodeSenderKeyRecord(bytes: Uint8Array): SenderKeyRecord {
  const r = versioned(bytes, SENDER_KEY_RECORD_VERSION, "sender key record");
  const states: SenderKeyState[] = [];
  for (let n = r.u32(); n > 0; n--) {
    const keyId = r.u32();
    const iteration = r.u32();
    const chainKey = r.fixed(32);
    const signingPublic = r.fixed(32);
    const signingPrivate = r.optional(() => r.fixed(32));
    const skipped: SenderKeyState["skipped"] = [];
    for (let m = r.u32(); m > 0; m--) skipped.push({ iteration: r.u32(), seed: r.fixed(32) });
    states.push({ keyId, iteration, chainKey, signingPublic, signingPrivate, skipped });
  }
  r.end();
  return { states };
}
