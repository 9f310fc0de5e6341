/**
 * @module The session cipher: encrypt and decrypt 1:1 messages for a remote device using the
 * ProtocolStore, including session setup from a bundle or a prekey message, and recovery.
 *
 * Operations on one address run one at a time (a per-address queue), so two concurrent decrypts
 * can never both load, change and save the same record. Records are saved only after success.
 *
 * Recovery ("Bad MAC forever" in Signal clients): a message no state can open throws a CryptoError
 * whose `needsSessionReset` is true. The app then calls `resetSession` and `startSession` with a
 * fresh bundle and sends a message; the peer, seeing a prekey message with a new base key, makes
 * that session current. Late messages of the old session still open from the archived states.
 */
import { bytesEqual, concatBytes } from "../../protocol/encoding";
import type { SessionRecord, SessionState } from "../state/session-record";
import { addressKey, type ProtocolAddress, type ProtocolStore } from "../store/protocol-store";
import { parseRatchetMessage, ratchetDecrypt, ratchetEncrypt, RATCHET_MESSAGE_TYPE } from "./double-ratchet";
import { CryptoError, checkBytes } from "./errors";
import { MAX_ARCHIVED_SESSIONS } from "./limits";
import { serialised } from "./serial";
import { type Rng, systemRng } from "./primitives";
import { type InitiateOptions, initiateSession, parsePreKeyMessage, PREKEY_MESSAGE_TYPE, type PreKeyBundle, respondToSession } from "./x3dh";

export type MessageKind = "prekey" | "message";

export function messageKind(bytes: Uint8Array): MessageKind {
  checkBytes(bytes, undefined, "session message");
  if (bytes.length === 0) throw new CryptoError("MALFORMED", "empty session message");
  if (bytes[0] === PREKEY_MESSAGE_TYPE) return "prekey";
  if (bytes[0] === RATCHET_MESSAGE_TYPE) return "message";
  throw new CryptoError("UNSUPPORTED_VERSION", "not a version 1 session message");
}

const serialisedFor = <T>(address: ProtocolAddress, task: () => Promise<T>): Promise<T> => serialised(`session/${addressKey(address)}`, task);

/** Archived states only receive (a state that opens a message is promoted first), so drop the 1-2 KB preamble. */
function archive(record: SessionRecord, state: SessionState): void {
  state.pendingPreKey = null;
  record.archived.unshift(state);
  if (record.archived.length > MAX_ARCHIVED_SESSIONS) record.archived.length = MAX_ARCHIVED_SESSIONS;
}

function promote(record: SessionRecord, state: SessionState): void {
  if (record.current === state) return;
  record.archived = record.archived.filter((s) => s !== state);
  if (record.current) archive(record, record.current);
  record.current = state;
}

/** Starts a session from the recipient device's bundle (verifying its signatures) and makes it current. */
export function startSession(store: ProtocolStore, address: ProtocolAddress, bundle: PreKeyBundle, options: InitiateOptions = {}): Promise<void> {
  return serialisedFor(address, async () => {
    await store.checkTrusted(address, bundle.identityKey);
    const state = await initiateSession(await store.getIdentity(), bundle, options);
    const record = await store.getSession(address);
    promote(record, state);
    await store.trustIdentity(address, bundle.identityKey);
    await store.putSession(address, record);
  });
}

export async function encryptMessage(store: ProtocolStore, address: ProtocolAddress, plaintext: Uint8Array): Promise<Uint8Array> {
  checkBytes(plaintext, undefined, "plaintext");
  return serialisedFor(address, async () => {
    const record = await store.getSession(address);
    const state = record.current;
    if (!state) throw new CryptoError("NO_SESSION", `no session with ${addressKey(address)}`);
    const prefix = state.pendingPreKey ?? new Uint8Array(0);
    const body = ratchetEncrypt(state, plaintext, prefix);
    await store.putSession(address, record);
    return prefix.length > 0 ? concatBytes(prefix, body) : body;
  });
}

export interface DecryptOptions {
  rng?: Rng;
}

export async function decryptMessage(store: ProtocolStore, address: ProtocolAddress, bytes: Uint8Array, options: DecryptOptions = {}): Promise<Uint8Array> {
  const rng = options.rng ?? systemRng;
  return serialisedFor(address, () =>
    messageKind(bytes) === "prekey" ? decryptPreKeyMessage(store, address, bytes, rng) : decryptRatchetMessage(store, address, bytes, rng),
  );
}

async function decryptPreKeyMessage(store: ProtocolStore, address: ProtocolAddress, bytes: Uint8Array, rng: Rng): Promise<Uint8Array> {
  const { preamble, preambleBytes, inner } = parsePreKeyMessage(bytes);
  const message = parseRatchetMessage(inner);
  const record = await store.getSession(address);
  // The same handshake again (a second message before our reply, or a re-delivery): reuse its state.
  const existing = [record.current, ...record.archived].find((s) => s !== null && bytesEqual(s.baseKey, preamble.baseKey));
  if (existing) {
    const plaintext = await ratchetDecrypt(existing, message, preambleBytes, rng);
    promote(record, existing);
    await store.putSession(address, record);
    return plaintext;
  }

  await store.checkTrusted(address, preamble.identityKey);
  const signedPrekey = await store.getSignedPreKey(preamble.signedPrekeyId);
  if (!signedPrekey) throw new CryptoError("UNKNOWN_PREKEY", `signed prekey ${preamble.signedPrekeyId} not found`);
  const oneTimePrekey = preamble.oneTimePrekeyId === null ? null : ((await store.getOneTimePreKey(preamble.oneTimePrekeyId)) ?? null);
  if (preamble.oneTimePrekeyId !== null && !oneTimePrekey) {
    // Used before and deleted: a replayed handshake whose session is gone must not be re-accepted.
    throw new CryptoError("UNKNOWN_PREKEY", `one-time prekey ${preamble.oneTimePrekeyId} not found`);
  }
  const pqPrekey = preamble.pqPrekeyId === null ? null : ((await store.getPqPreKey(preamble.pqPrekeyId)) ?? null);
  if (preamble.pqPrekeyId !== null && !pqPrekey) throw new CryptoError("UNKNOWN_PREKEY", `PQ prekey ${preamble.pqPrekeyId} not found`);

  const state = await respondToSession(await store.getIdentity(), preamble, { signedPrekey, oneTimePrekey, pqPrekey });
  const plaintext = await ratchetDecrypt(state, message, preambleBytes, rng);
  // Authenticated: one-time keys are now spent, the new session becomes current.
  if (oneTimePrekey) await store.removeOneTimePreKey(oneTimePrekey.keyId);
  if (pqPrekey && !pqPrekey.lastResort) await store.removePqPreKey(pqPrekey.keyId);
  promote(record, state);
  await store.trustIdentity(address, preamble.identityKey);
  await store.putSession(address, record);
  return plaintext;
}

async function decryptRatchetMessage(store: ProtocolStore, address: ProtocolAddress, bytes: Uint8Array, rng: Rng): Promise<Uint8Array> {
  const message = parseRatchetMessage(bytes);
  const record = await store.getSession(address);
  const states = [record.current, ...record.archived].filter((s): s is SessionState => s !== null);
  if (states.length === 0) throw new CryptoError("NO_SESSION", `no session with ${addressKey(address)}`);
  let firstError: CryptoError | null = null;
  for (const state of states) {
    try {
      const plaintext = await ratchetDecrypt(state, message, new Uint8Array(0), rng);
      promote(record, state);
      await store.putSession(address, record);
      return plaintext;
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      // A duplicate or far jump in the state that knows the chain explains the failure best.
      if (!firstError || (firstError.code === "INVALID_MESSAGE" && e.code !== "INVALID_MESSAGE")) firstError = e;
    }
  }
  throw firstError!;
}

/** Archives the current session so the next encrypt fails with NO_SESSION (the app fetches a bundle). */
export function resetSession(store: ProtocolStore, address: ProtocolAddress): Promise<void> {
  return serialisedFor(address, async () => {
    const record = await store.getSession(address);
    if (!record.current) return;
    archive(record, record.current);
    record.current = null;
    await store.putSession(address, record);
  });
}

/** What the app may show about a session: whether it is post-quantum (downgrades are visible). */
export interface SessionInfo {
  postQuantum: boolean;
  initiator: boolean;
  remoteIdentityKey: Uint8Array;
  remoteRegistrationId: number;
  /** True while our messages still carry the prekey preamble (the peer has not answered yet). */
  awaitingReply: boolean;
}

export async function sessionInfo(store: ProtocolStore, address: ProtocolAddress): Promise<SessionInfo | null> {
  const { current } = await store.getSession(address);
  if (!current) return null;
  return {
    postQuantum: current.postQuantum,
    initiator: current.initiator,
    remoteIdentityKey: current.remoteIdentityKey,
    remoteRegistrationId: current.remoteRegistrationId,
    awaitingReply: current.pendingPreKey !== null,
  };
}
