/**
 * @module Ciphertext on demand for uploads from a source that can be read again (bytes in memory,
 * a Blob or File, Node's `fs.openAsBlob`): any byte range of the encrypted file, typically one
 * multipart part, streams out chunk by chunk, reading and sealing only the chunks that cover it,
 * a few at a time. Nothing holds a whole part, a failed part is produced again (sealing is
 * deterministic per chunk index), and an upload resumed after a restart re-encrypts only its
 * missing parts. Chunk hashes are kept by index for the digest.
 *
 * Memory: a file is read through `Blob.stream()` (pieces freed as soon as they are copied) into a
 * plaintext chunk freed once sealed (release-buffer.ts), and chunks are sealed into buffers that
 * are reused. A chunk's buffer is reused once the transport says its piece left the process
 * (`written()`, from node-media-http.ts: a few chunks are in memory, never a part), or else once
 * the request that sent the range has succeeded (`sent()`: with `fetch`, a part's worth); a range
 * whose request failed leaves its unconfirmed buffers to the garbage collector. Reuse rather than
 * freeing, because with `fetch` a response does not prove the socket has written every byte (a
 * server may answer early): a late write from a reused buffer sends other ciphertext of this
 * file, one from freed memory could send anything in the process.
 */
import { bytesEqual, fromBase64, toBase64 } from "../protocol/encoding";
import { MEDIA_CHUNK_BYTES, MEDIA_PARALLEL_CHUNKS } from "./crypto/limits";
import { MEDIA_HEADER_BYTES, MediaChunkSealer, mediaCiphertextLength, mediaDigest } from "./crypto/media";
import { AEAD_TAG_BYTES } from "./crypto/primitives";
import { CryptoError } from "./crypto/errors";
import { releaseBuffer } from "./release-buffer";

/** Sources the ranged uploader can read at any offset. */
export type RereadableSource = Uint8Array | Blob;

export function isRereadable(source: unknown): source is RereadableSource {
  return source instanceof Uint8Array || (typeof Blob !== "undefined" && source instanceof Blob);
}

/**
 * Bytes [start, end) of a Blob in a new buffer of ours. Through `stream()`, not `arrayBuffer()`:
 * Node's arrayBuffer() gathers the file's pieces internally and copies them, leaving garbage we
 * cannot reach, while a byte stream hands each piece to us alone (enqueueing transfers it), so it
 * can be freed as soon as it is copied.
 */
async function readBlob(blob: Blob, start: number, end: number): Promise<Uint8Array> {
  const out = new Uint8Array(end - start);
  let fill = 0;
  const reader = blob.slice(start, end).stream().getReader();
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      // A file changed under us (longer now) must not overrun the chunk.
      if (fill + r.value.length > out.length) throw new CryptoError("INVALID_INPUT", `the file changed while it was read (more than ${end - start} bytes at ${start})`);
      out.set(r.value, fill);
      fill += r.value.length;
      releaseBuffer(r.value);
    }
  } finally {
    reader.releaseLock();
  }
  // A file changed under us would otherwise seal a short chunk with a valid tag.
  if (fill !== end - start) throw new CryptoError("INVALID_INPUT", `the file is shorter than it was (read ${fill} of ${end - start} bytes at ${start})`);
  return out;
}

/** A sealed chunk: `bytes` (what is sent) lies at the start of `buffer` (a reusable whole chunk buffer). */
interface SealedChunk {
  index: number;
  buffer: Uint8Array;
  bytes: Uint8Array;
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
  private straddling: SealedChunk | null = null;
  /** Sealed-chunk buffers free for reuse: every byte sent from them went out in a request that succeeded. */
  private readonly spare: Uint8Array[] = [];
  /** Buffers of the latest range's stream, until `sent()` says its request succeeded. */
  private lent: Uint8Array[] | null = null;
  /** Buffers of a range whose request was never confirmed: never reused (the garbage collector takes them). */
  private readonly abandoned = new WeakSet<Uint8Array>();

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

  private async sealChunk(index: number, keep: boolean): Promise<SealedChunk> {
    if (this.straddling?.index === index) return this.straddling;
    const cs = this.sealer.chunkSize;
    const start = index * cs;
    const end = Math.min(this.size, (index + 1) * cs);
    const fromBlob = !(this.source instanceof Uint8Array);
    const plain = fromBlob ? await readBlob(this.source as Blob, start, end) : (this.source as Uint8Array).subarray(start, end);
    const buffer = this.spare.pop() ?? new Uint8Array(this.step);
    const bytes = buffer.subarray(0, end - start + AEAD_TAG_BYTES);
    try {
      this.hashes[index] = await this.sealer.sealInto(index, index === this.chunkCount - 1, plain, bytes);
    } catch (err) {
      this.spare.push(buffer); // nothing was handed out from it
      throw err;
    }
    // readBlob made `plain` for this chunk alone and sealing is done with it (never the app's bytes).
    if (fromBlob) releaseBuffer(plain);
    const chunk = { index, buffer, bytes };
    if (keep) this.straddling = chunk;
    return chunk;
  }

  /**
   * An upload body for ciphertext bytes [start, end): `stream(start, end)`, its length, and the
   * transport's `written` hook bound to that stream, so a late report about an earlier range's
   * piece can never release a buffer the current one still sends from.
   */
  body(start: number, end: number): { stream: ReadableStream<Uint8Array>; length: number; written: (piece: Uint8Array) => void } {
    const stream = this.stream(start, end);
    const lent = this.lent;
    return { stream, length: end - start, written: (piece) => this.written(piece, lent) };
  }

  /**
   * The transport has written `piece` of the stream that lent `lent` and holds no reference to it:
   * its chunk buffer may be sealed into again, if that stream is still the latest, unless the next
   * range starts with it (the straddling chunk) or it belongs to a range given up on.
   */
  private written(piece: Uint8Array, lent: Uint8Array[] | null): void {
    const at = lent && lent === this.lent ? lent.findIndex((buffer) => buffer.buffer === piece.buffer) : -1;
    if (!lent || at < 0) return;
    const buffer = lent[at]!;
    if (buffer === this.straddling?.buffer || this.abandoned.has(buffer)) return;
    lent.splice(at, 1);
    this.spare.push(buffer);
  }

  /**
   * The request that carried the latest `stream()` has succeeded: its chunk buffers may be sealed
   * into again (all but the one the next range starts with).
   */
  sent(): void {
    for (const buffer of this.lent ?? []) if (buffer !== this.straddling?.buffer && !this.abandoned.has(buffer)) this.spare.push(buffer);
    this.lent = null;
  }

  /**
   * Ciphertext bytes [start, end) as a stream of views into sealed chunks (no copies), sealing up
   * to MEDIA_PARALLEL_CHUNKS ahead of the reader: a few chunks are in memory, never the range.
   */
  stream(start: number, end: number): ReadableStream<Uint8Array> {
    if (!(0 <= start && start < end && end <= this.cipherSize)) throw new CryptoError("INVALID_INPUT", "ciphertext range outside the file");
    const { first, last } = this.chunksOf(start, end);
    // The previous range was never confirmed sent (its request failed): its buffers stay out of reuse.
    for (const buffer of this.lent ?? []) this.abandoned.add(buffer);
    const lent: Uint8Array[] = (this.lent = []);
    const ahead: Promise<SealedChunk>[] = [];
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
            // Lent from the moment it exists, so a cancelled stream's read-ahead is never reused either.
            sealing.then((chunk) => lent.push(chunk.buffer), () => undefined);
            ahead.push(sealing);
          }
          if (ahead.length === 0) {
            controller.close();
            return;
          }
          const index = next - ahead.length;
          let sealed: Uint8Array;
          try {
            sealed = (await ahead.shift()!).bytes;
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
    const chunk = await this.sealChunk(index, false);
    // Sealed only for its hash and handed to nobody: its buffer is free again.
    if (chunk !== this.straddling) this.spare.push(chunk.buffer);
    return bytesEqual(saved, this.hashes[index]!);
  }

  /** Every chunk hash in base64, null for chunks not sealed yet, for an upload's saved state. */
  savedHashes(): (string | null)[] {
    return Array.from(this.hashes, (h) => (h ? toBase64(h) : null));
  }
}
