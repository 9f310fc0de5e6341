/**
 * @module Ciphertext on demand for uploads from a source that can be read again (bytes in memory,
 * a Blob or File, Node's `fs.openAsBlob`): any byte range of the encrypted file, typically one
 * multipart part, streams out chunk by chunk, reading and sealing only the chunks that cover it,
 * a few at a time. Nothing holds a whole part, a failed part is produced again (sealing is
 * deterministic per chunk index), and an upload resumed after a restart re-encrypts only its
 * missing parts. Chunk hashes are kept by index for the digest.
 */
import { bytesEqual, fromBase64, toBase64 } from "../protocol/encoding";
import { MEDIA_CHUNK_BYTES, MEDIA_PARALLEL_CHUNKS } from "./crypto/limits";
import { MEDIA_HEADER_BYTES, MediaChunkSealer, mediaCiphertextLength, mediaDigest } from "./crypto/media";
import { AEAD_TAG_BYTES } from "./crypto/primitives";
import { CryptoError } from "./crypto/errors";

/** Sources the ranged uploader can read at any offset. */
export type RereadableSource = Uint8Array | Blob;

export function isRereadable(source: unknown): source is RereadableSource {
  return source instanceof Uint8Array || (typeof Blob !== "undefined" && source instanceof Blob);
}

async function readPlain(source: RereadableSource, start: number, end: number): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source.subarray(start, end);
  const bytes = new Uint8Array(await source.slice(start, end).arrayBuffer());
  // A file changed under us would otherwise seal a short chunk with a valid tag.
  if (bytes.length !== end - start) throw new CryptoError("INVALID_INPUT", `the file is shorter than it was (read ${bytes.length} of ${end - start} bytes at ${start})`);
  return bytes;
}

export class MediaCipherRanges {
  readonly cipherSize: number;
  private readonly step: number;
  private readonly chunkCount: number;
  /** Hash of each chunk sealed so far (or restored from a saved upload), by chunk index. */
  readonly hashes: (Uint8Array | undefined)[];
  /** Why producing a range last failed (reading the file, sealing): fetch reports it only as a network error. */
  sourceError: unknown = null;
  /** The last chunk of the previous range, which usually straddles into the next one. */
  private straddling: { index: number; sealed: Uint8Array } | null = null;

  private constructor(
    private readonly source: RereadableSource,
    readonly size: number,
    private readonly sealer: MediaChunkSealer,
  ) {
    this.cipherSize = mediaCiphertextLength(size, sealer.chunkSize);
    this.step = sealer.chunkSize + AEAD_TAG_BYTES;
    this.chunkCount = Math.max(1, Math.ceil(size / sealer.chunkSize));
    this.hashes = new Array<Uint8Array | undefined>(this.chunkCount);
  }

  static async create(source: RereadableSource, key: Uint8Array, chunkSize = MEDIA_CHUNK_BYTES): Promise<MediaCipherRanges> {
    const size = source instanceof Uint8Array ? source.length : source.size;
    return new MediaCipherRanges(source, size, await MediaChunkSealer.create(key, chunkSize));
  }

  /** Chunks whose ciphertext overlaps [start, end). */
  chunksOf(start: number, end: number): { first: number; last: number } {
    const first = start < MEDIA_HEADER_BYTES ? 0 : Math.floor((start - MEDIA_HEADER_BYTES) / this.step);
    const last = Math.min(this.chunkCount - 1, Math.floor((end - 1 - MEDIA_HEADER_BYTES) / this.step));
    return { first, last };
  }

  private async sealChunk(index: number, keep: boolean): Promise<Uint8Array> {
    if (this.straddling?.index === index) return this.straddling.sealed;
    const cs = this.sealer.chunkSize;
    const plain = await readPlain(this.source, index * cs, Math.min(this.size, (index + 1) * cs));
    const { sealed, hash } = await this.sealer.seal(index, index === this.chunkCount - 1, plain);
    this.hashes[index] = hash;
    if (keep) this.straddling = { index, sealed };
    return sealed;
  }

  /**
   * Ciphertext bytes [start, end) as a stream of views into sealed chunks (no copies), sealing up
   * to MEDIA_PARALLEL_CHUNKS ahead of the reader: a few chunks are in memory, never the range.
   */
  stream(start: number, end: number): ReadableStream<Uint8Array> {
    if (!(0 <= start && start < end && end <= this.cipherSize)) throw new CryptoError("INVALID_INPUT", "ciphertext range outside the file");
    const { first, last } = this.chunksOf(start, end);
    const ahead: Promise<Uint8Array>[] = [];
    let next = first;
    let headerDone = start >= MEDIA_HEADER_BYTES;
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          if (!headerDone) {
            headerDone = true;
            controller.enqueue(this.sealer.header.subarray(start, Math.min(MEDIA_HEADER_BYTES, end)));
            return;
          }
          for (; next <= last && ahead.length < MEDIA_PARALLEL_CHUNKS; next++) {
            const sealing = this.sealChunk(next, next === last);
            // Awaited in order below; a later failure must not count as unhandled meanwhile.
            sealing.catch(() => undefined);
            ahead.push(sealing);
          }
          if (ahead.length === 0) {
            controller.close();
            return;
          }
          const index = next - ahead.length;
          let sealed: Uint8Array;
          try {
            sealed = await ahead.shift()!;
          } catch (err) {
            this.sourceError = err;
            throw err;
          }
          const offset = MEDIA_HEADER_BYTES + index * this.step;
          controller.enqueue(sealed.subarray(Math.max(start, offset) - offset, Math.min(end, offset + sealed.length) - offset));
        },
      },
      // Pull only when the consumer (the HTTP request) asks: backpressure bounds what is sealed.
      { highWaterMark: 0 },
    );
  }

  /** The digest, once every chunk has been sealed (or its hash restored). */
  digest(): Uint8Array {
    const missing = this.hashes.findIndex((h) => h === undefined);
    if (missing >= 0 || this.hashes.length !== this.chunkCount) throw new CryptoError("INVALID_INPUT", `chunk ${missing} was never sealed`);
    return mediaDigest(this.sealer.header, this.hashes as Uint8Array[]);
  }

  /** Takes chunk hashes saved by an earlier process (base64, null for chunks not sealed then). */
  restoreHashes(saved: (string | null)[]): void {
    if (saved.length !== this.chunkCount) throw new CryptoError("INVALID_INPUT", "saved upload does not match the file's chunk count");
    saved.forEach((h, i) => {
      if (h !== null) this.hashes[i] = fromBase64(h)!;
    });
  }

  /** Seals chunk `index` again and says whether it still hashes as saved (the same file, unchanged). */
  async unchanged(index: number): Promise<boolean> {
    const saved = this.hashes[index];
    if (!saved) return true;
    await this.sealChunk(index, false);
    return bytesEqual(saved, this.hashes[index]!);
  }

  /** Every chunk hash in base64, null for chunks not sealed yet, for an upload's saved state. */
  savedHashes(): (string | null)[] {
    return Array.from(this.hashes, (h) => (h ? toBase64(h) : null));
  }
}
