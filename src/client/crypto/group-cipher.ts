/**
 * @module Group encryption with Sender Keys over the ProtocolStore: create/rotate our sender key,
 * accept members' distribution messages, encrypt once per group, decrypt with skipped keys,
 * replay rejection and a signature check on every message. Pairwise delivery of distribution
 * messages (encryptMessage in session.ts) is the caller's job.
 *
 * Rotation: when a member or one of their devices leaves, call `rotateSenderKey` and send the new
 * distribution message to the remaining devices only; the one who left keeps old keys but never
 * learns the new chain. Receivers keep MAX_SENDER_KEY_STATES generations so messages sent just
 * before a rotation still open.
 */
import { bytesEqual, toHex } from "../../protocol/encoding";
import type { SenderKeyRecord, SenderKeyState } from "../state/sender-key-record";
import { addressKey, type ProtocolAddress, type ProtocolStore } from "../store/protocol-store";
import { CryptoError, checkBytes } from "./errors";
import { chainStep } from "./kdf";
import { MAX_FORWARD_JUMPS, MAX_PLAINTEXT_BYTES, MAX_SENDER_KEY_SKIPPED, MAX_SENDER_KEY_STATES, SENDER_KEY_STEPS_BEFORE_VERIFIED } from "./limits";
import { chachaOpen, chachaSeal, ed25519GenerateKeyPair, ed25519Sign, ed25519Verify, ed25519VerifyInBackground, type Rng, systemRng } from "./primitives";
import {
  DISTRIBUTION_ID_BYTES,
  encodeDistribution,
  encodeSenderKeyBody,
  nextSenderMessageKeys,
  parseDistribution,
  parseSenderKeyMessage,
  type SenderKeyMessage,
  senderMessageKeys,
} from "./sender-keys";
import { serialised } from "./serial";

const lockName = (id: Uint8Array, sender: ProtocolAddress) => `sender-key/${toHex(id)}/${addressKey(sender)}`;

function distributionOf(distributionId: Uint8Array, s: SenderKeyState): Uint8Array {
  return encodeDistribution({ distributionId, keyId: s.keyId, iteration: s.iteration, chainKey: s.chainKey, signingPublic: s.signingPublic });
}

async function newOwnState(rng: Rng): Promise<SenderKeyState> {
  const signing = await ed25519GenerateKeyPair(rng);
  const id = rng(4);
  return {
    keyId: ((id[0]! << 24) | (id[1]! << 16) | (id[2]! << 8) | id[3]!) >>> 0,
    iteration: 0,
    chainKey: rng(32),
    signingPublic: signing.publicKey,
    signingPrivate: signing.privateKey,
    skipped: [],
  };
}

/**
 * Our distribution message for the group, creating our sender key on first use. Send it to every
 * member device over pairwise sessions before (or with) the first group message.
 */
export async function senderKeyDistribution(store: ProtocolStore, ourAddress: ProtocolAddress, distributionId: Uint8Array, rng: Rng = systemRng): Promise<Uint8Array> {
  checkBytes(distributionId, DISTRIBUTION_ID_BYTES, "distribution id");
  return serialised(lockName(distributionId, ourAddress), async () => {
    const record = await store.getSenderKey(distributionId, ourAddress);
    let state = record.states[0];
    if (!state?.signingPrivate) {
      state = await newOwnState(rng);
      record.states = [state];
      await store.putSenderKey(distributionId, ourAddress, record);
    }
    return distributionOf(distributionId, state);
  });
}

/** A new chain and signing key for the group (membership changed); returns the new distribution message. */
export async function rotateSenderKey(store: ProtocolStore, ourAddress: ProtocolAddress, distributionId: Uint8Array, rng: Rng = systemRng): Promise<Uint8Array> {
  checkBytes(distributionId, DISTRIBUTION_ID_BYTES, "distribution id");
  return serialised(lockName(distributionId, ourAddress), async () => {
    const state = await newOwnState(rng);
    // Our own old generations are useless to us (we only send with the newest) and would leak if stolen.
    await store.putSenderKey(distributionId, ourAddress, { states: [state] });
    return distributionOf(distributionId, state);
  });
}

/** Stores a member's distribution message (received over the pairwise session with `sender`). */
export async function processSenderKeyDistribution(store: ProtocolStore, sender: ProtocolAddress, bytes: Uint8Array): Promise<void> {
  const d = parseDistribution(bytes);
  return serialised(lockName(d.distributionId, sender), async () => {
    const record = await store.getSenderKey(d.distributionId, sender);
    const known = record.states.find((s) => s.keyId === d.keyId);
    // A repeated distribution must not rewind a chain we already advanced (that would re-open old keys).
    if (known && bytesEqual(known.signingPublic, d.signingPublic)) return;
    if (known) throw new CryptoError("INVALID_INPUT", "sender key id reused with a different signing key");
    record.states.unshift({ keyId: d.keyId, iteration: d.iteration, chainKey: d.chainKey, signingPublic: d.signingPublic, signingPrivate: null, skipped: [] });
    if (record.states.length > MAX_SENDER_KEY_STATES) record.states.length = MAX_SENDER_KEY_STATES;
    await store.putSenderKey(d.distributionId, sender, record);
  });
}

/**
 * Encrypts once for the whole group. The chain step runs under the per-sender lock; the signature
 * is made after it is released, so a burst of messages signs in parallel on the thread pool.
 */
export async function groupEncrypt(store: ProtocolStore, ourAddress: ProtocolAddress, distributionId: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  checkBytes(distributionId, DISTRIBUTION_ID_BYTES, "distribution id");
  checkBytes(plaintext, undefined, "plaintext");
  if (plaintext.length > MAX_PLAINTEXT_BYTES) throw new CryptoError("INVALID_INPUT", "plaintext too large");
  const { body, signer } = await serialised(lockName(distributionId, ourAddress), async () => {
    const record = await store.getSenderKey(distributionId, ourAddress);
    const state = record.states[0];
    if (!state?.signingPrivate) throw new CryptoError("NO_SENDER_KEY", "create our sender key with senderKeyDistribution() first");
    const iteration = state.iteration;
    const keys = nextSenderMessageKeys(state);
    const sealed = encodeSenderKeyBody(distributionId, state.keyId, iteration, (header) => chachaSeal(keys.key, keys.nonce, plaintext, header));
    await store.putSenderKey(distributionId, ourAddress, record);
    return { body: sealed, signer: { privateKey: state.signingPrivate, publicKey: state.signingPublic } };
  });
  const signature = await ed25519Sign(signer, body);
  const out = new Uint8Array(body.length + signature.length);
  out.set(body);
  out.set(signature, body.length);
  return out;
}

function takeKey(state: SenderKeyState, iteration: number): Uint8Array {
  if (iteration < state.iteration) {
    const at = state.skipped.findIndex((k) => k.iteration === iteration);
    if (at < 0) throw new CryptoError("DUPLICATE_MESSAGE", "group message key already used or expired");
    return state.skipped.splice(at, 1)[0]!.seed;
  }
  if (iteration - state.iteration > MAX_FORWARD_JUMPS) throw new CryptoError("TOO_FAR_IN_FUTURE", "group message counter jumps too far");
  while (state.iteration < iteration) {
    const step = chainStep(state.chainKey);
    state.skipped.push({ iteration: state.iteration, seed: step.messageKeySeed });
    state.chainKey = step.nextChainKey;
    state.iteration++;
  }
  if (state.skipped.length > MAX_SENDER_KEY_SKIPPED) state.skipped.splice(0, state.skipped.length - MAX_SENDER_KEY_SKIPPED);
  const step = chainStep(state.chainKey);
  state.chainKey = step.nextChainKey;
  state.iteration++;
  return step.messageKeySeed;
}

/** Group messages being decrypted right now (all groups and senders): more than one is a burst. */
let decrypting = 0;

/**
 * Verifies the signature and decrypts; the stored record changes, and the plaintext is returned,
 * only when both succeed. The signature check starts before the per-sender lock is taken. In a
 * burst (several messages in flight) it runs on the thread pool (node:crypto's callback form;
 * WebCrypto always does), so the second core verifies while the main thread derives keys and opens
 * the others; a lone message is verified synchronously, which costs less CPU than a pool job
 * (measured in docs/PERFORMANCE.md). A message with a bad signature fails with INVALID_SIGNATURE
 * whatever else is wrong with it.
 */
export async function groupDecrypt(store: ProtocolStore, sender: ProtocolAddress, bytes: Uint8Array): Promise<Uint8Array> {
  const m = parseSenderKeyMessage(bytes);
  decrypting++;
  try {
    return await decryptCounted(store, sender, m);
  } finally {
    decrypting--;
  }
}

async function decryptCounted(store: ProtocolStore, sender: ProtocolAddress, m: SenderKeyMessage): Promise<Uint8Array> {
  const signer = (await store.getSenderKey(m.distributionId, sender)).states.find((s) => s.keyId === m.keyId);
  if (!signer) throw new CryptoError("NO_SENDER_KEY", `no sender key ${m.keyId} from ${addressKey(sender)}`);
  // Counted after the await: the other messages of a burst have been handed in by now.
  const verdict = (decrypting > 1 ? ed25519VerifyInBackground : ed25519Verify)(signer.signingPublic, m.signed, m.signature);
  verdict.catch(() => undefined); // awaited under the lock below, on every path
  const verified = async () => {
    if (!(await verdict)) throw new CryptoError("INVALID_SIGNATURE", "group message signature");
  };
  return serialised(lockName(m.distributionId, sender), async () => {
    let plaintext: Uint8Array | null;
    let record: SenderKeyRecord;
    try {
      record = await store.getSenderKey(m.distributionId, sender);
      const state = record.states.find((s) => s.keyId === m.keyId);
      // The key id cannot change its signing key (processSenderKeyDistribution refuses that); re-check anyway.
      if (!state || !bytesEqual(state.signingPublic, signer.signingPublic)) throw new CryptoError("NO_SENDER_KEY", "sender key changed during decryption");
      if (m.iteration - state.iteration > SENDER_KEY_STEPS_BEFORE_VERIFIED) await verified();
      const keys = senderMessageKeys(takeKey(state, m.iteration)); // mutates only the loaded copy
      plaintext = chachaOpen(keys.key, keys.nonce, m.sealed, m.header);
    } catch (e) {
      await verified(); // a forgery is reported as one, not as whatever its forged fields broke
      throw e;
    }
    await verified();
    if (!plaintext) throw new CryptoError("INVALID_MESSAGE", "group message authentication failed");
    await store.putSenderKey(m.distributionId, sender, record);
    return plaintext;
  });
}
