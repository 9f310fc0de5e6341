/**
 * @module The session record: every Double Ratchet state this device holds with one remote
 * device (the current one plus archived ones for late messages), and its versioned storage form.
 * Owns the data layout only; the ratchet operations are in crypto/double-ratchet.ts.
 */
import type { KeyPair } from "../crypto/primitives";
import { ByteReader, ByteWriter, versioned } from "./codec";

/** Storage format version of SessionRecord. Bump on any layout change and keep a reader for the old one. */
export const SESSION_RECORD_VERSION = 1;

export interface ReceivingChain {
  /** The peer's ratchet public key this chain belongs to. */
  ratchetKey: Uint8Array;
  chainKey: Uint8Array;
  /** Counter of the next message expected in this chain. */
  index: number;
}

export interface SkippedKey {
  ratchetKey: Uint8Array;
  index: number;
  /** Message key seed (input of kdf.messageKeys); deleted when used or evicted. */
  seed: Uint8Array;
}

export interface SessionState {
  /** True on the device that sent the first (prekey) message. Fixes the order of identities in the AD. */
  initiator: boolean;
  localIdentityKey: Uint8Array;
  remoteIdentityKey: Uint8Array;
  localRegistrationId: number;
  remoteRegistrationId: number;
  /** The initiator's ephemeral (base) key: names the session, so a re-delivered prekey message finds it. */
  baseKey: Uint8Array;
  /** Whether the handshake included ML-KEM-768 (false = classical X3DH, an explicit downgrade). */
  postQuantum: boolean;
  rootKey: Uint8Array;
  ourRatchet: KeyPair;
  sendChainKey: Uint8Array;
  sendIndex: number;
  /** Length of our previous sending chain (PN in the header). */
  previousCounter: number;
  /** Newest first, at most MAX_RECEIVER_CHAINS. */
  receiving: ReceivingChain[];
  /** Oldest first, at most MAX_SKIPPED_MESSAGE_KEYS. */
  skipped: SkippedKey[];
  /** Prekey-message preamble to send with every message until the peer's first reply arrives. */
  pendingPreKey: Uint8Array | null;
}

export interface SessionRecord {
  current: SessionState | null;
  /** Newest first, at most MAX_ARCHIVED_SESSIONS. */
  archived: SessionState[];
}

function writeState(w: ByteWriter, s: SessionState): void {
  w.u8(s.initiator ? 1 : 0)
    .fixed(s.localIdentityKey)
    .fixed(s.remoteIdentityKey)
    .u32(s.localRegistrationId)
    .u32(s.remoteRegistrationId)
    .fixed(s.baseKey)
    .u8(s.postQuantum ? 1 : 0)
    .fixed(s.rootKey)
    .fixed(s.ourRatchet.privateKey)
    .fixed(s.ourRatchet.publicKey)
    .fixed(s.sendChainKey)
    .u32(s.sendIndex)
    .u32(s.previousCounter)
    .u32(s.receiving.length);
  for (const c of s.receiving) w.fixed(c.ratchetKey).fixed(c.chainKey).u32(c.index);
  w.u32(s.skipped.length);
  for (const k of s.skipped) w.fixed(k.ratchetKey).u32(k.index).fixed(k.seed);
  w.optional(s.pendingPreKey, (p) => w.bytes(p));
}

function readState(r: ByteReader): SessionState {
  const initiator = r.u8() === 1;
  const localIdentityKey = r.fixed(32);
  const remoteIdentityKey = r.fixed(32);
  const localRegistrationId = r.u32();
  const remoteRegistrationId = r.u32();
  const baseKey = r.fixed(32);
  const postQuantum = r.u8() === 1;
  const rootKey = r.fixed(32);
  const ourRatchet = { privateKey: r.fixed(32), publicKey: r.fixed(32) };
  const sendChainKey = r.fixed(32);
  const sendIndex = r.u32();
  const previousCounter = r.u32();
  const receiving: ReceivingChain[] = [];
  for (let n = r.u32(); n > 0; n--) receiving.push({ ratchetKey: r.fixed(32), chainKey: r.fixed(32), index: r.u32() });
  const skipped: SkippedKey[] = [];
  for (let n = r.u32(); n > 0; n--) skipped.push({ ratchetKey: r.fixed(32), index: r.u32(), seed: r.fixed(32) });
  const pendingPreKey = r.optional(() => r.bytes(8192));
  return {
    initiator,
    localIdentityKey,
    remoteIdentityKey,
    localRegistrationId,
    remoteRegistrationId,
    baseKey,
    postQuantum,
    rootKey,
    ourRatchet,
    sendChainKey,
    sendIndex,
    previousCounter,
    receiving,
    skipped,
    pendingPreKey,
  };
}

export function encodeSessionRecord(record: SessionRecord): Uint8Array {
  const w = new ByteWriter().u8(SESSION_RECORD_VERSION);
  w.optional(record.current, (s) => writeState(w, s));
  w.u32(record.archived.length);
  for (const s of record.archived) writeState(w, s);
  return w.finish();
}

export function decodeSessionRecord(bytes: Uint8Array): SessionRecord {
  const r = versioned(bytes, SESSION_RECORD_VERSION, "session record");
  const current = r.optional(() => readState(r));
  const archived: SessionState[] = [];
  for (let n = r.u32(); n > 0; n--) archived.push(readState(r));
  r.end();
  return { current, archived };
}
