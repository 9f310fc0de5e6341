/**
 * @module Media (attachment) encryption: a random key per file, AES-256-GCM over fixed-size
 * chunks with counter nonces and a final-chunk flag (the STREAM construction of Hoang, Reyhanitabar,
 * Rogaway and Vizár), so a file encrypts and decrypts as a stream and any byte range decrypts from
 * the chunks that cover it. The key and the digest travel inside the end-to-end message; the
 * server stores and serves the ciphertext only.
 *
 *   ciphertext = header || c_0 || ... || c_{n-1}
 *   header     = 0x01 (version) || chunk size (u32 BE)                              5 bytes
 *   c_i        = AES-256-GCM(k, nonce_i, p_i, AD = header)                           |p_i| + 16
 *   nonce_i    = 7 zero bytes || i (u32 BE) || 0x01 if i = n-1 else 0x00
 *   k          = HKDF-SHA-256(ikm = file key, salt = 32 zero bytes, info = "parley:media:keys:v1", 32)
 *   digest     = SHA-512("parley:media-digest:v1" || header || h_0 || ... || h_{n-1})[0..32],
 *                h_i = SHA-512(c_i)[0..32]
 *
 * Every chunk but the last holds exactly `chunk size` plaintext bytes; the last holds 1..chunk size
 * (0 only for an empty file, which is one empty final chunk). Truncation at a chunk boundary fails
 * (no final flag), reordering fails (wrong counter), any changed byte fails its tag. The digest is a
 * collision-resistant commitment to the exact ciphertext (GCM alone is not committing): a full
 * download is checked against it. A ranged read is authenticated by the per-chunk tags under the
 * secret key; it cannot check the whole-file digest without every chunk hash.
 */
import { concatBytes, bytesEqual, utf8 } from "../../protocol/encoding";
import { releaseBuffer } from "../release-buffer";
import { CryptoError, checkBytes } from "./errors";
import { LABELS } from "./kdf";
import { MEDIA_CHUNK_BYTES, MEDIA_MAX_CHUNK_BYTES, MEDIA_MIN_CHUNK_BYTES, MEDIA_PARALLEL_CHUNKS, MEDIA_POOL_HASHES } from "./limits";
import { AEAD_TAG_BYTES, type AesGcmKey, aesGcmKey, hkdfSha256, type Rng, sha512, sha512Async, systemRng } from "./primitives";

export const MEDIA_FORMAT_VERSION = 1;
export const MEDIA_HEADER_BYTES = 5;
export const MEDIA_KEY_BYTES = 32;
export const MEDIA_DIGEST_BYTES = 32;
const DIGEST_LABEL = utf8("parley:media-digest:v1");
const ZERO_SALT = new Uint8Array(32);

export interface EncryptedMedia {
  ciphertext: Uint8Array;
  /** Random per file: send it (and the digest and plaintext size) inside the encrypted message. */
  key: Uint8Array;
  digest: Uint8Array;
}

function encodeHeader(chunkSize: number): Uint8Array {
  const h = new Uint8Array(MEDIA_HEADER_BYTES);
  h[0] = MEDIA_FORMAT_VERSION;
  new DataView(h.buffer).setUint32(1, chunkSize, false);
  return h;
}

/** Chunk size named by a header, refusing versions and sizes we do not accept. */
export function parseMediaHeader(header: Uint8Array): number {
  if (header.length < MEDIA_HEADER_BYTES) throw new CryptoError("MEDIA_CORRUPT", "media header truncated");
  if (header[0] !== MEDIA_FORMAT_VERSION) throw new CryptoError("UNSUPPORTED_VERSION", `media format ${header[0]}`);
  const size = new DataView(header.buffer, header.byteOffset).getUint32(1, false);
  if (size < MEDIA_MIN_CHUNK_BYTES || size > MEDIA_MAX_CHUNK_BYTES) throw new CryptoError("MEDIA_CORRUPT", "media chunk size out of range");
  return size;
}

function nonce(index: number, final: boolean): Uint8Array {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setUint32(7, index, false);
  n[11] = final ? 1 : 0;
  return n;
}

interface Sealed {
  data: Uint8Array;
  hash: Uint8Array | null;
}

/**
 * Runs `task(0..count-1)` with at most MEDIA_PARALLEL_CHUNKS in flight (hashing, and AES-GCM on
 * WebCrypto, work on the thread pool, so both cores stay busy) and hands results to `consume` in
 * index order.
 */
async function windowed<T>(count: number, task: (i: number) => Promise<T>, consume: (result: T) => void): Promise<void> {
  const inflight = new Map<number, Promise<T>>();
  let next = 0;
  for (let i = 0; i < count; i++) {
    for (; next < count && next < i + MEDIA_PARALLEL_CHUNKS; next++) {
      const p = task(next);
      // A later chunk may fail while we await an earlier one: mark it handled now (awaiting it still throws).
      p.catch(() => undefined);
      inflight.set(next, p);
    }
    consume(await inflight.get(i)!);
    inflight.delete(i);
    // With synchronous AES-GCM and hashing nothing above waits for the event loop: give it a turn
    // per chunk, so finished thread-pool hashes are counted (ChunkCipher.hash) and the app's I/O
    // runs during a long file.
    await nextTurn();
  }
}

/** A turn of the event loop where there is one to give (Node's setImmediate); elsewhere a resolved promise. */
function nextTurn(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
  return new Promise((resolve) => (immediate ? immediate(resolve) : resolve()));
}

/** The per-file cipher: AES key, header, and the running digest. */
class ChunkCipher {
  private readonly hashes: Uint8Array[] = [];
  /** Chunk hashes running on the thread pool now. */
  private hashing = 0;

  private constructor(
    private readonly aes: AesGcmKey,
    readonly header: Uint8Array,
  ) {}

  static async create(fileKey: Uint8Array, header: Uint8Array): Promise<ChunkCipher> {
    checkBytes(fileKey, MEDIA_KEY_BYTES, "media key");
    return new ChunkCipher(await aesGcmKey(hkdfSha256(fileKey, ZERO_SALT, LABELS.mediaKeys, 32)), header);
  }

  /**
   * Seals chunk `index` into `dest` (plain.length + 16 bytes) and resolves to its hash. With
   * synchronous AES-GCM (node:crypto) the hash job is on the thread pool before this returns, so
   * the caller's next chunk is sealed on the main thread while this one is hashed.
   */
  sealInto(index: number, final: boolean, plain: Uint8Array, dest: Uint8Array): Promise<Uint8Array> {
    const done = this.aes.sealInto(nonce(index, final), plain, this.header, dest);
    return done ? done.then(() => this.hash(dest, false)) : this.hash(dest, true);
  }

  /**
   * What the digest commits to per chunk: the first 32 bytes of SHA-512 of its ciphertext. The
   * thread pool (WebCrypto) hashes up to MEDIA_POOL_HASHES chunks at once; with synchronous
   * AES-GCM (node:crypto) the main thread hashes the others itself rather than queue them, so both
   * cores work and neither waits (the pool's copy of each chunk costs more than hashing it here
   * when the pool is busy anyway; measured in docs/PERFORMANCE.md).
   */
  private hash(sealed: Uint8Array, mainThreadMayHash: boolean): Promise<Uint8Array> {
    if (mainThreadMayHash && this.hashing >= MEDIA_POOL_HASHES) return Promise.resolve(sha512(sealed).subarray(0, 32));
    this.hashing++;
    return sha512Async(sealed).then(
      (h) => {
        this.hashing--;
        return h.subarray(0, 32);
      },
      (e: unknown) => {
        this.hashing--;
        throw e;
      },
    );
  }

  /**
   * Opens chunk `index` into `dest` (sealed.length - 16 bytes), hashing its ciphertext on the
   * thread pool meanwhile when `hash` (full reads); resolves to the hash, or null without `hash`.
   */
  async openInto(index: number, final: boolean, sealed: Uint8Array, dest: Uint8Array, hash: boolean): Promise<Uint8Array | null> {
    const h = hash ? this.hash(sealed, this.aes.synchronous) : null;
    h?.catch(() => undefined); // awaited below unless authentication fails first
    if (!(await this.aes.openInto(nonce(index, final), sealed, this.header, dest))) {
      throw new CryptoError("MEDIA_CORRUPT", `media chunk ${index} fails authentication (tampered, reordered or truncated)`);
    }
    return h && (await h);
  }

  /** Seals chunk `index` into a buffer of its own (streams hand chunks on one by one). */
  async sealOne(index: number, final: boolean, plain: Uint8Array): Promise<Sealed> {
    const data = new Uint8Array(plain.length + AEAD_TAG_BYTES);
    return { data, hash: await this.sealInto(index, final, plain, data) };
  }

  /** Opens chunk `index` into a buffer of its own. */
  async openOne(index: number, final: boolean, sealed: Uint8Array, hash: boolean): Promise<Sealed> {
    if (sealed.length < AEAD_TAG_BYTES) throw new CryptoError("MEDIA_CORRUPT", "media ciphertext truncated");
    const data = new Uint8Array(sealed.length - AEAD_TAG_BYTES);
    return { data, hash: await this.openInto(index, final, sealed, data, hash) };
  }

  /** Hashes must be recorded in chunk order. */
  recordHash(hash: Uint8Array | null): void {
    if (hash) this.hashes.push(hash);
  }

  record(s: Sealed): Uint8Array {
    this.recordHash(s.hash);
    return s.data;
  }

  digest(): Uint8Array {
    return sha512(concatBytes(DIGEST_LABEL, this.header, ...this.hashes)).subarray(0, MEDIA_DIGEST_BYTES);
  }
}

function checkChunkSize(chunkSize: number): void {
  if (!Number.isInteger(chunkSize) || chunkSize < MEDIA_MIN_CHUNK_BYTES || chunkSize > MEDIA_MAX_CHUNK_BYTES) {
    throw new CryptoError("INVALID_INPUT", "media chunk size out of range");
  }
}

export interface MediaOptions {
  rng?: Rng;
  chunkSize?: number;
  /** Use this key instead of a random one (tests; re-encrypting a known file). */
  key?: Uint8Array;
}

/** Splits a sealed body into chunk ciphertexts; the last may be shorter. */
function sealedChunks(body: Uint8Array, chunkSize: number): Uint8Array[] {
  const step = chunkSize + AEAD_TAG_BYTES;
  const out: Uint8Array[] = [];
  for (let o = 0; o < body.length; o += step) out.push(body.subarray(o, Math.min(body.length, o + step)));
  if (out.length === 0 || out[out.length - 1]!.length < AEAD_TAG_BYTES) throw new CryptoError("MEDIA_CORRUPT", "media ciphertext truncated");
  return out;
}

/** Encrypts a whole buffer, each chunk sealed straight into its place in the result. */
export async function encryptMedia(plaintext: Uint8Array, options: MediaOptions = {}): Promise<EncryptedMedia> {
  checkBytes(plaintext, undefined, "media plaintext");
  const chunkSize = options.chunkSize ?? MEDIA_CHUNK_BYTES;
  checkChunkSize(chunkSize);
  const key = options.key ?? (options.rng ?? systemRng)(MEDIA_KEY_BYTES);
  const cipher = await ChunkCipher.create(key, encodeHeader(chunkSize));
  const count = Math.max(1, Math.ceil(plaintext.length / chunkSize));
  const out = new Uint8Array(MEDIA_HEADER_BYTES + plaintext.length + count * AEAD_TAG_BYTES);
  out.set(cipher.header);
  await windowed(
    count,
    (i) => {
      const plain = plaintext.subarray(i * chunkSize, (i + 1) * chunkSize);
      const at = MEDIA_HEADER_BYTES + i * (chunkSize + AEAD_TAG_BYTES);
      return cipher.sealInto(i, i === count - 1, plain, out.subarray(at, at + plain.length + AEAD_TAG_BYTES));
    },
    (hash) => cipher.recordHash(hash),
  );
  return { ciphertext: out, key, digest: cipher.digest() };
}

/** Decrypts a whole download after checking every chunk and the digest; chunks open straight into the result. */
export async function decryptMedia(ciphertext: Uint8Array, key: Uint8Array, digest: Uint8Array): Promise<Uint8Array> {
  checkBytes(ciphertext, undefined, "media ciphertext");
  checkBytes(key, MEDIA_KEY_BYTES, "media key");
  checkBytes(digest, MEDIA_DIGEST_BYTES, "media digest");
  const chunkSize = parseMediaHeader(ciphertext);
  const cipher = await ChunkCipher.create(key, ciphertext.subarray(0, MEDIA_HEADER_BYTES));
  const chunks = sealedChunks(ciphertext.subarray(MEDIA_HEADER_BYTES), chunkSize);
  const out = new Uint8Array(ciphertext.length - MEDIA_HEADER_BYTES - chunks.length * AEAD_TAG_BYTES);
  await windowed(
    chunks.length,
    (i) => {
      const sealed = chunks[i]!;
      const at = i * chunkSize;
      return cipher.openInto(i, i === chunks.length - 1, sealed, out.subarray(at, at + sealed.length - AEAD_TAG_BYTES), true);
    },
    (hash) => cipher.recordHash(hash),
  );
  if (!bytesEqual(cipher.digest(), digest)) throw new CryptoError("MEDIA_CORRUPT", "media digest does not match");
  return out;
}

/**
 * Regroups an async byte stream into pieces of exactly `size` bytes (the last may be shorter).
 * With `reuse`, one buffer serves every piece: only for a consumer that is done with a piece
 * before it asks for the next (an uploader), never for one that holds several (the batches here).
 */
export async function* rechunk(source: AsyncIterable<Uint8Array>, size: number, reuse = false): AsyncGenerator<Uint8Array> {
  let buf = new Uint8Array(size);
  let fill = 0;
  for await (const piece of source) {
    let o = 0;
    while (o < piece.length) {
      const n = Math.min(size - fill, piece.length - o);
      buf.set(piece.subarray(o, o + n), fill);
      fill += n;
      o += n;
      if (fill === size) {
        yield buf;
        if (!reuse) buf = new Uint8Array(size);
        fill = 0;
      }
    }
  }
  if (fill > 0) yield buf.subarray(0, fill);
}

/** Pieces of a stream in batches, knowing which batch holds the last piece (lookahead of one). */
async function* batches(pieces: AsyncGenerator<Uint8Array>): AsyncGenerator<{ items: Uint8Array[]; last: boolean }> {
  let pending: Uint8Array[] = [];
  for await (const p of pieces) {
    if (pending.length === MEDIA_PARALLEL_CHUNKS) {
      yield { items: pending, last: false };
      pending = [];
    }
    pending.push(p);
  }
  yield { items: pending, last: true };
}

/**
 * Streaming encryption: yields the header, then each sealed chunk as soon as it is ready, holding
 * at most MEDIA_PARALLEL_CHUNKS + 1 chunks in memory. `digest()` is valid once the stream ends.
 */
export class MediaEncryptStream {
  private cipher: ChunkCipher | null = null;
  readonly key: Uint8Array;
  private readonly chunkSize: number;

  constructor(options: MediaOptions = {}) {
    this.chunkSize = options.chunkSize ?? MEDIA_CHUNK_BYTES;
    checkChunkSize(this.chunkSize);
    this.key = options.key ?? (options.rng ?? systemRng)(MEDIA_KEY_BYTES);
  }

  /**
   * With `copied`, the caller promises to copy each sealed chunk before it asks for the next (an
   * uploader gathering a part), and each is freed then (release-buffer.ts) instead of waiting
   * for the garbage collector. Never the header: the cipher keeps it.
   */
  async *encrypt(source: AsyncIterable<Uint8Array>, options: { copied?: boolean } = {}): AsyncGenerator<Uint8Array> {
    const cipher = (this.cipher = await ChunkCipher.create(this.key, encodeHeader(this.chunkSize)));
    yield cipher.header;
    let index = 0;
    for await (const { items, last } of batches(rechunk(source, this.chunkSize))) {
      if (last && items.length === 0 && index > 0) break;
      const plain = items.length === 0 ? [new Uint8Array(0)] : items;
      const at = index;
      const done = await Promise.all(plain.map((p, k) => cipher.sealOne(at + k, last && k === plain.length - 1, p)));
      // rechunk made these plaintext chunks for this loop alone, and sealing is done with them.
      for (const p of plain) releaseBuffer(p);
      for (const sealed of done.map((d) => cipher.record(d))) {
        yield sealed;
        if (options.copied) releaseBuffer(sealed);
      }
      index += plain.length;
    }
  }

  digest(): Uint8Array {
    if (!this.cipher) throw new CryptoError("INVALID_INPUT", "stream not encrypted yet");
    return this.cipher.digest();
  }
}

/**
 * Streaming decryption: yields plaintext chunk by chunk, each authenticated before it is yielded;
 * throws MEDIA_CORRUPT on truncation, reordering, tampering, or (after the last chunk) a digest
 * mismatch. Treat the output as provisional until the generator finishes without throwing.
 * Each piece of `source` is copied before the next is asked for: the caller may reuse or free it then.
 */
export async function* decryptMediaStream(source: AsyncIterable<Uint8Array>, key: Uint8Array, digest: Uint8Array): AsyncGenerator<Uint8Array> {
  checkBytes(digest, MEDIA_DIGEST_BYTES, "media digest");
  const input = source[Symbol.asyncIterator]();
  let head: Uint8Array = new Uint8Array(0);
  while (head.length < MEDIA_HEADER_BYTES) {
    const r = await input.next();
    if (r.done) throw new CryptoError("MEDIA_CORRUPT", "media ciphertext truncated");
    head = concatBytes(head, r.value);
  }
  const header = head.slice(0, MEDIA_HEADER_BYTES);
  const chunkSize = parseMediaHeader(header);
  const cipher = await ChunkCipher.create(key, header);
  async function* body(): AsyncGenerator<Uint8Array> {
    if (head.length > MEDIA_HEADER_BYTES) yield head.subarray(MEDIA_HEADER_BYTES);
    for (let r = await input.next(); !r.done; r = await input.next()) yield r.value;
  }
  let index = 0;
  for await (const { items, last } of batches(rechunk(body(), chunkSize + AEAD_TAG_BYTES))) {
    if (items.length === 0 && index === 0) throw new CryptoError("MEDIA_CORRUPT", "media ciphertext truncated");
    if (items.some((c) => c.length < AEAD_TAG_BYTES)) throw new CryptoError("MEDIA_CORRUPT", "media ciphertext truncated");
    const at = index;
    const done = await Promise.all(items.map((c, k) => cipher.openOne(at + k, last && k === items.length - 1, c, true)));
    // rechunk made these ciphertext chunks for this loop alone, and opening and hashing are done with them.
    for (const c of items) releaseBuffer(c);
    yield* done.map((d) => cipher.record(d));
    index += items.length;
  }
  if (!bytesEqual(cipher.digest(), digest)) throw new CryptoError("MEDIA_CORRUPT", "media digest does not match");
}

/** Which ciphertext bytes a plaintext range needs, for an HTTP Range request. */
export interface MediaRangePlan {
  /** Byte range [cipherStart, cipherEnd) of the stored ciphertext to fetch. */
  cipherStart: number;
  cipherEnd: number;
  firstChunk: number;
  totalChunks: number;
  /** Bytes to drop from the front of the decrypted chunks, then bytes to keep. */
  skip: number;
  take: number;
}

/**
 * Plans a ranged read of plaintext bytes [start, end) from a ciphertext of `ciphertextLength`
 * bytes whose header names `chunkSize` (the client fetches the 5 header bytes first, or knows them).
 */
export function planMediaRange(ciphertextLength: number, chunkSize: number, start: number, end: number): MediaRangePlan {
  checkChunkSize(chunkSize);
  const step = chunkSize + AEAD_TAG_BYTES;
  const body = ciphertextLength - MEDIA_HEADER_BYTES;
  const totalChunks = Math.max(1, Math.ceil(body / step));
  const plainLength = body - totalChunks * AEAD_TAG_BYTES;
  if (plainLength < 0) throw new CryptoError("MEDIA_CORRUPT", "media ciphertext truncated");
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= plainLength)) {
    throw new CryptoError("INVALID_INPUT", "range outside the file");
  }
  const firstChunk = Math.floor(start / chunkSize);
  const lastChunk = Math.min(totalChunks - 1, Math.max(firstChunk, Math.ceil(end / chunkSize) - 1));
  return {
    cipherStart: MEDIA_HEADER_BYTES + firstChunk * step,
    cipherEnd: Math.min(ciphertextLength, MEDIA_HEADER_BYTES + (lastChunk + 1) * step),
    firstChunk,
    totalChunks,
    skip: start - firstChunk * chunkSize,
    take: end - start,
  };
}

/** Decrypts the bytes fetched for `plan` (header = the file's first 5 bytes). */
export async function decryptMediaRange(key: Uint8Array, header: Uint8Array, plan: MediaRangePlan, fetched: Uint8Array): Promise<Uint8Array> {
  const chunkSize = parseMediaHeader(header);
  if (fetched.length !== plan.cipherEnd - plan.cipherStart) throw new CryptoError("MEDIA_CORRUPT", "range response has the wrong length");
  const cipher = await ChunkCipher.create(key, header.subarray(0, MEDIA_HEADER_BYTES));
  const chunks = sealedChunks(fetched, chunkSize);
  const opened = await Promise.all(chunks.map((c, k) => cipher.openOne(plan.firstChunk + k, plan.firstChunk + k === plan.totalChunks - 1, c, false)));
  return concatBytes(...opened.map((o) => o.data)).subarray(plan.skip, plan.skip + plan.take);
}

/** Exact ciphertext length for a plaintext of `plainLength` bytes (what an upload slot declares). */
export function mediaCiphertextLength(plainLength: number, chunkSize = MEDIA_CHUNK_BYTES): number {
  checkChunkSize(chunkSize);
  if (!Number.isSafeInteger(plainLength) || plainLength < 0) throw new CryptoError("INVALID_INPUT", "media length must be a non-negative integer");
  return MEDIA_HEADER_BYTES + plainLength + Math.max(1, Math.ceil(plainLength / chunkSize)) * AEAD_TAG_BYTES;
}

/**
 * Seals chunks by index, for an uploader that produces a byte range of the ciphertext on demand
 * (one multipart part, sent again after a failure or a process restart): chunk i's ciphertext
 * depends only on the key, i and whether it is the last chunk, so sealing it twice gives the same
 * bytes. The caller keeps each chunk's hash by index and gets the digest from `mediaDigest`.
 */
export class MediaChunkSealer {
  private constructor(
    private readonly cipher: ChunkCipher,
    readonly chunkSize: number,
  ) {}

  static async create(key: Uint8Array, chunkSize = MEDIA_CHUNK_BYTES): Promise<MediaChunkSealer> {
    checkChunkSize(chunkSize);
    return new MediaChunkSealer(await ChunkCipher.create(key, encodeHeader(chunkSize)), chunkSize);
  }

  get header(): Uint8Array {
    return this.cipher.header;
  }

  /** The sealed chunk and its 32-byte hash (what the digest commits to). */
  async seal(index: number, final: boolean, plain: Uint8Array): Promise<{ sealed: Uint8Array; hash: Uint8Array }> {
    const { data, hash } = await this.cipher.sealOne(index, final, plain);
    return { sealed: data, hash: hash! };
  }

  /** Seals chunk `index` into `dest` (plain.length + 16 bytes, e.g. a reused buffer) and resolves to its hash. */
  sealInto(index: number, final: boolean, plain: Uint8Array, dest: Uint8Array): Promise<Uint8Array> {
    if (dest.length !== plain.length + AEAD_TAG_BYTES) throw new CryptoError("INVALID_INPUT", "sealed chunk buffer has the wrong size");
    return this.cipher.sealInto(index, final, plain, dest);
  }
}

/** The whole-file digest from the header and every chunk's hash, in chunk order. */
export function mediaDigest(header: Uint8Array, chunkHashes: Uint8Array[]): Uint8Array {
  return sha512(concatBytes(DIGEST_LABEL, header, ...chunkHashes)).subarray(0, MEDIA_DIGEST_BYTES);
}
