/**
 * @module Node's own crypto (OpenSSL) as a synchronous backend for primitives.ts: Ed25519, X25519,
 * AES-256-GCM, SHA-512, HMAC-SHA-256 and ChaCha20-Poly1305 without a promise or a thread-pool hop
 * (a Node 20 WebCrypto call costs 60-150 µs of main-thread work before OpenSSL even starts).
 *
 * node:crypto is obtained at run time through `process.getBuiltinModule` (Node >= 20.16), never by
 * an import, so bundles for browsers and Workers contain no reference to it; where it is absent
 * `loadNodeBackend()` returns null. primitives.ts decides whether to use it (probe vectors).
 *
 * Keys are created by importing bytes (JWK; Node 20 has no raw private import, and PKCS#8 costs
 * ~1 ms in OpenSSL 3's decoders), never with generateKeyPairSync: in Node 20 a garbage collection
 * during the JWK export of a freshly generated key can run the key-generation job's destructor,
 * which takes the key's mutex the export already holds, and the process hangs (seen here).
 * KeyObjects are cached by content (key-cache.ts) because records are decoded on every operation.
 */
import type * as NodeCryptoModule from "node:crypto";
import { bytesEqual, fromBase64, toBase64Url } from "../../protocol/encoding";
import { releaseBuffer } from "../release-buffer";
import { CryptoError } from "./errors";
import { cacheId, KeyCache } from "./key-cache";

type NodeCrypto = typeof NodeCryptoModule;
type KeyObject = NodeCryptoModule.KeyObject;

export interface KeyPairBytes {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** A synchronous AES-256-GCM key: seal gives ciphertext || 16-byte tag, open gives null on a bad tag. */
export interface SyncAesGcm {
  seal(nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array;
  open(nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null;
  /** `seal` written into `dest` (plaintext.length + 16 bytes) instead of a new buffer. */
  sealInto(nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array, dest: Uint8Array): void;
  /** `open` written into `dest` (sealed.length - 16 bytes); false on a bad tag, and `dest` then holds bytes to throw away. */
  openInto(nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array, dest: Uint8Array): boolean;
}

const TAG_BYTES = 16;
/**
 * Bulk input goes through the cipher in pieces of this size: each update() returns a new buffer,
 * and one of 256 KiB (a media chunk) costs fresh pages (page faults, ~60 µs) while 64 KiB ones come
 * from malloc's reused memory. Measured on the reference machine: 228-240 against 270 µs per chunk.
 */
const UPDATE_PIECE_BYTES = 64 * 1024;
type Curve = "X25519" | "Ed25519";
type Aead = "aes-256-gcm" | "chacha20-poly1305";

/** A plain Uint8Array over a Buffer's bytes (no copy): callers compare and slice these like any other. */
function bytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function jwkPublic(key: KeyObject): Uint8Array {
  const out = fromBase64(key.export({ format: "jwk" }).x ?? "");
  if (!out || out.length !== 32) throw new CryptoError("INVALID_KEY", "node:crypto exported an unexpected key");
  return out;
}

export class NodeBackend {
  private readonly keys = new KeyCache<KeyObject>();

  constructor(private readonly c: NodeCrypto) {}

  clear(): void {
    this.keys.clear();
  }

  private importPrivate(curve: Curve, privateKey: Uint8Array): KeyObject {
    // Node reads only `d` and derives the public key itself; `x` must merely be a string.
    return this.c.createPrivateKey({ key: { kty: "OKP", crv: curve, d: toBase64Url(privateKey), x: "" }, format: "jwk" });
  }

  /** The cached private KeyObject of a stored pair, refusing a pair whose halves do not match. */
  private privateKey(kind: string, curve: Curve, pair: KeyPairBytes): KeyObject {
    return this.keys.through(kind, pair.privateKey, () => {
      const key = this.importPrivate(curve, pair.privateKey);
      if (!bytesEqual(jwkPublic(key), pair.publicKey)) throw new CryptoError("INVALID_KEY", `stored ${curve} key pair is inconsistent`);
      return key;
    });
  }

  private publicKey(kind: string, curve: Curve, publicKey: Uint8Array): KeyObject {
    return this.keys.through(kind, publicKey, () => this.c.createPublicKey({ key: { kty: "OKP", crv: curve, x: toBase64Url(publicKey) }, format: "jwk" }));
  }

  /** The pair of a private key (32 random bytes from the caller's RNG); the KeyObject stays cached for the first use. */
  private pairOf(kind: string, curve: Curve, privateKey: Uint8Array): KeyPairBytes {
    const key = this.importPrivate(curve, privateKey);
    this.keys.set(cacheId(kind, privateKey), key);
    return { privateKey, publicKey: jwkPublic(key) };
  }

  x25519Pair(privateKey: Uint8Array): KeyPairBytes {
    return this.pairOf("xs", "X25519", privateKey);
  }

  /** Throws INVALID_KEY for a low-order peer key (OpenSSL refuses the all-zero result itself). */
  x25519Agree(ours: KeyPairBytes, theirPublic: Uint8Array): Uint8Array {
    const privateKey = this.privateKey("xs", "X25519", ours);
    const publicKey = this.publicKey("xp", "X25519", theirPublic);
    try {
      return bytes(this.c.diffieHellman({ privateKey, publicKey }));
    } catch {
      throw new CryptoError("INVALID_KEY", "X25519 public key is a low-order point");
    }
  }

  ed25519Pair(seed: Uint8Array): KeyPairBytes {
    return this.pairOf("es", "Ed25519", seed);
  }

  ed25519Sign(ours: KeyPairBytes, message: Uint8Array): Uint8Array {
    return bytes(this.c.sign(null, message, this.privateKey("es", "Ed25519", ours)));
  }

  /** Strict RFC 8032 verification (OpenSSL); false for a public key that is not a curve point. */
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    try {
      return this.c.verify(null, message, this.publicKey("ep", "Ed25519", publicKey), signature);
    } catch {
      return false;
    }
  }

  /**
   * The same verdict as `ed25519Verify`, computed by OpenSSL on libuv's thread pool (Node's
   * callback form of crypto.verify): the main thread pays ~10-20 µs to dispatch the job and is
   * free for other work while the second core verifies.
   */
  ed25519VerifyOnPool(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    return new Promise((resolve) => {
      try {
        this.c.verify(null, message, this.publicKey("ep", "Ed25519", publicKey), signature, (err, ok) => resolve(!err && ok));
      } catch {
        resolve(false); // not a curve point
      }
    });
  }

  aesGcm(raw: Uint8Array): SyncAesGcm {
    const key = this.c.createSecretKey(raw);
    const gcm = "aes-256-gcm";
    return {
      seal: (nonce, plaintext, ad) => this.seal(gcm, key, nonce, plaintext, ad),
      open: (nonce, sealed, ad) => this.open(gcm, key, nonce, sealed, ad),
      sealInto: (nonce, plaintext, ad, dest) => this.sealInto(gcm, key, nonce, plaintext, ad, dest),
      openInto: (nonce, sealed, ad, dest) => this.openInto(gcm, key, nonce, sealed, ad, dest),
    };
  }

  /** ciphertext || 16-byte tag. Both AEADs hold nothing back: update() returns every byte. */
  private seal(algorithm: Aead, key: NodeCryptoModule.CipherKey, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
    const out = new Uint8Array(plaintext.length + TAG_BYTES);
    this.sealInto(algorithm, key, nonce, plaintext, ad, out);
    return out;
  }

  private sealInto(algorithm: Aead, key: NodeCryptoModule.CipherKey, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array, dest: Uint8Array): void {
    if (dest.length !== plaintext.length + TAG_BYTES) throw new CryptoError("INVALID_INPUT", "AEAD output buffer has the wrong size");
    const cipher = this.c.createCipheriv(algorithm as NodeCryptoModule.CipherGCMTypes, key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(ad, { plaintextLength: plaintext.length });
    for (let o = 0; o < plaintext.length; o += UPDATE_PIECE_BYTES) copyOut(cipher.update(plaintext.subarray(o, o + UPDATE_PIECE_BYTES)), dest, o);
    cipher.final();
    dest.set(cipher.getAuthTag(), plaintext.length);
  }

  /** The plaintext, or null when the tag does not verify. */
  private open(algorithm: Aead, key: NodeCryptoModule.CipherKey, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
    if (sealed.length < TAG_BYTES) return null;
    const body = sealed.length - TAG_BYTES;
    if (body > UPDATE_PIECE_BYTES) {
      const out = new Uint8Array(body);
      return this.openInto(algorithm, key, nonce, sealed, ad, out) ? out : null;
    }
    // A message-sized body: update()'s own buffer is the result, no copy.
    const decipher = this.decipher(algorithm, key, nonce, sealed, ad);
    const plaintext = decipher.update(sealed.subarray(0, body));
    return finalOk(decipher) ? bytes(plaintext) : null;
  }

  private openInto(algorithm: Aead, key: NodeCryptoModule.CipherKey, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array, dest: Uint8Array): boolean {
    if (sealed.length < TAG_BYTES) return false;
    const body = sealed.length - TAG_BYTES;
    if (dest.length !== body) throw new CryptoError("INVALID_INPUT", "AEAD output buffer has the wrong size");
    const decipher = this.decipher(algorithm, key, nonce, sealed, ad);
    for (let o = 0; o < body; o += UPDATE_PIECE_BYTES) copyOut(decipher.update(sealed.subarray(o, Math.min(body, o + UPDATE_PIECE_BYTES))), dest, o);
    return finalOk(decipher);
  }

  private decipher(algorithm: Aead, key: NodeCryptoModule.CipherKey, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): NodeCryptoModule.DecipherGCM {
    const body = sealed.length - TAG_BYTES;
    const decipher = this.c.createDecipheriv(algorithm as NodeCryptoModule.CipherGCMTypes, key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(ad, { plaintextLength: body });
    decipher.setAuthTag(sealed.subarray(body));
    return decipher;
  }

  sha512(data: Uint8Array): Uint8Array {
    return bytes(this.c.createHash("sha512").update(data).digest());
  }

  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
    return bytes(this.c.createHmac("sha256", key).update(data).digest());
  }

  chachaSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
    return this.seal("chacha20-poly1305", key, nonce, plaintext, ad);
  }

  chachaOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
    return this.open("chacha20-poly1305", key, nonce, sealed, ad);
  }
}

/**
 * Copies one update() output into place and frees it: update() made it for this call alone and
 * nothing else holds it, and a media chunk's worth of these per chunk would otherwise wait for a GC.
 */
function copyOut(piece: Uint8Array, dest: Uint8Array, at: number): void {
  dest.set(piece, at);
  releaseBuffer(piece);
}

/** Whether the tag verified (final() throws when it does not). */
function finalOk(decipher: NodeCryptoModule.DecipherGCM): boolean {
  try {
    decipher.final();
    return true;
  } catch {
    return false;
  }
}

/** Node's crypto module where the runtime offers it without an import, else null (browsers, Workers without it, old Node). */
export function loadNodeBackend(): NodeBackend | null {
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const mod = proc?.getBuiltinModule?.("node:crypto") as NodeCrypto | undefined;
    if (!mod || typeof mod.sign !== "function" || typeof mod.diffieHellman !== "function" || typeof mod.createPrivateKey !== "function") return null;
    return new NodeBackend(mod);
  } catch {
    return null;
  }
}
