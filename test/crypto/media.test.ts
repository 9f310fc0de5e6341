/**
 * Media encryption: round trips (buffer and stream, several sizes), ranged decryption against the
 * plaintext, and rejection of truncation, reordering, tampering and a wrong digest.
 */
import { bytesEqual, concatBytes } from "../../src/protocol/encoding";
import { describe, expect, it } from "vitest";
import {
  decryptMedia,
  decryptMediaRange,
  decryptMediaStream,
  encryptMedia,
  MEDIA_HEADER_BYTES,
  MediaEncryptStream,
  planMediaRange,
} from "../../src/client/crypto/media";
import { MEDIA_CHUNK_BYTES } from "../../src/client/crypto/limits";
import { useCryptoBackend } from "../../src/client/crypto/primitives";
import { codeOf, seededRandom, seededRng } from "./support";

const CHUNK = 1024; // the smallest allowed, so tests cross many chunk boundaries cheaply
const file = (n: number) => seededRng(n)(n);


async function* pieces(bytes: Uint8Array, rand: () => number): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < bytes.length; ) {
    const n = Math.min(bytes.length - o, 1 + Math.floor(rand() * 3000));
    yield bytes.subarray(o, o + n);
    o += n;
  }
}

async function collect(gen: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of gen) parts.push(p.slice());
  return concatBytes(...parts);
}

describe("media encryption", () => {
  for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 20_000]) {
    it(`round trips ${size} bytes as a buffer and as a stream, with identical output`, async () => {
      const plain = file(size);
      const enc = await encryptMedia(plain, { chunkSize: CHUNK });
      expect(enc.ciphertext.length).toBe(MEDIA_HEADER_BYTES + size + Math.max(1, Math.ceil(size / CHUNK)) * 16);
      expect(await decryptMedia(enc.ciphertext, enc.key, enc.digest)).toEqual(plain);

      const stream = new MediaEncryptStream({ chunkSize: CHUNK, key: enc.key });
      const streamed = await collect(stream.encrypt(pieces(plain, seededRandom(size))));
      expect(streamed).toEqual(enc.ciphertext);
      expect(stream.digest()).toEqual(enc.digest);
      expect(await collect(decryptMediaStream(pieces(streamed, seededRandom(size + 1)), enc.key, enc.digest))).toEqual(plain);
    });
  }

  it("a stream encryptor whose caller copies each chunk frees every sealed chunk once the next is asked for, never the header", async () => {
    const plain = file(7 * CHUNK + 5);
    const enc = await encryptMedia(plain, { chunkSize: CHUNK });
    const handed: Uint8Array[] = [];
    const copies: Uint8Array[] = [];
    const stream = new MediaEncryptStream({ chunkSize: CHUNK, key: enc.key });
    for await (const piece of stream.encrypt(pieces(plain, seededRandom(5)), { copied: true })) {
      handed.push(piece);
      copies.push(piece.slice());
    }
    expect(concatBytes(...copies)).toEqual(enc.ciphertext);
    expect(stream.digest()).toEqual(enc.digest);
    expect(handed.length).toBe(1 + 8);
    expect(handed[0]!.length).toBe(MEDIA_HEADER_BYTES);
    expect(handed.slice(1).map((p) => p.byteLength)).toEqual(new Array(8).fill(0));
  });

  it("decrypts any range from just the chunks that cover it", async () => {
    const plain = file(10 * CHUNK + 123);
    const enc = await encryptMedia(plain, { chunkSize: CHUNK });
    const rand = seededRandom(9);
    const header = enc.ciphertext.subarray(0, MEDIA_HEADER_BYTES);
    const ranges: [number, number][] = [[0, 0], [0, 1], [CHUNK - 1, CHUNK + 1], [plain.length - 1, plain.length], [0, plain.length]];
    for (let i = 0; i < 30; i++) {
      const a = Math.floor(rand() * plain.length);
      ranges.push([a, a + Math.floor(rand() * (plain.length - a))]);
    }
    for (const [start, end] of ranges) {
      const plan = planMediaRange(enc.ciphertext.length, CHUNK, start, end);
      expect(plan.cipherEnd - plan.cipherStart).toBeLessThanOrEqual((Math.ceil((end - start) / CHUNK) + 1) * (CHUNK + 16));
      const got = await decryptMediaRange(enc.key, header, plan, enc.ciphertext.subarray(plan.cipherStart, plan.cipherEnd));
      expect(got).toEqual(plain.subarray(start, end));
    }
  });

  it("rejects truncation at and between chunk boundaries, reordering, tampering, and a wrong digest", async () => {
    const plain = file(4 * CHUNK);
    const { ciphertext, key, digest } = await encryptMedia(plain, { chunkSize: CHUNK });
    const step = CHUNK + 16;
    const cut = (n: number) => ciphertext.subarray(0, ciphertext.length - n);
    for (const n of [step, 2 * step, 1, 17, ciphertext.length - MEDIA_HEADER_BYTES, ciphertext.length - 2]) {
      expect(await codeOf(decryptMedia(cut(n), key, digest))).toBe("MEDIA_CORRUPT");
      expect(await codeOf(collect(decryptMediaStream(pieces(cut(n), seededRandom(n)), key, digest)))).toBe("MEDIA_CORRUPT");
    }
    const swapped = ciphertext.slice();
    swapped.set(ciphertext.subarray(MEDIA_HEADER_BYTES, MEDIA_HEADER_BYTES + step), MEDIA_HEADER_BYTES + step);
    swapped.set(ciphertext.subarray(MEDIA_HEADER_BYTES + step, MEDIA_HEADER_BYTES + 2 * step), MEDIA_HEADER_BYTES);
    expect(await codeOf(decryptMedia(swapped, key, digest))).toBe("MEDIA_CORRUPT");
    const small = await encryptMedia(file(CHUNK + 100), { chunkSize: CHUNK });
    for (let i = 0; i < small.ciphertext.length; i++) {
      const bad = small.ciphertext.slice();
      bad[i]! ^= 1 << (i % 8);
      expect(await codeOf(decryptMedia(bad, small.key, small.digest))).not.toBe("ok");
    }
    const badDigest = digest.slice();
    badDigest[0]! ^= 1;
    expect(await codeOf(decryptMedia(ciphertext, key, badDigest))).toBe("MEDIA_CORRUPT");
    const wrongKey = key.slice();
    wrongKey[31]! ^= 1;
    expect(await codeOf(decryptMedia(ciphertext, wrongKey, digest))).toBe("MEDIA_CORRUPT");
    // A range ending in what should be the final chunk, served without its final flag, fails too.
    const plan = planMediaRange(ciphertext.length, CHUNK, 0, 10);
    const truncatedPlan = { ...plan, totalChunks: plan.totalChunks + 1 };
    expect(await codeOf(decryptMediaRange(key, ciphertext.subarray(0, 5), { ...truncatedPlan, firstChunk: 3, cipherStart: 5 + 3 * step, cipherEnd: 5 + 4 * step }, ciphertext.subarray(5 + 3 * step)))).toBe("MEDIA_CORRUPT");
  });

  it("default-size chunks give the same ciphertext and digest on node:crypto and WebCrypto, and open on each", async () => {
    // 256 KiB chunks go through node:crypto's cipher in 64 KiB pieces, are sealed and opened in
    // place, and are hashed partly on the thread pool and partly on the main thread. (@noble shares
    // WebCrypto's in-place wrapper and is too slow for megabytes here; the vectors cover it.)
    const plain = file(2 * MEDIA_CHUNK_BYTES + 70_001);
    const key = seededRng(3)(32);
    const results: { ciphertext: Uint8Array; digest: Uint8Array }[] = [];
    try {
      for (const backend of ["node", "webcrypto"] as const) {
        useCryptoBackend(backend);
        results.push(await encryptMedia(plain, { key }));
      }
      // (bytesEqual: toEqual walks megabytes element by element, for tens of seconds.)
      expect(bytesEqual(results[1]!.ciphertext, results[0]!.ciphertext) && bytesEqual(results[1]!.digest, results[0]!.digest)).toBe(true);
      for (const backend of ["node", "webcrypto"] as const) {
        useCryptoBackend(backend);
        expect(bytesEqual(await decryptMedia(results[0]!.ciphertext, key, results[0]!.digest), plain)).toBe(true);
        const bad = results[0]!.ciphertext.slice();
        bad[MEDIA_HEADER_BYTES + MEDIA_CHUNK_BYTES + 100_000]! ^= 1; // inside the second chunk's second piece
        expect(await codeOf(decryptMedia(bad, key, results[0]!.digest))).toBe("MEDIA_CORRUPT");
      }
    } finally {
      useCryptoBackend(null);
    }
  });

  it("refuses headers with unknown versions or absurd chunk sizes", async () => {
    const { ciphertext, key, digest } = await encryptMedia(file(10), { chunkSize: CHUNK });
    const v2 = ciphertext.slice();
    v2[0] = 2;
    expect(await codeOf(decryptMedia(v2, key, digest))).toBe("UNSUPPORTED_VERSION");
    const huge = ciphertext.slice();
    new DataView(huge.buffer).setUint32(1, 0xffff_ffff, false);
    expect(await codeOf(decryptMedia(huge, key, digest))).toBe("MEDIA_CORRUPT");
  });
});
