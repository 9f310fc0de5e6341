/**
 * Published vectors for every primitive the protocol uses, run through src/client/crypto/primitives.ts
 * on each backend in turn (node:crypto, WebCrypto, @noble), each forced and checked to be the one
 * running. Sources: test/vectors/README.md.
 */
import { shake128 } from "@noble/hashes/sha3.js";
import { afterAll, describe, expect, it } from "vitest";
import {
  aesGcmKey,
  chachaOpen,
  chachaSeal,
  type Backend,
  type BackendName,
  cryptoBackend,
  ed25519GenerateKeyPair,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  hkdfSha256,
  mlKemDecapsulate,
  mlKemEncapsulate,
  mlKemGenerateKeyPair,
  sha512,
  sha512Async,
  useCryptoBackend,
  x25519Agree,
  x25519GenerateKeyPair,
  x25519PublicKey,
} from "../../src/client/crypto/primitives";
import { CryptoError } from "../../src/client/crypto/errors";
import aesGcm from "../vectors/nist-aes256-gcm.json";
import chacha from "../vectors/rfc8439-chacha20poly1305.json";
import ed from "../vectors/rfc8032-ed25519.json";
import hkdf from "../vectors/rfc5869-hkdf-sha256.json";
import x from "../vectors/rfc7748-x25519.json";
import mlkem from "../vectors/cctv-ml-kem-768-strcmp.json";
import { hex, seededRng, toHex } from "./support";

/** What each forced start of the order must give on Node 20 (node:crypto passes every probe here). */
const expected: Record<BackendName, Backend> = {
  node: { x25519: "node", ed25519: "node", aesGcm: "node", sha512: "webcrypto", symmetric: "node" },
  webcrypto: { x25519: "webcrypto", ed25519: "webcrypto", aesGcm: "webcrypto", sha512: "webcrypto", symmetric: "noble" },
  noble: { x25519: "noble", ed25519: "noble", aesGcm: "noble", sha512: "noble", symmetric: "noble" },
};

describe("backend detection", () => {
  afterAll(() => useCryptoBackend(null));

  it("picks node:crypto on Node (WebCrypto for bulk SHA-512), WebCrypto next, @noble last", async () => {
    useCryptoBackend(null);
    expect(await cryptoBackend()).toEqual(expected.node);
    useCryptoBackend("webcrypto");
    expect(await cryptoBackend()).toEqual(expected.webcrypto);
  });

  it("derives the same key pairs from the same random bytes on node:crypto and @noble", async () => {
    const pairs: string[][] = [];
    for (const backend of ["node", "noble"] as const) {
      useCryptoBackend(backend);
      const rng = seededRng(7);
      const x = await x25519GenerateKeyPair(rng);
      const e = await ed25519GenerateKeyPair(rng);
      pairs.push([x.privateKey, x.publicKey, e.privateKey, e.publicKey].map(toHex));
    }
    expect(pairs[0]).toEqual(pairs[1]);
  });
});

for (const backend of ["node", "webcrypto", "noble"] as const) {
  describe(`primitives on ${backend}`, () => {
    const setup = () => useCryptoBackend(backend);
    afterAll(() => useCryptoBackend(null));

    it("runs on the forced backend", async () => {
      setup();
      expect(await cryptoBackend()).toEqual(expected[backend]);
    });

    it("X25519: RFC 7748 section 5.2 scalar multiplications", async () => {
      setup();
      for (const v of x.scalarMult) {
        const privateKey = hex(v.scalar);
        const out = await x25519Agree({ privateKey, publicKey: x25519PublicKey(privateKey) }, hex(v.u));
        expect(toHex(out)).toBe(v.output);
      }
      const nine = new Uint8Array(32);
      nine[0] = 9;
      expect(toHex(await x25519Agree({ privateKey: nine, publicKey: x25519PublicKey(nine) }, nine))).toBe(x.iteratedOnce);
    });

    it("X25519: RFC 7748 section 6.1 key agreement, both directions", async () => {
      setup();
      const d = x.diffieHellman;
      expect(toHex(x25519PublicKey(hex(d.alicePrivate)))).toBe(d.alicePublic);
      const alice = { privateKey: hex(d.alicePrivate), publicKey: hex(d.alicePublic) };
      const bob = { privateKey: hex(d.bobPrivate), publicKey: hex(d.bobPublic) };
      expect(toHex(await x25519Agree(alice, bob.publicKey))).toBe(d.shared);
      expect(toHex(await x25519Agree(bob, alice.publicKey))).toBe(d.shared);
    });

    it("X25519 refuses a low-order public key (all-zero output)", async () => {
      setup();
      const alice = { privateKey: hex(x.diffieHellman.alicePrivate), publicKey: hex(x.diffieHellman.alicePublic) };
      await expect(x25519Agree(alice, new Uint8Array(32))).rejects.toMatchObject({ code: "INVALID_KEY" });
      await expect(x25519Agree(alice, new Uint8Array(31))).rejects.toBeInstanceOf(CryptoError);
    });

    it("Ed25519: RFC 8032 section 7.1 signatures, and rejects any flipped bit", async () => {
      setup();
      for (const v of ed.tests) {
        const pair = { privateKey: hex(v.secretKey), publicKey: hex(v.publicKey) };
        expect(toHex(ed25519PublicKey(pair.privateKey))).toBe(v.publicKey);
        const sig = await ed25519Sign(pair, hex(v.message));
        expect(toHex(sig)).toBe(v.signature);
        expect(await ed25519Verify(pair.publicKey, hex(v.message), sig)).toBe(true);
        const bad = sig.slice();
        bad[7]! ^= 0x10;
        expect(await ed25519Verify(pair.publicKey, hex(v.message), bad)).toBe(false);
        expect(await ed25519Verify(pair.publicKey, Uint8Array.of(1, 2, 3), sig)).toBe(false);
        expect(await ed25519Verify(pair.publicKey, hex(v.message), sig.subarray(0, 63))).toBe(false);
      }
    });

    it("AES-256-GCM: GCM specification test cases 13-16, and rejects tampering", async () => {
      setup();
      for (const v of aesGcm.tests) {
        const key = await aesGcmKey(hex(v.key));
        const sealed = await key.seal(hex(v.iv), hex(v.plaintext), hex(v.aad));
        expect(toHex(sealed)).toBe(v.ciphertext + v.tag);
        expect(toHex((await key.open(hex(v.iv), sealed, hex(v.aad)))!)).toBe(v.plaintext);
        const bad = sealed.slice();
        bad[bad.length - 1]! ^= 1;
        expect(await key.open(hex(v.iv), bad, hex(v.aad))).toBeNull();
      }
    });

    it("SHA-512: FIPS 180-2 appendix C.1 and C.3 (one million 'a')", async () => {
      setup();
      const abc = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";
      const million = "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b";
      expect(toHex(sha512(new TextEncoder().encode("abc")))).toBe(abc);
      expect(toHex(await sha512Async(new TextEncoder().encode("abc")))).toBe(abc);
      expect(toHex(await sha512Async(new Uint8Array(1_000_000).fill(0x61)))).toBe(million);
    });

    it("HKDF-SHA-256: RFC 5869 appendix A.1-A.3", () => {
      setup();
      for (const v of hkdf.tests) {
        expect(toHex(hkdfSha256(hex(v.ikm), hex(v.salt), hex(v.info), v.length))).toBe(v.okm);
      }
    });

    it("ChaCha20-Poly1305: RFC 8439 section 2.8.2, and rejects tampering of text, tag and AD", () => {
      setup();
      const pt = new TextEncoder().encode(chacha.plaintextUtf8);
      const sealed = chachaSeal(hex(chacha.key), hex(chacha.nonce), pt, hex(chacha.aad));
      expect(toHex(sealed)).toBe(chacha.ciphertext + chacha.tag);
      expect(new TextDecoder().decode(chachaOpen(hex(chacha.key), hex(chacha.nonce), sealed, hex(chacha.aad))!)).toBe(chacha.plaintextUtf8);
      for (const i of [0, 57, sealed.length - 1]) {
        const bad = sealed.slice();
        bad[i]! ^= 0x80;
        expect(chachaOpen(hex(chacha.key), hex(chacha.nonce), bad, hex(chacha.aad))).toBeNull();
      }
      expect(chachaOpen(hex(chacha.key), hex(chacha.nonce), sealed, Uint8Array.of(1))).toBeNull();
    });
  });
}

describe("ML-KEM-768 (@noble on every backend)", () => {
  it("ML-KEM-768: C2SP/CCTV decapsulation vector, round trip and implicit rejection", () => {
    expect(toHex(mlKemDecapsulate(hex(mlkem.c), hex(mlkem.dk)))).toBe(mlkem.K);
    const pair = mlKemGenerateKeyPair();
    const { ciphertext, sharedSecret } = mlKemEncapsulate(pair.publicKey);
    expect(mlKemDecapsulate(ciphertext, pair.privateKey)).toEqual(sharedSecret);
    const bad = ciphertext.slice();
    bad[100]! ^= 1;
    // FIPS 203 implicit rejection: a different secret, no exception.
    expect(mlKemDecapsulate(bad, pair.privateKey)).not.toEqual(sharedSecret);
    expect(() => mlKemEncapsulate(new Uint8Array(1183))).toThrow(CryptoError);
  });

  it.runIf(process.env.PARLEY_SLOW_VECTORS === "1")(
    "ML-KEM-768: C2SP/CCTV accumulated vectors, 10,000 runs (final FIPS 203 hash)",
    () => {
      const rng = shake128.create();
      rng.update(new Uint8Array(0));
      const acc = shake128.create();
      for (let i = 0; i < 10_000; i++) {
        const seed = new Uint8Array(64);
        seed.set(rng.xof(32));
        seed.set(rng.xof(32), 32);
        const pair = mlKemGenerateKeyPair(() => seed);
        acc.update(pair.publicKey).update(pair.privateKey);
        const m = rng.xof(32);
        const { ciphertext, sharedSecret } = mlKemEncapsulate(pair.publicKey, () => m);
        acc.update(ciphertext).update(sharedSecret);
        expect(mlKemDecapsulate(ciphertext, pair.privateKey)).toEqual(sharedSecret);
        acc.update(mlKemDecapsulate(rng.xof(1088), pair.privateKey));
      }
      expect(toHex(acc.xof(32))).toBe("f959d18d3d1180121433bf0e05f11e7908cf9d03edc150b2b07cb90bef5bc1c1");
    },
    120_000,
  );
});
