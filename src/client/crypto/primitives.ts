/**
 * @module The only file that chooses a cryptography backend; everything above it works on
 * Uint8Array and never sees a CryptoKey, a KeyObject or a noble object.
 *
 * Backend order, per family (X25519, Ed25519, AES-256-GCM, SHA-512, and the small symmetric
 * steps HMAC-SHA-256/HKDF and ChaCha20-Poly1305), each chosen once by running published vectors
 * through it (RFC 7748, RFC 8032, GCM test case 14, FIPS 180 "abc", RFC 5869 A.1, RFC 8439
 * 2.8.2); a backend that is absent, throws or gives other bytes is skipped:
 * 1. node:crypto (node-backend.ts; Node >= 20.16, reached without an import so browser and
 *    Workers bundles stay clean): synchronous OpenSSL, no promise, no thread-pool hop. Measured
 *    on the 2-core reference machine (docs/PERFORMANCE.md): X25519 ~70 µs, Ed25519 sign ~57 µs
 *    and verify ~140 µs, against ~100-200 µs of mostly main-thread overhead per WebCrypto call.
 *    Where the caller has other work to overlap, `ed25519VerifyInBackground` runs the check on
 *    libuv's thread pool instead (a burst of group messages, a bundle's signatures beside
 *    ML-KEM): ~5 µs to dispatch, but ~50 µs more CPU than the synchronous call, so a lone
 *    message stays synchronous. Media chunk hashes go to WebCrypto's thread pool two at a time
 *    while the main thread seals, opens and hashes the rest (media.ts).
 * 2. WebCrypto (Workers, browsers) for X25519, Ed25519, AES-GCM and SHA-512: 15-25x faster than
 *    @noble's elliptic curves. Small symmetric steps never go through WebCrypto: one call costs
 *    more scheduling than the work.
 * 3. @noble everywhere else (React Native without a WebCrypto polyfill, older browsers), and for
 *    ML-KEM-768, which no runtime here offers natively.
 * Every backend gives identical bytes (tested), so a session may move between them.
 * `useCryptoBackend()` starts the order further down: tests, the benchmark
 * (`PARLEY_CRYPTO_BACKEND=webcrypto|noble npm run bench:crypto`), and an app's escape hatch.
 *
 * Imported keys are cached by content (bounded LRU, key-cache.ts) because records are decoded from
 * bytes on every operation; `clearKeyCache()` drops them (e.g. on logout).
 */
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { gcm } from "@noble/ciphers/aes.js";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { expand, hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 as nobleSha256, sha512 as nobleSha512 } from "@noble/hashes/sha2.js";
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";
import { bytesEqual, concatBytes, fromBase64, toBase64Url, utf8 } from "../../protocol/encoding";
import { releaseBuffer } from "../release-buffer";
import { CryptoError, checkBytes } from "./errors";
import { cacheId, KeyCache } from "./key-cache";
import { loadNodeBackend, type NodeBackend } from "./node-backend";

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

export type BackendName = "node" | "webcrypto" | "noble";
const BACKEND_ORDER: readonly BackendName[] = ["node", "webcrypto", "noble"];

/** Which implementation runs each family. Detected once; tests may start the order further down. */
export interface Backend {
  x25519: BackendName;
  ed25519: BackendName;
  aesGcm: BackendName;
  /**
   * SHA-512 of bulk data on the thread pool (`sha512Async`, media): WebCrypto before node:crypto.
   * The synchronous `sha512` (short inputs, and media chunks the main thread hashes itself) uses
   * node:crypto whenever its probe passed.
   */
  sha512: BackendName;
  /** HMAC-SHA-256 (so HKDF) and ChaCha20-Poly1305: synchronous steps, node or noble only. */
  symmetric: "node" | "noble";
}
type Family = keyof Backend;

function subtle(): SubtleCrypto | undefined {
  return globalThis.crypto?.subtle;
}

/** WebCrypto wants ArrayBuffer-backed views; copy the rare SharedArrayBuffer-backed one. */
function ab(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));

// Probe vectors, shared by every backend.
const RFC7748 = {
  alicePrivate: hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
  alicePublic: hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"),
  bobPublic: hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"),
  shared: hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"),
};
/** RFC 8032 section 7.1, TEST 1 (empty message). */
const RFC8032 = {
  seed: hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
  publicKey: hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
  signature: hex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  ),
};

/** Runs a probe; a throw counts as a failure (a half-working backend is no backend). */
function passes(run: () => boolean): boolean {
  try {
    return run();
  } catch {
    return false;
  }
}

async function passesAsync(run: () => Promise<boolean>): Promise<boolean> {
  try {
    return await run();
  } catch {
    return false;
  }
}

function probeNode(node: NodeBackend): Record<Family, boolean> {
  return {
    x25519: passes(() => {
      const alice = node.x25519Pair(RFC7748.alicePrivate);
      return bytesEqual(alice.publicKey, RFC7748.alicePublic) && bytesEqual(node.x25519Agree(alice, RFC7748.bobPublic), RFC7748.shared);
    }),
    ed25519: passes(() => {
      const pair = node.ed25519Pair(RFC8032.seed);
      const sig = node.ed25519Sign(pair, new Uint8Array(0));
      return bytesEqual(pair.publicKey, RFC8032.publicKey) && bytesEqual(sig, RFC8032.signature) && node.ed25519Verify(pair.publicKey, new Uint8Array(0), sig);
    }),
    // GCM specification test case 14 (AES-256, zero key and IV, one zero block).
    aesGcm: passes(() => {
      const key = node.aesGcm(new Uint8Array(32));
      const sealed = key.seal(new Uint8Array(12), new Uint8Array(16), new Uint8Array(0));
      const opened = key.open(new Uint8Array(12), sealed, new Uint8Array(0));
      return bytesEqual(sealed, hex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919")) && opened !== null && bytesEqual(opened, new Uint8Array(16));
    }),
    // FIPS 180-2 appendix C.1: SHA-512("abc").
    sha512: passes(() =>
      bytesEqual(
        node.sha512(utf8("abc")),
        hex("ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
      ),
    ),
    // RFC 5869 A.1 through HMAC, and RFC 8439 section 2.8.2.
    symmetric: passes(() => {
      const okm = hkdfWith((k, d) => node.hmacSha256(k, d), hex("0b".repeat(22)), hex("000102030405060708090a0b0c"), hex("f0f1f2f3f4f5f6f7f8f9"), 42);
      const key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
      const nonce = hex("070000004041424344454647");
      const ad = hex("50515253c0c1c2c3c4c5c6c7");
      const text = utf8("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
      const sealed = node.chachaSeal(key, nonce, text, ad);
      const opened = node.chachaOpen(key, nonce, sealed, ad);
      return (
        bytesEqual(okm, hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")) &&
        bytesEqual(
          sealed,
          hex(
            "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116" +
              "1ae10b594f09e26a7e902ecbd0600691",
          ),
        ) &&
        opened !== null &&
        bytesEqual(opened, text)
      );
    }),
  };
}

async function probeWebCrypto(): Promise<Record<Family, boolean>> {
  const s = subtle();
  if (!s) return { x25519: false, ed25519: false, aesGcm: false, sha512: false, symmetric: false };
  const x = passesAsync(async () => {
    const priv = await importX25519Private(RFC7748.alicePrivate, RFC7748.alicePublic);
    const pub = await s.importKey("raw", ab(RFC7748.bobPublic), { name: "X25519" }, false, []);
    return bytesEqual(new Uint8Array(await s.deriveBits({ name: "X25519", public: pub }, priv, 256)), RFC7748.shared);
  });
  const e = passesAsync(async () => {
    const key = await importEd25519Private(RFC8032.seed, RFC8032.publicKey);
    return bytesEqual(new Uint8Array(await s.sign({ name: "Ed25519" }, key, new Uint8Array(0))), RFC8032.signature);
  });
  const a = passesAsync(async () => {
    const key = await s.importKey("raw", new Uint8Array(32), { name: "AES-GCM" }, false, ["encrypt"]);
    const out = await s.encrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, key, new Uint8Array(16));
    return bytesEqual(new Uint8Array(out), hex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"));
  });
  const h = passesAsync(async () => (await s.digest("SHA-512", new Uint8Array(0))).byteLength === 64);
  const [x25519Ok, ed25519Ok, aesOk, shaOk] = await Promise.all([x, e, a, h]);
  return { x25519: x25519Ok, ed25519: ed25519Ok, aesGcm: aesOk, sha512: shaOk, symmetric: false };
}

/** Where the order starts (`useCryptoBackend()`): node:crypto unless told otherwise. */
let firstBackend: BackendName = "node";

const allowed = (name: BackendName) => BACKEND_ORDER.indexOf(name) >= BACKEND_ORDER.indexOf(firstBackend);

/** node:crypto and the families it passed, found synchronously (the synchronous primitives need it at once). */
let nodeDetected: { node: NodeBackend; ok: Record<Family, boolean> } | null | undefined;

function nodeProbed(): { node: NodeBackend; ok: Record<Family, boolean> } | null {
  if (nodeDetected === undefined) {
    const node = allowed("node") ? loadNodeBackend() : null;
    nodeDetected = node ? { node, ok: probeNode(node) } : null;
  }
  return nodeDetected;
}

/** node:crypto when it runs `family`, for the synchronous primitives. */
function nodeFor(family: Family): NodeBackend | null {
  const n = nodeProbed();
  return n && n.ok[family] ? n.node : null;
}

let backendPromise: Promise<Backend> | undefined;
/** The detected backend once the promise settled: the hot paths skip an await with it. */
let resolved: Backend | undefined;

async function detect(): Promise<Backend> {
  const n = nodeProbed();
  const web = allowed("webcrypto") ? await probeWebCrypto() : null;
  const pick = (family: Family): BackendName => (n?.ok[family] ? "node" : web?.[family] ? "webcrypto" : "noble");
  return {
    x25519: pick("x25519"),
    ed25519: pick("ed25519"),
    aesGcm: pick("aesGcm"),
    // Bulk hashing can use the thread pool: media hashes a chunk or two there while the main
    // thread seals and hashes the next ones (both cores busy; measured in docs/PERFORMANCE.md).
    sha512: web?.sha512 ? "webcrypto" : pick("sha512"),
    symmetric: n?.ok.symmetric ? "node" : "noble",
  };
}

/** Resolves the backend once; every async primitive awaits it (a resolved promise after the first call). */
export function cryptoBackend(): Promise<Backend> {
  backendPromise ??= detect().then((b) => (resolved = b));
  return backendPromise;
}

async function backend(): Promise<Backend> {
  return resolved ?? cryptoBackend();
}

/**
 * Test, benchmark and escape-hatch hook: start the backend order at `first` ("webcrypto" skips
 * node:crypto, "noble" uses @noble only), or null for the default order.
 */
export function useCryptoBackend(first: BackendName | null): void {
  clearKeyCache();
  firstBackend = first ?? "node";
  nodeDetected = undefined;
  backendPromise = undefined;
  resolved = undefined;
}

/** Run everything on @noble (as on a runtime without native X25519/Ed25519), or re-detect. */
export function useNobleOnly(on: boolean): void {
  useCryptoBackend(on ? "noble" : null);
}

// ---------------------------------------------------------------------------------------------
// Imported-key caches (bounded LRU keyed by algorithm + key bytes)

const keyCache = new KeyCache<CryptoKey>();

async function cachedKey(kind: string, bytes: Uint8Array, load: () => Promise<CryptoKey>): Promise<CryptoKey> {
  const id = cacheId(kind, bytes);
  const hit = keyCache.get(id);
  if (hit) return hit;
  const key = await load();
  keyCache.set(id, key);
  return key;
}

export function clearKeyCache(): void {
  keyCache.clear();
  montgomeryCache.clear();
  nodeDetected?.node.clear();
  spareX25519 = null;
}

// JWK is the cheapest private-key import in Node's WebCrypto (PKCS#8 costs ~700 µs); it needs the public part too.
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
 * New X25519 key pair. node:crypto and @noble derive it from 32 bytes of `rng` (so a seeded RNG
 * gives the same pair on both); WebCrypto with the system RNG generates it (generateKey + a JWK
 * export, ~160 µs) with a spare made in the background.
 */
export async function x25519GenerateKeyPair(rng: Rng = systemRng): Promise<KeyPair> {
  const b = await backend();
  if (b.x25519 === "node") return nodeFor("x25519")!.x25519Pair(rng(32));
  if (b.x25519 === "webcrypto" && rng === systemRng) {
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

/** Public key of an X25519 private key. */
export function x25519PublicKey(privateKey: Uint8Array): Uint8Array {
  checkBytes(privateKey, 32, "X25519 private key");
  const node = nodeFor("x25519");
  return node ? node.x25519Pair(privateKey).publicKey : x25519.getPublicKey(privateKey);
}

/**
 * X25519(privateKey, publicKey). The caller passes the matching public key of `privateKey`
 * (every record stores it): WebCrypto's JWK import wants both, and node:crypto checks the pair.
 * Rejects an all-zero result (a low-order peer key), as RFC 7748 section 6.1 recommends.
 */
export async function x25519Agree(ours: KeyPair, theirPublic: Uint8Array): Promise<Uint8Array> {
  checkBytes(ours.privateKey, 32, "X25519 private key");
  checkBytes(theirPublic, 32, "X25519 public key");
  const b = resolved ?? (await backend());
  let out: Uint8Array;
  if (b.x25519 === "node") {
    out = nodeFor("x25519")!.x25519Agree(ours, theirPublic);
  } else if (b.x25519 === "webcrypto") {
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
  const b = await backend();
  if (b.ed25519 === "node") return nodeFor("ed25519")!.ed25519Pair(rng(32));
  if (b.ed25519 === "webcrypto" && rng === systemRng) {
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

/** Ed25519 public key of a 32-byte seed. */
export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  checkBytes(seed, 32, "Ed25519 seed");
  const node = nodeFor("ed25519");
  return node ? node.ed25519Pair(seed).publicKey : ed25519.getPublicKey(seed);
}

export async function ed25519Sign(ours: KeyPair, message: Uint8Array): Promise<Uint8Array> {
  checkBytes(ours.privateKey, 32, "Ed25519 seed");
  checkBytes(ours.publicKey, 32, "Ed25519 public key");
  const b = resolved ?? (await backend());
  if (b.ed25519 === "node") return nodeFor("ed25519")!.ed25519Sign(ours, message);
  if (b.ed25519 === "noble") return ed25519.sign(message, ours.privateKey);
  const key = await cachedKey("es", ours.privateKey, () => importEd25519Private(ours.privateKey, ours.publicKey)).catch(() => {
    throw new CryptoError("INVALID_KEY", "Ed25519 key pair is inconsistent");
  });
  return new Uint8Array(await subtle()!.sign({ name: "Ed25519" }, key, ab(message)));
}

/** Strict RFC 8032 verification (OpenSSL/BoringSSL; noble with zip215 off, which matches them). */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  return verify(publicKey, message, signature, false);
}

/**
 * `ed25519Verify` for a caller with other work to do before it needs the verdict (a burst of group
 * messages, the handshake's ML-KEM step): node:crypto then verifies on libuv's thread pool, so the
 * second core does it while the main thread goes on (WebCrypto always works there; @noble cannot).
 * Alone it is no faster: the job costs ~10-20 µs more than the synchronous call.
 */
export function ed25519VerifyInBackground(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  return verify(publicKey, message, signature, true);
}

async function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, onPool: boolean): Promise<boolean> {
  checkBytes(publicKey, 32, "Ed25519 public key");
  if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_BYTES) return false;
  const b = resolved ?? (await backend());
  if (b.ed25519 === "node") {
    const node = nodeFor("ed25519")!;
    return onPool ? node.ed25519VerifyOnPool(publicKey, message, signature) : node.ed25519Verify(publicKey, message, signature);
  }
  if (b.ed25519 === "noble") {
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

const montgomeryCache = new KeyCache<Uint8Array>();

/**
 * X25519 form of an Ed25519 public key (birational map u = (1+y)/(1-y)). Costs ~200 µs in noble
 * (point decoding), so results are cached; identity keys are long-lived.
 */
export function edwardsToMontgomeryPublic(publicKey: Uint8Array): Uint8Array {
  checkBytes(publicKey, 32, "Ed25519 public key");
  return montgomeryCache.through("", publicKey, () => {
    try {
      return ed25519.utils.toMontgomery(publicKey);
    } catch {
      throw new CryptoError("INVALID_KEY", "identity key is not a valid Ed25519 point");
    }
  });
}

/** X25519 form of an Ed25519 seed: the clamped SHA-512 scalar, as RFC 8032 derives it. */
export function edwardsToMontgomeryPrivate(seed: Uint8Array): Uint8Array {
  checkBytes(seed, 32, "Ed25519 seed");
  return ed25519.utils.toMontgomerySecret(seed);
}

// ---------------------------------------------------------------------------------------------
// Hashes and KDFs (synchronous: node:crypto, else @noble)

export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

export function sha512(data: Uint8Array): Uint8Array {
  const node = nodeFor("sha512");
  return node ? node.sha512(data) : nobleSha512(data);
}

/** SHA-512 of a large buffer: WebCrypto (OpenSSL on the thread pool), else node:crypto, else @noble. */
export async function sha512Async(data: Uint8Array): Promise<Uint8Array> {
  const b = resolved ?? (await backend());
  if (b.sha512 === "node") return nodeFor("sha512")!.sha512(data);
  if (b.sha512 === "noble") return nobleSha512(data);
  return new Uint8Array(await subtle()!.digest("SHA-512", ab(data)));
}

export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  const node = nodeFor("symmetric");
  return node ? node.hmacSha256(key, data) : hmac(nobleSha256, key, data);
}

type Mac = (key: Uint8Array, data: Uint8Array) => Uint8Array;

/** RFC 5869 section 2.3 over any HMAC-SHA-256: T(i) = HMAC(PRK, T(i-1) || info || i). */
function expandWith(mac: Mac, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * 32) throw new CryptoError("INVALID_INPUT", "HKDF output length out of range");
  const out = new Uint8Array(length);
  let t: Uint8Array = new Uint8Array(0);
  for (let i = 1, o = 0; o < length; i++, o += 32) {
    t = mac(prk, concatBytes(t, info, Uint8Array.of(i)));
    out.set(t.subarray(0, Math.min(32, length - o)), o);
  }
  return out;
}

/** HKDF (RFC 5869); an empty salt is HashLen zero bytes, which HMAC's zero padding makes the same key. */
function hkdfWith(mac: Mac, ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return expandWith(mac, mac(salt, ikm), info, length);
}

/** HKDF-Expand-SHA-256 (RFC 5869 section 2.3) from a pseudorandom key; one HMAC per 32 bytes. */
export function hkdfExpandSha256(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const node = nodeFor("symmetric");
  return node ? expandWith((k, d) => node.hmacSha256(k, d), prk, info, length) : expand(nobleSha256, prk, info, length);
}

/** HKDF-SHA-256 (RFC 5869). An empty salt means HashLen zero bytes, as the RFC specifies. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const node = nodeFor("symmetric");
  return node ? hkdfWith((k, d) => node.hmacSha256(k, d), ikm, salt, info, length) : hkdf(nobleSha256, ikm, salt, info, length);
}

// ---------------------------------------------------------------------------------------------
// AEADs

/** ChaCha20-Poly1305 (RFC 8439) seal: ciphertext || 16-byte tag. */
export function chachaSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  checkBytes(key, 32, "ChaCha20-Poly1305 key");
  checkBytes(nonce, CHACHA_NONCE_BYTES, "ChaCha20-Poly1305 nonce");
  const node = nodeFor("symmetric");
  return node ? node.chachaSeal(key, nonce, plaintext, ad) : chacha20poly1305(key, nonce, ad).encrypt(plaintext);
}

/** ChaCha20-Poly1305 open; null when authentication fails. */
export function chachaOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  checkBytes(key, 32, "ChaCha20-Poly1305 key");
  checkBytes(nonce, CHACHA_NONCE_BYTES, "ChaCha20-Poly1305 nonce");
  if (sealed.length < AEAD_TAG_BYTES) return null;
  const node = nodeFor("symmetric");
  if (node) return node.chachaOpen(key, nonce, sealed, ad);
  try {
    return chacha20poly1305(key, nonce, ad).decrypt(sealed);
  } catch {
    return null;
  }
}

/** An AES-256-GCM key imported once and used for many chunks. */
export interface AesGcmKey {
  /** sealInto/openInto finish before they return (node:crypto): nothing to wait for, nothing on the thread pool. */
  readonly synchronous: boolean;
  seal(nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Promise<Uint8Array>;
  /** null when authentication fails. */
  open(nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Promise<Uint8Array | null>;
  /**
   * `seal` written into `dest` (plaintext.length + 16 bytes). Returns nothing when the work is
   * already done (node:crypto runs synchronously, so a caller can hand `dest` on at once), else a
   * promise of it.
   */
  sealInto(nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array, dest: Uint8Array): Promise<void> | void;
  /**
   * `open` written into `dest` (sealed.length - 16 bytes): whether the tag verified, or a promise
   * of it. On false `dest` holds unauthenticated bytes that must not be used.
   */
  openInto(nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array, dest: Uint8Array): Promise<boolean> | boolean;
}

/** sealInto/openInto over a key that only has seal/open (WebCrypto and @noble produce their own buffers). */
function withInto(key: Pick<AesGcmKey, "seal" | "open">): AesGcmKey {
  return {
    ...key,
    synchronous: false,
    // The backend's result was made for this call alone and is copied out: free it now (release-buffer.ts).
    sealInto: async (nonce, plaintext, ad, dest) => {
      if (dest.length !== plaintext.length + AEAD_TAG_BYTES) throw new CryptoError("INVALID_INPUT", "AEAD output buffer has the wrong size");
      const sealed = await key.seal(nonce, plaintext, ad);
      dest.set(sealed);
      releaseBuffer(sealed);
    },
    openInto: async (nonce, sealed, ad, dest) => {
      if (sealed.length < AEAD_TAG_BYTES) return false;
      if (dest.length !== sealed.length - AEAD_TAG_BYTES) throw new CryptoError("INVALID_INPUT", "AEAD output buffer has the wrong size");
      const plain = await key.open(nonce, sealed, ad);
      if (plain) {
        dest.set(plain);
        releaseBuffer(plain);
      }
      return plain !== null;
    },
  };
}

export async function aesGcmKey(raw: Uint8Array): Promise<AesGcmKey> {
  checkBytes(raw, 32, "AES-256-GCM key");
  const b = await backend();
  if (b.aesGcm === "node") {
    const key = nodeFor("aesGcm")!.aesGcm(raw);
    return {
      synchronous: true,
      seal: async (nonce, plaintext, ad) => key.seal(nonce, plaintext, ad),
      open: async (nonce, sealed, ad) => key.open(nonce, sealed, ad),
      sealInto: (nonce, plaintext, ad, dest) => key.sealInto(nonce, plaintext, ad, dest),
      openInto: (nonce, sealed, ad, dest) => (sealed.length < AEAD_TAG_BYTES ? false : key.openInto(nonce, sealed, ad, dest)),
    };
  }
  if (b.aesGcm === "noble") {
    const rawCopy = raw.slice();
    return withInto({
      seal: async (nonce, plaintext, ad) => gcm(rawCopy, nonce, ad).encrypt(plaintext),
      open: async (nonce, sealed, ad) => {
        try {
          return gcm(rawCopy, nonce, ad).decrypt(sealed);
        } catch {
          return null;
        }
      },
    });
  }
  const s = subtle()!;
  const key = await s.importKey("raw", ab(raw), { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
  return withInto({
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
  });
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
