/**
 * @module The Double Ratchet (Signal specification, revision 4) over a SessionState: the message
 * format, encryption, and decryption with skipped keys, receiver chains and replay rejection.
 * Knows nothing of prekeys or storage; session.ts loads and saves the state around these calls.
 *
 * Decryption is transactional: everything is computed on the side and the state is changed only
 * after the AEAD tag verified, so a forged or corrupted message can never damage a session.
 */
import { bytesEqual, concatBytes, u32be, utf8 } from "../../protocol/encoding";
import type { ReceivingChain, SessionState, SkippedKey } from "../state/session-record";
import { CryptoError, checkBytes } from "./errors";
import { chainStep, messageKeys, rootStep } from "./kdf";
import { MAX_FORWARD_JUMPS, MAX_PLAINTEXT_BYTES, MAX_RECEIVER_CHAINS, MAX_SKIPPED_MESSAGE_KEYS } from "./limits";
import { AEAD_TAG_BYTES, chachaOpen, chachaSeal, type Rng, systemRng, x25519Agree, x25519GenerateKeyPair } from "./primitives";

/** First byte of a ratchet message: format version 1 (high nibble), type 1 (low nibble). */
export const RATCHET_MESSAGE_TYPE = 0x11;
/** type (1) || ratchet key (32) || counter (u32 BE) || previous counter (u32 BE). */
export const RATCHET_HEADER_BYTES = 41;

const AD_LABEL = utf8("parley:session-ad:v1");

export interface RatchetMessage {
  header: Uint8Array;
  ratchetKey: Uint8Array;
  counter: number;
  previousCounter: number;
  sealed: Uint8Array;
}

export function parseRatchetMessage(bytes: Uint8Array): RatchetMessage {
  checkBytes(bytes, undefined, "ratchet message");
  if (bytes.length < RATCHET_HEADER_BYTES + AEAD_TAG_BYTES) throw new CryptoError("MALFORMED", "ratchet message too short");
  if (bytes[0] !== RATCHET_MESSAGE_TYPE) throw new CryptoError("UNSUPPORTED_VERSION", `unknown message type 0x${bytes[0]!.toString(16)}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return {
    header: bytes.subarray(0, RATCHET_HEADER_BYTES),
    ratchetKey: bytes.subarray(1, 33),
    counter: view.getUint32(33, false),
    previousCounter: view.getUint32(37, false),
    sealed: bytes.subarray(RATCHET_HEADER_BYTES),
  };
}

/** Associated data of every message: label || initiator identity || responder identity (both Ed25519). */
export function sessionAd(state: SessionState): Uint8Array {
  const [a, b] = state.initiator ? [state.localIdentityKey, state.remoteIdentityKey] : [state.remoteIdentityKey, state.localIdentityKey];
  return concatBytes(AD_LABEL, a, b);
}

/**
 * Encrypts with the next key of the sending chain. `prefix` (the prekey-message preamble while
 * the peer has not answered yet) is authenticated with the header.
 */
export function ratchetEncrypt(state: SessionState, plaintext: Uint8Array, prefix: Uint8Array): Uint8Array {
  if (plaintext.length > MAX_PLAINTEXT_BYTES) throw new CryptoError("INVALID_INPUT", "plaintext too large");
  const header = concatBytes(Uint8Array.of(RATCHET_MESSAGE_TYPE), state.ourRatchet.publicKey, u32be(state.sendIndex), u32be(state.previousCounter));
  const { messageKeySeed, nextChainKey } = chainStep(state.sendChainKey);
  const keys = messageKeys(messageKeySeed);
  const sealed = chachaSeal(keys.key, keys.nonce, plaintext, concatBytes(sessionAd(state), prefix, header));
  state.sendChainKey = nextChainKey;
  state.sendIndex++;
  return concatBytes(header, sealed);
}

/** Derives the message key seeds of `chain` up to (not including) `until`, without touching the chain. */
function skipAhead(chain: ReceivingChain, until: number, into: SkippedKey[]): ReceivingChain {
  if (until - chain.index > MAX_FORWARD_JUMPS) throw new CryptoError("TOO_FAR_IN_FUTURE", `counter jumps ${until - chain.index} ahead`);
  let { chainKey, index } = chain;
  while (index < until) {
    const step = chainStep(chainKey);
    into.push({ ratchetKey: chain.ratchetKey, index, seed: step.messageKeySeed });
    chainKey = step.nextChainKey;
    index++;
  }
  return { ratchetKey: chain.ratchetKey, chainKey, index };
}

function open(state: SessionState, seed: Uint8Array, message: RatchetMessage, prefix: Uint8Array): Uint8Array {
  const keys = messageKeys(seed);
  const plaintext = chachaOpen(keys.key, keys.nonce, message.sealed, concatBytes(sessionAd(state), prefix, message.header));
  if (!plaintext) throw new CryptoError("INVALID_MESSAGE", "message authentication failed");
  return plaintext;
}

/**
 * Decrypts `message` with `state`, changing the state only on success. Throws DUPLICATE_MESSAGE
 * when the key was already used (replay), TOO_FAR_IN_FUTURE beyond MAX_FORWARD_JUMPS, and
 * INVALID_MESSAGE when authentication fails.
 */
export async function ratchetDecrypt(state: SessionState, message: RatchetMessage, prefix: Uint8Array, rng: Rng = systemRng): Promise<Uint8Array> {
  // A key skipped earlier: use it once and delete it.
  const at = state.skipped.findIndex((k) => k.index === message.counter && bytesEqual(k.ratchetKey, message.ratchetKey));
  if (at >= 0) {
    const plaintext = open(state, state.skipped[at]!.seed, message, prefix);
    state.skipped.splice(at, 1);
    state.pendingPreKey = null;
    return plaintext;
  }

  const newSkipped: SkippedKey[] = [];
  const known = state.receiving.findIndex((c) => bytesEqual(c.ratchetKey, message.ratchetKey));
  let chain: ReceivingChain;
  let previousChain: ReceivingChain | null = null;
  let turn: { rootKey: Uint8Array; ourRatchet: SessionState["ourRatchet"]; sendChainKey: Uint8Array } | null = null;
  if (known >= 0) {
    chain = state.receiving[known]!;
  } else {
    // A new ratchet key from the peer: finish its previous chain (keys it sent that we have not
    // seen), then one DH step for the new receiving chain and one for our new sending chain.
    const last = state.receiving[0];
    if (last) previousChain = skipAhead(last, message.previousCounter, newSkipped);
    // Both run on the WebCrypto thread pool at once.
    const [dhRecv, ourRatchet] = await Promise.all([x25519Agree(state.ourRatchet, message.ratchetKey), x25519GenerateKeyPair(rng)]);
    const recv = rootStep(state.rootKey, dhRecv);
    const send = rootStep(recv.rootKey, await x25519Agree(ourRatchet, message.ratchetKey));
    chain = { ratchetKey: message.ratchetKey, chainKey: recv.chainKey, index: 0 };
    turn = { rootKey: send.rootKey, ourRatchet, sendChainKey: send.chainKey };
  }
  if (message.counter < chain.index) throw new CryptoError("DUPLICATE_MESSAGE", "message key already used or expired");
  const advanced = skipAhead(chain, message.counter, newSkipped);
  const step = chainStep(advanced.chainKey);
  const plaintext = open(state, step.messageKeySeed, message, prefix);

  // Authenticated: commit.
  const nextChain = { ratchetKey: chain.ratchetKey, chainKey: step.nextChainKey, index: message.counter + 1 };
  if (turn) {
    if (previousChain) state.receiving[0] = previousChain;
    state.receiving.unshift(nextChain);
    if (state.receiving.length > MAX_RECEIVER_CHAINS) state.receiving.length = MAX_RECEIVER_CHAINS;
    state.rootKey = turn.rootKey;
    state.ourRatchet = turn.ourRatchet;
    state.previousCounter = state.sendIndex;
    state.sendChainKey = turn.sendChainKey;
    state.sendIndex = 0;
  } else {
    state.receiving[known] = nextChain;
  }
  if (newSkipped.length > 0) {
    state.skipped.push(...newSkipped);
    // Oldest first: evicting from the front forgets the longest-missing messages.
    if (state.skipped.length > MAX_SKIPPED_MESSAGE_KEYS) state.skipped.splice(0, state.skipped.length - MAX_SKIPPED_MESSAGE_KEYS);
  }
  state.pendingPreKey = null;
  return plaintext;
}
