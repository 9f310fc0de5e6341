/**
 * @module Session setup: X3DH, or PQXDH when the bundle carries an ML-KEM-768 prekey (Signal's
 * PQXDH, revision 3, with Ed25519 identities whose X25519 form does the Diffie-Hellman). Owns the
 * prekey bundle input, the prekey-message preamble format, and the initial ratchet state of both
 * sides. Has no knowledge of chains after the first root step (double-ratchet.ts) or of storage.
 *
 *   DH1 = DH(IK_A, SPK_B)  DH2 = DH(EK_A, IK_B)  DH3 = DH(EK_A, SPK_B)  [DH4 = DH(EK_A, OPK_B)]
 *   [(CT, SS) = ML-KEM-768.Encaps(PQPK_B)]
 *   SK = HKDF(0xFF*32 || DH1 || DH2 || DH3 [|| DH4] [|| SS]), label per kdf.handshakeSecret
 */
import { concatBytes, u32be } from "../../protocol/encoding";
import { pqPrekeySignedBytes, signedPrekeySignedBytes } from "../../protocol/key-signatures";
import type { IdentityRecord, OneTimePreKeyRecord, PqPreKeyRecord, SignedPreKeyRecord } from "../state/prekey-records";
import type { SessionState } from "../state/session-record";
import { ByteReader } from "../state/codec";
import { CryptoError, checkBytes } from "./errors";
import { X3DH_PREFIX, handshakeSecret, rootStep } from "./kdf";
import {
  type KeyPair,
  ML_KEM_768_CIPHERTEXT_BYTES,
  ML_KEM_768_PUBLIC_BYTES,
  type Rng,
  ed25519VerifyInBackground,
  edwardsToMontgomeryPrivate,
  edwardsToMontgomeryPublic,
  mlKemDecapsulate,
  mlKemEncapsulate,
  systemRng,
  x25519Agree,
  x25519GenerateKeyPair,
} from "./primitives";

/** First byte of a prekey message: format version 1, type 2. */
export const PREKEY_MESSAGE_TYPE = 0x12;
const FLAG_ONE_TIME = 1;
const FLAG_PQ = 2;

/** The server's prekey bundle for one device (src/protocol/keys.ts BundleDevice), as bytes. */
export interface PreKeyBundle {
  deviceId: number;
  registrationId: number;
  identityKey: Uint8Array;
  signedPrekey: { keyId: number; publicKey: Uint8Array; signature: Uint8Array };
  oneTimePrekey: { keyId: number; publicKey: Uint8Array } | null;
  pqPrekey: { keyId: number; publicKey: Uint8Array; signature: Uint8Array; lastResort: boolean } | null;
}

/** What the initiator's first messages carry so the responder can run the same handshake. */
export interface PreKeyPreamble {
  registrationId: number;
  signedPrekeyId: number;
  oneTimePrekeyId: number | null;
  pqPrekeyId: number | null;
  pqCiphertext: Uint8Array | null;
  baseKey: Uint8Array;
  identityKey: Uint8Array;
}

/**
 * type (0x12) || flags (bit 0: one-time prekey, bit 1: PQ) || registration id (u32) ||
 * signed prekey id (u32) || [one-time prekey id (u32)] || [PQ prekey id (u32) || KEM ciphertext (1088)] ||
 * base key (32) || identity key (32). The inner ratchet message follows.
 */
export function encodePreamble(p: PreKeyPreamble): Uint8Array {
  const flags = (p.oneTimePrekeyId !== null ? FLAG_ONE_TIME : 0) | (p.pqPrekeyId !== null ? FLAG_PQ : 0);
  return concatBytes(
    Uint8Array.of(PREKEY_MESSAGE_TYPE, flags),
    u32be(p.registrationId),
    u32be(p.signedPrekeyId),
    p.oneTimePrekeyId !== null ? u32be(p.oneTimePrekeyId) : new Uint8Array(0),
    p.pqPrekeyId !== null ? concatBytes(u32be(p.pqPrekeyId), p.pqCiphertext!) : new Uint8Array(0),
    p.baseKey,
    p.identityKey,
  );
}

export function parsePreKeyMessage(bytes: Uint8Array): { preamble: PreKeyPreamble; preambleBytes: Uint8Array; inner: Uint8Array } {
  const r = new ByteReader(bytes, "prekey message");
  if (r.u8() !== PREKEY_MESSAGE_TYPE) throw new CryptoError("UNSUPPORTED_VERSION", "not a version 1 prekey message");
  const flags = r.u8();
  if (flags & ~(FLAG_ONE_TIME | FLAG_PQ)) throw new CryptoError("MALFORMED", "prekey message: unknown flags");
  const registrationId = r.u32();
  const signedPrekeyId = r.u32();
  const oneTimePrekeyId = flags & FLAG_ONE_TIME ? r.u32() : null;
  const pqPrekeyId = flags & FLAG_PQ ? r.u32() : null;
  const pqCiphertext = flags & FLAG_PQ ? r.fixed(ML_KEM_768_CIPHERTEXT_BYTES) : null;
  const baseKey = r.fixed(32);
  const identityKey = r.fixed(32);
  const preambleLength = bytes.length - r.remaining;
  return {
    preamble: { registrationId, signedPrekeyId, oneTimePrekeyId, pqPrekeyId, pqCiphertext, baseKey, identityKey },
    preambleBytes: bytes.subarray(0, preambleLength),
    inner: bytes.subarray(preambleLength),
  };
}

/** The X25519 form of an Ed25519 identity key pair. */
function identityDh(identity: KeyPair): KeyPair {
  return { privateKey: edwardsToMontgomeryPrivate(identity.privateKey), publicKey: edwardsToMontgomeryPublic(identity.publicKey) };
}

export function checkBundle(bundle: PreKeyBundle): void {
  checkBytes(bundle.identityKey, 32, "bundle identity key");
  checkBytes(bundle.signedPrekey.publicKey, 32, "bundle signed prekey");
  checkBytes(bundle.signedPrekey.signature, 64, "bundle signed prekey signature");
  if (bundle.oneTimePrekey) checkBytes(bundle.oneTimePrekey.publicKey, 32, "bundle one-time prekey");
  if (bundle.pqPrekey) {
    checkBytes(bundle.pqPrekey.publicKey, ML_KEM_768_PUBLIC_BYTES, "bundle PQ prekey");
    checkBytes(bundle.pqPrekey.signature, 64, "bundle PQ prekey signature");
  }
}

export interface InitiateOptions {
  /** Refuse classical-only bundles (PQ_REQUIRED) instead of downgrading to X3DH. */
  requirePostQuantum?: boolean;
  rng?: Rng;
}

/**
 * Initiator side (Alice): verifies both prekey signatures with the bundle's identity key, runs
 * the handshake and the first root step. The returned state sends prekey messages until Bob answers.
 */
export async function initiateSession(ours: IdentityRecord, bundle: PreKeyBundle, options: InitiateOptions = {}): Promise<SessionState> {
  checkBundle(bundle);
  const rng = options.rng ?? systemRng;
  const { signedPrekey: spk, oneTimePrekey: opk, pqPrekey: pq } = bundle;
  if (!pq && options.requirePostQuantum) throw new CryptoError("PQ_REQUIRED", "bundle has no ML-KEM prekey");

  // The signature checks go to the thread pool first, then the Diffie-Hellmans and ML-KEM
  // (synchronous with node:crypto and @noble) run on the main thread meanwhile. Their results are
  // discarded unless both signatures verify: computing them early reveals nothing, since nothing
  // leaves this function before.
  const verified = Promise.all([
    ed25519VerifyInBackground(bundle.identityKey, signedPrekeySignedBytes(spk.keyId, spk.publicKey), spk.signature),
    pq ? ed25519VerifyInBackground(bundle.identityKey, pqPrekeySignedBytes(pq.keyId, pq.publicKey, pq.lastResort), pq.signature) : true,
  ]);
  verified.catch(() => undefined); // awaited below unless a key pair fails first
  const [ephemeral, ratchet] = await Promise.all([x25519GenerateKeyPair(rng), x25519GenerateKeyPair(rng)]);
  const theirIdentity = edwardsToMontgomeryPublic(bundle.identityKey);
  const ourIdentity = identityDh(ours.identity);
  const agreed = Promise.all([
    x25519Agree(ourIdentity, spk.publicKey),
    x25519Agree(ephemeral, theirIdentity),
    x25519Agree(ephemeral, spk.publicKey),
    opk ? x25519Agree(ephemeral, opk.publicKey) : new Uint8Array(0),
    x25519Agree(ratchet, spk.publicKey),
  ]);
  agreed.catch(() => undefined); // reported below, after the signature verdict
  let kem: ReturnType<typeof mlKemEncapsulate> | null = null;
  let kemError: unknown = null;
  try {
    kem = pq ? mlKemEncapsulate(pq.publicKey, rng) : null;
  } catch (e) {
    kemError = e;
  }
  const [spkOk, pqOk] = await verified;
  if (!spkOk) throw new CryptoError("INVALID_SIGNATURE", "signed prekey signature does not verify");
  if (!pqOk) throw new CryptoError("INVALID_SIGNATURE", "PQ prekey signature does not verify");
  if (kemError) throw kemError;
  const [dh1, dh2, dh3, dh4, dhRatchet] = await agreed;
  const secret = handshakeSecret(concatBytes(X3DH_PREFIX, dh1, dh2, dh3, dh4, kem ? kem.sharedSecret : new Uint8Array(0)), kem !== null);
  const first = rootStep(secret, dhRatchet);
  const preamble = encodePreamble({
    registrationId: ours.registrationId,
    signedPrekeyId: spk.keyId,
    oneTimePrekeyId: opk ? opk.keyId : null,
    pqPrekeyId: pq ? pq.keyId : null,
    pqCiphertext: kem ? kem.ciphertext : null,
    baseKey: ephemeral.publicKey,
    identityKey: ours.identity.publicKey,
  });
  return {
    initiator: true,
    localIdentityKey: ours.identity.publicKey,
    remoteIdentityKey: bundle.identityKey,
    localRegistrationId: ours.registrationId,
    remoteRegistrationId: bundle.registrationId,
    baseKey: ephemeral.publicKey,
    postQuantum: kem !== null,
    rootKey: first.rootKey,
    ourRatchet: ratchet,
    sendChainKey: first.chainKey,
    sendIndex: 0,
    previousCounter: 0,
    receiving: [],
    skipped: [],
    pendingPreKey: preamble,
  };
}

/** The responder's keys named by a preamble, loaded by the caller (session.ts) from its store. */
export interface ResponderKeys {
  signedPrekey: SignedPreKeyRecord;
  oneTimePrekey: OneTimePreKeyRecord | null;
  pqPrekey: PqPreKeyRecord | null;
}

/**
 * Responder side (Bob): the same handshake from the preamble. The state has no sending chain yet;
 * decrypting the inner message performs the first DH ratchet step and creates it.
 */
export async function respondToSession(ours: IdentityRecord, preamble: PreKeyPreamble, keys: ResponderKeys): Promise<SessionState> {
  const spk = keys.signedPrekey.keyPair;
  const ourIdentity = identityDh(ours.identity);
  const later = Promise.all([
    x25519Agree(ourIdentity, preamble.baseKey),
    x25519Agree(spk, preamble.baseKey),
    keys.oneTimePrekey ? x25519Agree(keys.oneTimePrekey.keyPair, preamble.baseKey) : new Uint8Array(0),
  ]);
  const dh1 = x25519Agree(spk, edwardsToMontgomeryPublic(preamble.identityKey));
  const ss = keys.pqPrekey && preamble.pqCiphertext ? mlKemDecapsulate(preamble.pqCiphertext, keys.pqPrekey.keyPair.privateKey) : new Uint8Array(0);
  const [[dh2, dh3, dh4], dh1Out] = await Promise.all([later, dh1]);
  const postQuantum = keys.pqPrekey !== null;
  return {
    initiator: false,
    localIdentityKey: ours.identity.publicKey,
    remoteIdentityKey: preamble.identityKey,
    localRegistrationId: ours.registrationId,
    remoteRegistrationId: preamble.registrationId,
    baseKey: preamble.baseKey,
    postQuantum,
    rootKey: handshakeSecret(concatBytes(X3DH_PREFIX, dh1Out, dh2, dh3, dh4, ss), postQuantum),
    ourRatchet: spk,
    sendChainKey: new Uint8Array(32),
    sendIndex: 0,
    previousCounter: 0,
    receiving: [],
    skipped: [],
    pendingPreKey: null,
  };
}
