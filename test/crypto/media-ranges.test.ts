/**
 * Ciphertext ranges on demand (src/client/media-ranges.ts), what streamed, retried and resumed
 * uploads send: any partition of the file into ranges concatenates to exactly what the buffer
 * encryptor produces with the same key, a range produced again is byte-identical, and a new
 * instance with the saved chunk hashes of some ranges gets the same digest from the others alone.
 */
import { describe, expect, it } from "vitest";
import { encryptMedia } from "../../src/client/crypto/media";
import { MediaCipherRanges } from "../../src/client/media-ranges";
import { concatBytes } from "../../src/protocol/encoding";
import { seededRandom, seededRng } from "./support";

const CHUNK = 1024;

async function read(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const pieces: Uint8Array[] = [];
  for await (const p of stream as unknown as AsyncIterable<Uint8Array>) pieces.push(p.slice());
  return concatBytes(...pieces);
}

/** A range's stream as the request body sees it: the views themselves (not copies). */
async function views(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const pieces: Uint8Array[] = [];
  for await (const p of stream as unknown as AsyncIterable<Uint8Array>) pieces.push(p);
  return pieces;
}

/** Random cut points of [0, total): ranges of 1 byte up to a few chunks, crossing chunk boundaries. */
function partition(total: number, rand: () => number): [number, number][] {
  const out: [number, number][] = [];
  for (let a = 0; a < total; ) {
    const b = Math.min(total, a + 1 + Math.floor(rand() * 3 * CHUNK));
    out.push([a, b]);
    a = b;
  }
  return out;
}

describe("ciphertext ranges", () => {
  it.each([0, 1, CHUNK - 1, CHUNK, 5 * CHUNK + 7])("a %i-byte file: ranges concatenate to the whole ciphertext, with the same digest", async (size) => {
    const plain = seededRng(size + 1)(size);
    const key = seededRng(7)(32);
    const whole = await encryptMedia(plain, { key, chunkSize: CHUNK });
    const rand = seededRandom(size + 3);
    for (const source of [plain, new Blob([plain as Uint8Array<ArrayBuffer>])]) {
      const ranges = await MediaCipherRanges.create(source, key, CHUNK);
      expect(ranges.cipherSize).toBe(whole.ciphertext.length);
      const parts = partition(ranges.cipherSize, rand);
      const got = concatBytes(...(await Promise.all(parts.map(([a, b]) => read(ranges.stream(a, b))))));
      expect(got).toEqual(whole.ciphertext);
      // A retried range is the same bytes.
      const [a, b] = parts[parts.length - 1]!;
      expect(await read(ranges.stream(a, b))).toEqual(whole.ciphertext.subarray(a, b));
      expect(ranges.digest()).toEqual(whole.digest);
    }
  });

  it("resumes from saved chunk hashes: only the remaining ranges are produced, the digest is the same", async () => {
    const plain = seededRng(11)(9 * CHUNK + 100);
    const key = seededRng(12)(32);
    const whole = await encryptMedia(plain, { key, chunkSize: CHUNK });
    const first = await MediaCipherRanges.create(plain, key, CHUNK);
    const cut = 4 * CHUNK + 333;
    await read(first.stream(0, cut));
    expect(() => first.digest()).toThrow();
    const saved = first.savedHashes();

    const again = await MediaCipherRanges.create(plain, key, CHUNK);
    again.restoreHashes(saved);
    expect(await again.unchanged(0)).toBe(true);
    expect(await read(again.stream(cut, again.cipherSize))).toEqual(whole.ciphertext.subarray(cut));
    expect(again.digest()).toEqual(whole.digest);

    const changed = plain.slice();
    changed[0]! ^= 1;
    const other = await MediaCipherRanges.create(changed, key, CHUNK);
    other.restoreHashes(saved);
    expect(await other.unchanged(0)).toBe(false);
  });

  it("ranges sent one after another seal into a few reused buffers, never the app's bytes, and still give the ciphertext", async () => {
    const size = 40 * CHUNK + 5;
    const plain = seededRng(21)(size);
    const key = seededRng(22)(32);
    const whole = await encryptMedia(plain, { key, chunkSize: CHUNK });
    const unit = 4 * CHUNK + 100; // a part straddles chunk boundaries at both ends
    for (const source of [plain, new Blob([plain as Uint8Array<ArrayBuffer>])]) {
      const ranges = await MediaCipherRanges.create(source, key, CHUNK);
      const copies: Uint8Array[] = [];
      const buffers = new Set<ArrayBufferLike>();
      for (let a = 0; a < ranges.cipherSize; a += unit) {
        const pieces = await views(ranges.stream(a, Math.min(ranges.cipherSize, a + unit)));
        for (const p of pieces) {
          copies.push(p.slice());
          buffers.add(p.buffer);
        }
        ranges.sent(); // the part's request succeeded
      }
      expect(concatBytes(...copies)).toEqual(whole.ciphertext);
      expect(ranges.digest()).toEqual(whole.digest);
      // 41 chunks went through a handful of buffers (one part's chunks, the read-ahead, the straddling one).
      expect(buffers.size).toBeLessThanOrEqual(12);
      // The app's bytes and Blob are untouched.
      expect(plain.byteLength).toBe(size);
      expect(source instanceof Blob ? new Uint8Array(await source.arrayBuffer()) : source).toEqual(seededRng(21)(size));
    }
  });

  it("a range whose request failed keeps its buffers: later ranges never seal into them", async () => {
    const plain = seededRng(31)(20 * CHUNK);
    const key = seededRng(32)(32);
    const whole = await encryptMedia(plain, { key, chunkSize: CHUNK });
    const ranges = await MediaCipherRanges.create(new Blob([plain as Uint8Array<ArrayBuffer>]), key, CHUNK);
    const unit = 3 * CHUNK + 50;
    await views(ranges.stream(0, unit));
    ranges.sent();
    // The second part's first attempt fails (no sent()); a socket may still be sending from its views.
    const failed = await views(ranges.stream(unit, 2 * unit));
    const failedBytes = failed.map((p) => p.slice());
    // The retry and the next part succeed; then one long part needs more buffers than are spare,
    // so any failed-attempt buffer that had gone back to reuse would be sealed into.
    const laterBytes: Uint8Array[] = [];
    const lastPart: Uint8Array[] = [];
    for (const [a, b] of [[unit, 2 * unit], [2 * unit, 3 * unit], [3 * unit, ranges.cipherSize]] as const) {
      const pieces = await views(ranges.stream(a, b));
      laterBytes.push(...pieces.map((p) => p.slice()));
      if (b === ranges.cipherSize) lastPart.push(...pieces);
      ranges.sent();
    }
    expect(concatBytes(...laterBytes)).toEqual(whole.ciphertext.subarray(unit));
    expect(concatBytes(...failedBytes)).toEqual(whole.ciphertext.subarray(unit, 2 * unit));
    failed.forEach((p, i) => expect(p).toEqual(failedBytes[i]));
    const failedBuffers = new Set(failed.map((p) => p.buffer));
    expect(lastPart.some((p) => failedBuffers.has(p.buffer))).toBe(false);
  });
});
