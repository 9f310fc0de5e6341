/**
 * @module The only importer of @noble and WebCrypto. Everything above this file works on
 * Uint8Array and never sees a CryptoKey or a noble object.
 *
 * Speed policy (measured on the 2-core reference machine, see docs/PERFORMANCE.md):
 * - X25519 and Ed25519 go through WebCrypto (Workers, Node >= 20, current browsers): ~100 µs per
 *   operation against 1.5-3 ms for @noble here. @noble is the fallback, chosen once by a probe that
 *   runs the RFC 7748 / RFC 8032 vectors through WebCrypto (absent or wrong -> fallback).
 * - Small symmetric steps (HMAC, HKDF, ChaCha20-Poly1305 for 1:1 and group messages) use @noble
 *   synchronously: a WebCrypto call costs ~30 µs of scheduling alone, more than the work.
 * - Bulk media AES-256-GCM and SHA-512 go through WebCrypto (OpenSSL, AES-NI, thread pool), with
 *   @noble as the fallback.
 * - ML-KEM-768 has no WebCrypto form in these runtimes: @noble only.
 *
 * Imported keys are cached by content (bounded LRU, limits.ts) because records are decoded from
 * bytes on every operation; `clearKeyCache()` drops them (e.g. on logout).
 */
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { gcm } from "@noble/ciphers/aes.js";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { expand, hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 as nobleSha256, sha512 as nobleSha512 } from "@noble/hashes/sha2.js";
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";
import { bytesEqual, fromBase64, toBase64Url } from "../../protocol/encoding";
import { CryptoError, checkBytes } from "./errors";
import { KEY_CACHE_ENTRIES } from "./limits";

/** Source of randomness; tests pass a seeded one so runs are reproducible. */
export type Rng = (length: number) => Uint8Array;

/** The platform CSPRNG (crypto.getRandomValues, which fills at most 65,536 bytes per call). */
export const systemRng: Rng = (length) => {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65_536) globalThis.crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65_536)));
  return out;
};

export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

export const X25519_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;
export const ML_KEM_768_PUBLIC_BYTES = 1184;
export const ML_KEM_768_SECRET_BYTES = 2400;
export const ML_KEM_768_CIPHERTEXT_BYTES = 1088;
export const AEAD_TAG_BYTES = 16;
export const CHACHA_NONCE_BYTES = 12;
export const AES_GCM_NONCE_BYTES = 12;

// ---------------------------------------------------------------------------------------------
// Backend detection

/** Which operations run on WebCrypto. Detected once; tests may force the fallback. */
export interface Backend {
  x25519: boolean;
  ed25519: boolean;
  aesGcm: boolean;
  sha512: boolean;
}

const NO_WEBCRYPTO: Backend = { x25519: false, ed25519: false, aesGcm: false, sha512: false };
let backendPromise: Promise<Backend> | undefined;

function subtle(): SubtleCrypto | undefined {
  return globalThis.crypto?.subtle;
}

/** WebCrypto wants ArrayBuffer-backed views; copy the rare SharedArrayBuffer-backed one. */
function ab(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));

async function probe(run: () => Promise<boolean>): Promise<boolean> {
  try {
    return await run();
  } catch {
    return false;
  }
}

async function detect(): Promise<Backend> {
  const s = subtle();
  if (!s) return NO_WEBCRYPTO;
  // RFC 7748 section 6.1: Alice's private key with Bob's public key.
  const x = probe(async () => {
    const priv = await importX25519Private(
      hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
      hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"),
    );
    const pub = await s.importKey("raw", ab(hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")), { name: "X25519" }, false, []);
    const out = new Uint8Array(await s.deriveBits({ name: "X25519", public: pub }, priv, 256));
    return bytesEqual(out, hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"));
  });
  // RFC 8032 section 7.1, TEST 1 (empty message).
  const e = probe(async () => {
    const seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    const pub = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    const key = await importEd25519Private(seed, pub);
    const sig = new Uint8Array(await s.sign({ name: "Ed25519" }, key, new Uint8Array(0)));
    return bytesEqual(
      sig,
      hex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
      ),
    );
  });
  const a = probe(async () => {
    const key = await s.importKey("raw", new Uint8Array(32), { name: "AES-GCM" }, false, ["encrypt"]);
    const out = await s.encrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, key, new Uint8Array(0));
    return out.byteLength === 16;
  });
  const h = probe(async () => (await s.digest("SHA-512", new Uint8Array(0))).byteLength === 64);
  const [x25519Ok, ed25519Ok, aesOk, shaOk] = await Promise.all([x, e, a, h]);
  return { x25519: x25519Ok, ed25519: ed25519Ok, aesGcm: aesOk, sha512: shaOk };
}

/** Resolves the backend once; every async primitive awaits it (a resolved promise after the first call). */
export function cryptoBackend(): Promise<Backend> {
  backendPromise ??= detect();
  return backendPromise;
}

/** Test hook: run everything on @noble (as on a runtime without WebCrypto Ed25519/X25519), or re-detect. */
export function useNobleOnly(on: boolean): void {
  clearKeyCache();
  if (on) {
    backendPromise = Promise.resolve(NO_WEBCRYPTO);
  } else {
    backendPromise = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Imported-key cache (bounded LRU keyed by algorithm + key bytes)

const keyCache = new Map<string, CryptoKey>();

function cacheId(kind: string, bytes: Uint8Array): string {
  return kind + String.fromCharCode.apply(null, bytes as unknown as number[]);
}

async function cachedKey(kind: string, bytes: Uint8Array, load: () => Promise<CryptoKey>): Promise<CryptoKey> {
  const id = cacheId(kind, bytes);
  const hit = keyCache.get(id);
  if (hit) {
    keyCache.delete(id);
    keyCache.set(id, hit);
    return hit;
  }
  const key = await load();
  keyCache.set(id, key);
  if (keyCache.size > KEY_CACHE_ENTRIES) keyCache.delete(keyCache.keys().next().value!);
  return key;
}

export function clearKeyCache(): void {
  keyCache.clear();
  montgomeryCache.clear();
  spareX25519 = null;
}

// JWK is the cheapest private-key import in Node (PKCS#8 costs ~700 µs); it needs the public part too.
function importX25519Private(privateKey: Uint8Array, publicKey: Uint8Array): Promise<CryptoKey> {
  const jwk: JsonWebKey = { kty: "OKP", crv: "X25519", d: toBase64Url(privateKey), x: toBase64Url(publicKey) };
  return subtle()!.importKey("jwk", jwk, { name: "X25519" }, false, ["deriveBits"]);
}

function importEd25519Private(seed: Uint8Array, publicKey: Uint8Array): Promise<CryptoKey> {
  const jwk: JsonWebKey = { kty: "OKP", crv: "Ed25519", d: toBase64Url(seed), x: toBase64Url(publicKey) };
  return subtle()!.importKey("jwk", jwk, { name: "Ed25519" }, false, ["sign"]);
}

function jwkBytes(value: string | undefined): Uint8Array {
  const out = value === undefined ? null : fromBase64(value);
  if (!out || out.length !== 32) throw new CryptoError("INVALID_KEY", "WebCrypto exported an unexpected key");
  return out;
}

// ---------------------------------------------------------------------------------------------
// X25519 (RFC 7748)

/**
 * New X25519 key pair. With the system RNG and WebCrypto this is generateKey + a JWK export
 * (~160 µs); a caller-supplied RNG (tests) derives the key from its bytes with @noble instead.
 */
export async function x25519GenerateKeyPair(rng: Rng = systemRng): Promise<KeyPair> {
  const b = await cryptoBackend();
  if (b.x25519 && rng === systemRng) {
    // Hand out the pair generated in the background last time and start the next one: the
    // DH ratchet step then waits for two DH operations instead of two DHs and a key generation.
    // The spare lives only in this process's memory, like the cached CryptoKeys.
    const next = spareX25519 ?? webCryptoX25519Pair();
    spareX25519 = webCryptoX25519Pair();
    spareX25519.catch(() => (spareX25519 = null));
    return next;
  }
  const privateKey = rng(32);
  return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
}

let spareX25519: Promise<KeyPair> | null = null;

async function webCryptoX25519Pair(): Promise<KeyPair> {
  const pair = (await subtle()!.generateKey({ name: "X25519" }, true, ["deriveBits"])) as CryptoKeyPair;
  const jwk = await subtle()!.exportKey("jwk", pair.privateKey);
  const out = { privateKey: jwkBytes(jwk.d), publicKey: jwkBytes(jwk.x) };
  // Ratchet keys are used right away: keep the CryptoKey instead of re-importing it (~110 µs).
  await cachedKey("xs", out.privateKey, async () => pair.privateKey);
  return out;
}

/** Public key of an X25519 private key (noble; only used off the hot path). */
export function x25519PublicKey(privateKey: Uint8Array): Uint8Array {
  checkBytes(privateKey, 32, "X25519 private key");
  return x25519.getPublicKey(privateKey);
}

/**
 * X25519(privateKey, publicKey). The caller passes the matching public key of `privateKey`
 * (every record stores it) because WebCrypto's JWK import wants both. Rejects an all-zero
 * result (a low-order peer key), as RFC 7748 section 6.1 recommends.
 */
export async function x25519Agree(ours: KeyPair, theirPublic: Uint8Array): Promise<Uint8Array> {
  checkBytes(ours.privateKey, 32, "X25519 private key");
  checkBytes(theirPublic, 32, "X25519 public key");
  const b = await cryptoBackend();
  let out: Uint8Array;
  if (b.x25519) {
    const s = subtle()!;
    const priv = await cachedKey("xs", ours.privateKey, () => importX25519Private(ours.privateKey, ours.publicKey)).catch(() => {
      throw new CryptoError("INVALID_KEY", "stored X25519 key pair is inconsistent");
    });
    const pub = await cachedKey("xp", theirPublic, () => s.importKey("raw", ab(theirPublic), { name: "X25519" }, false, [])).catch(() => {
      throw new CryptoError("INVALID_KEY", "X25519 public key refused");
    });
    try {
      out = new Uint8Array(await s.deriveBits({ name: "X25519", public: pub }, priv, 256));
    } catch {
      // Node and browsers refuse low-order points themselves.
      throw new CryptoError("INVALID_KEY", "X25519 public key is a low-order point");
    }
  } else {
    try {
      out = x25519.getSharedSecret(ours.privateKey, theirPublic);
    } catch {
      throw new CryptoError("INVALID_KEY", "X25519 public key is a low-order point");
    }
  }
  if (out.every((v) => v === 0)) throw new CryptoError("INVALID_KEY", "X25519 public key is a low-order point");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Ed25519 (RFC 8032) and its X25519 form

export async function ed25519GenerateKeyPair(rng: Rng = systemRng): Promise<KeyPair> {
  const b = await cryptoBackend();
  if (b.ed25519 && rng === systemRng) {
    const pair = (await subtle()!.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const jwk = await subtle()!.exportKey("jwk", pair.privateKey);
    const out = { privateKey: jwkBytes(jwk.d), publicKey: jwkBytes(jwk.x) };
    await cachedKey("es", out.privateKey, async () => pair.privateKey);
    await cachedKey("ep", out.publicKey, async () => pair.publicKey);
    return out;
  }
  const privateKey = rng(32);
  return { privateKey, publicKey: ed25519.getPublicKey(privateKey) };
}

/** Ed25519 public key of a 32-byte seed (noble; identity creation only). */
export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  checkBytes(seed, 32, "Ed25519 seed");
  return ed25519.getPublicKey(seed);
}

export async function ed25519Sign(ours: KeyPair, message: Uint8Array): Promise<Uint8Array> {
  checkBytes(ours.privateKey, 32, "Ed25519 seed");
  checkBytes(ours.publicKey, 32, "Ed25519 public key");
  const b = await cryptoBackend();
  if (!b.ed25519) return ed25519.sign(message, ours.privateKey);
  const key = await cachedKey("es", ours.privateKey, () => importEd25519Private(ours.privateKey, ours.publicKey)).catch(() => {
    throw new CryptoError("INVALID_KEY", "Ed25519 key pair is inconsistent");
  });
  return new Uint8Array(await subtle()!.sign({ name: "Ed25519" }, key, ab(message)));
}

/** Strict RFC 8032 verification (noble with zip215 off, matching OpenSSL/BoringSSL). */
export async function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  checkBytes(publicKey, 32, "Ed25519 public key");
  if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_BYTES) return false;
  const b = await cryptoBackend();
  if (!b.ed25519) {
    try {
      return ed25519.verify(signature, message, publicKey, { zip215: false });
    } catch {
      return false;
    }
  }
  const s = subtle()!;
  let key: CryptoKey;
  try {
    key = await cachedKey("ep", publicKey, () => s.importKey("raw", ab(publicKey), { name: "Ed25519" }, false, ["verify"]));
  } catch {
    return false; // not a point on the curve
  }
  return s.verify({ name: "Ed25519" }, key, ab(signature), ab(message));
}

const montgomeryCache = new Map<string, Uint8Array>();

/**
 * X25519 form of an Ed25519 public key (birational map u = (1+y)/(1-y)). Costs ~200 µs in noble
 * (point decoding), so results are cached; identity keys are long-lived.
 */
export function edwardsToMontgomeryPublic(publicKey: Uint8Array): Uint8Array {
  checkBytes(publicKey, 32, "Ed25519 public key");
  const id = cacheId("", publicKey);
  let out = montgomeryCache.get(id);
  if (!out) {
    try {
      out = ed25519.utils.toMontgomery(publicKey);
    } catch {
      throw new CryptoError("INVALID_KEY", "identity key is not a valid Ed25519 point");
    }
    montgomeryCache.set(id, out);
    if (montgomeryCache.size > KEY_CACHE_ENTRIES) montgomeryCache.delete(montgomeryCache.keys().next().value!);
  }
  return out;
}

/** X25519 form of an Ed25519 seed: the clamped SHA-512 scalar, as RFC 8032 derives it. */
export function edwardsToMontgomeryPrivate(seed: Uint8Array): Uint8Array {
  checkBytes(seed, 32, "Ed25519 seed");
  return ed25519.utils.toMontgomerySecret(seed);
}

// ---------------------------------------------------------------------------------------------
// Hashes and KDFs (synchronous, @noble)

export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

export function sha512(data: Uint8Array): Uint8Array {
  return nobleSha512(data);
}

/** SHA-512 of a large buffer: WebCrypto (OpenSSL, off the main thread) when present. */
export async function sha512Async(data: Uint8Array): Promise<Uint8Array> {
  const b = await cryptoBackend();
  if (!b.sha512) return nobleSha512(data);
  return new Uint8Array(await subtle()!.digest("SHA-512", ab(data)));
}

export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmac(nobleSha256, key, data);
}

/** HKDF-Expand-SHA-256 (RFC 5869 section 2.3) from a pseudorandom key; one HMAC per 32 bytes. */
export function hkdfExpandSha256(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return expand(nobleSha256, prk, info, length);
}

/** HKDF-SHA-256 (RFC 5869). An empty salt means HashLen zero bytes, as the RFC specifies. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return hkdf(nobleSha256, ikm, salt, info, length);
}

// ---------------------------------------------------------------------------------------------
// AEADs

/** ChaCha20-Poly1305 (RFC 8439) seal: ciphertext || 16-byte tag. */
export function chachaSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  checkBytes(key, 32, "ChaCha20-Poly1305 key");
  checkBytes(nonce, CHACHA_NONCE_BYTES, "ChaCha20-Poly1305 nonce");
  return chacha20poly1305(key, nonce, ad).encrypt(plaintext);
}

/** ChaCha20-Poly1305 open; null when authentication fails. */
export function chachaOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  checkBytes(key, 32, "ChaCha20-Poly1305 key");
  checkBytes(nonce, CHACHA_NONCE_BYTES, "ChaCha20-Poly1305 nonce");
  if (sealed.length < AEAD_TAG_BYTES) return null;
  try {
    return chacha20poly1305(key, nonce, ad).decrypt(sealed);
  } catch {
    return null;
  }
}

/** An AES-256-GCM key imported once and used for many chunks. */
export interface AesGcmKey {
  seal(nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Promise<Uint8Array>;
  /** null when authentication fails. */
  open(nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Promise<Uint8Array | null>;
}

export async function aesGcmKey(raw: Uint8Array): Promise<AesGcmKey> {
  checkBytes(raw, 32, "AES-256-GCM key");
  const b = await cryptoBackend();
  if (!b.aesGcm) {
    const rawCopy = raw.slice();
    return {
      seal: async (nonce, plaintext, ad) => gcm(rawCopy, nonce, ad).encrypt(plaintext),
      open: async (nonce, sealed, ad) => {
        try {
          return gcm(rawCopy, nonce, ad).decrypt(sealed);
        } catch {
          return null;
        }
      },
    };
  }
  const s = subtle()!;
  const key = await s.importKey("raw", ab(raw), { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
  return {
    seal: async (nonce, plaintext, ad) =>
      new Uint8Array(await s.encrypt({ name: "AES-GCM", iv: ab(nonce), additionalData: ab(ad) }, key, ab(plaintext))),
    open: async (nonce, sealed, ad) => {
      if (sealed.length < AEAD_TAG_BYTES) return null;
      try {
        return new Uint8Array(await s.decrypt({ name: "AES-GCM", iv: ab(nonce), additionalData: ab(ad) }, key, ab(sealed)));
      } catch {
        return null;
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// ML-KEM-768 (FIPS 203), @noble only

export function mlKemGenerateKeyPair(rng: Rng = systemRng): KeyPair {
  const { publicKey, secretKey } = ml_kem768.keygen(rng(64));
  return { privateKey: secretKey, publicKey };
}

export function mlKemEncapsulate(publicKey: Uint8Array, rng: Rng = systemRng): { ciphertext: Uint8Array; sharedSecret: Uint8Array } {
  checkBytes(publicKey, ML_KEM_768_PUBLIC_BYTES, "ML-KEM-768 public key");
  try {
    const { cipherText, sharedSecret } = ml_kem768.encapsulate(publicKey, rng(32));
    return { ciphertext: cipherText, sharedSecret };
  } catch {
    // FIPS 203 section 7.2 input check: coefficients must be reduced mod q.
    throw new CryptoError("INVALID_KEY", "ML-KEM-768 public key fails the modulus check");
  }
}

/** Implicit rejection (FIPS 203): a tampered ciphertext yields an unrelated secret, never an error. */
export function mlKemDecapsulate(ciphertext: Uint8Array, secretKey: Uint8Array): Uint8Array {
  checkBytes(ciphertext, ML_KEM_768_CIPHERTEXT_BYTES, "ML-KEM-768 ciphertext");
  checkBytes(secretKey, ML_KEM_768_SECRET_BYTES, "ML-KEM-768 secret key");
  return ml_kem768.decapsulate(ciphertext, secretKey);
}
