/**
 * @module Sending a file's bytes: encrypts with the chunked media cipher (crypto/media.ts) while
 * uploading, retrying a failed unit (the single body or one multipart part) after asking the
 * server which parts it already has. A source that can be read again (bytes, a Blob or File,
 * `fs.openAsBlob`) streams each unit straight from the cipher to the request (media-ranges.ts: a
 * few chunks in memory); a one-pass stream is gathered one unit at a time in one reused buffer.
 * Knows nothing about messages: it returns the attachment to send.
 */
import { toBase64 } from "../protocol/encoding";
import type { MediaSlotBody, MediaStoredBody } from "../protocol/media";
import type { ApiClient, MediaBody } from "./api";
import { CryptoError } from "./crypto/errors";
import { MEDIA_KEY_BYTES, MediaEncryptStream, mediaCiphertextLength, rechunk } from "./crypto/media";
import { systemRng } from "./crypto/primitives";
import { ParleyApiError, TransportError } from "./errors";
import { isRereadable, MediaCipherRanges } from "./media-ranges";
import type { FileAttachment } from "./payload";

/** What sendFile accepts: bytes, a Blob/File, a web stream or any async iterable of bytes. */
export type FileSource = Uint8Array | Blob | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

export interface UploadOptions {
  mime: string;
  name?: string;
  /** Plaintext size: required for streams and iterables (the slot declares the exact size). */
  size?: number;
  contentClass?: FileAttachment["content_class"];
  thumbnail?: { mime: string; data: Uint8Array };
  /** Called after each stored unit with plaintext-proportional progress. */
  onProgress?: (sent: number, total: number) => void;
}

/** Attempts per upload unit before giving up (the slot stays resumable until it expires). */
const UNIT_ATTEMPTS = 4;
const RETRY_DELAY_MS = 500;

function sourceSize(source: FileSource, declared: number | undefined): number {
  if (source instanceof Uint8Array) return source.length;
  if (typeof Blob !== "undefined" && source instanceof Blob) return source.size;
  if (declared === undefined) throw new CryptoError("INVALID_INPUT", "sendFile from a stream needs options.size (the exact plaintext length)");
  return declared;
}

async function* iterate(source: FileSource): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    // Views in 1 MiB steps: the encryptor rechunks anyway, and nothing is copied up front.
    for (let o = 0; o < source.length; o += 1 << 20) yield source.subarray(o, o + (1 << 20));
    return;
  }
  const stream = typeof Blob !== "undefined" && source instanceof Blob ? source.stream() : source;
  if (Symbol.asyncIterator in stream) {
    for await (const piece of stream as AsyncIterable<Uint8Array>) yield piece;
    return;
  }
  const reader = (stream as ReadableStream<Uint8Array>).getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) yield r.value;
}

/**
 * Upload units of `size` ciphertext bytes, in one reused buffer: a unit is uploaded completely
 * before the next is asked for, and a fresh buffer per part would leave the garbage collector tens
 * of megabytes behind on a large file.
 */
const units = (cipher: AsyncIterable<Uint8Array>, size: number) => rechunk(cipher, size, true);

/** A failure worth another attempt, now or in a later resume: the network, or the server saying so. */
export function retryable(err: unknown): boolean {
  return err instanceof TransportError || (err instanceof ParleyApiError && err.retryable);
}

async function withRetries<T>(attempt: () => Promise<T>, alreadyDone: () => Promise<T | null>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!retryable(err) || i >= UNIT_ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS * i));
      // The unit may have landed before the connection dropped: ask instead of resending.
      const done = await alreadyDone().catch(() => null);
      if (done !== null) return done;
    }
  }
}

/** Byte ranges [start, end) of the ciphertext each upload unit carries, numbered from 1. */
export function unitRanges(slot: MediaSlotBody): { part: number; start: number; end: number }[] {
  if (slot.upload.mode === "single") return [{ part: 1, start: 0, end: slot.size }];
  const { part_bytes } = slot.upload;
  const out: { part: number; start: number; end: number }[] = [];
  for (let start = 0, part = 1; start < slot.size; start += part_bytes, part++) out.push({ part, start, end: Math.min(slot.size, start + part_bytes) });
  return out;
}

/**
 * Uploads one unit (`body()` makes its bytes afresh for every attempt) and, for the single unit,
 * returns the stored result. `sent()` runs when an attempt's request succeeded (not when a failed
 * attempt turns out to have landed: its body may still be on its way out).
 */
async function uploadUnit(api: ApiClient, slot: MediaSlotBody, part: number, length: number, body: () => MediaBody, sent: () => void = () => undefined): Promise<MediaStoredBody | null> {
  const { upload } = slot;
  const confirmed = <T>(result: T): T => (sent(), result);
  if (upload.mode === "single") {
    return withRetries(
      async () => confirmed(await api.putMedia(upload.url, body(), upload.complete_required)),
      async () => null,
    );
  }
  await withRetries(
    async () => confirmed(await api.putMediaPart(slot.media_id, slot.cap, part, body())),
    async () => ((await api.mediaParts(slot.media_id, slot.cap)).parts.some((p) => p.part_number === part && p.size === length) ? { part_number: part, size: length } : null),
  );
  return null;
}

async function finish(api: ApiClient, slot: MediaSlotBody, stored: MediaStoredBody | null): Promise<MediaStoredBody> {
  return (
    stored ??
    withRetries(
      () => api.completeMedia(slot.media_id, slot.cap),
      async () => null,
    )
  );
}

/**
 * Uploads the units of `ranges` not in `skip` (parts the server already has), each streamed from
 * the cipher; `onUnit` runs after each stored unit (progress, saved resume state).
 */
export async function uploadRanges(
  api: ApiClient,
  slot: MediaSlotBody,
  cipher: MediaCipherRanges,
  onUnit: (unit: { part: number; start: number; end: number }) => Promise<void> | void,
  skip: ReadonlySet<number> = new Set(),
): Promise<MediaStoredBody> {
  let stored: MediaStoredBody | null = null;
  for (const unit of unitRanges(slot)) {
    if (skip.has(unit.part)) continue;
    const length = unit.end - unit.start;
    try {
      stored = await uploadUnit(
        api,
        slot,
        unit.part,
        length,
        () => cipher.body(unit.start, unit.end),
        () => cipher.sent(),
      );
    } catch (err) {
      // A file that cannot be read is not a network problem: say what it is (and do not keep the upload for a resume).
      if (err instanceof TransportError && cipher.sourceError instanceof CryptoError) throw cipher.sourceError;
      throw err;
    }
    await onUnit(unit);
  }
  return finish(api, slot, stored);
}

/** A one-pass source: each unit gathered in one reused buffer, then sent (and re-sent on a retry) from it. */
async function uploadBuffered(api: ApiClient, slot: MediaSlotBody, cipher: AsyncIterable<Uint8Array>, progress: (bytes: number) => void): Promise<MediaStoredBody> {
  const unitBytes = slot.upload.mode === "single" ? slot.size : slot.upload.part_bytes;
  let stored: MediaStoredBody | null = null;
  let part = 0;
  for await (const body of units(cipher, unitBytes)) {
    // As a one-piece stream: undici copies a Uint8Array body first, and that copy would be a part's worth of garbage.
    const asStream = (): MediaBody => ({ stream: new ReadableStream({ start: (c) => (c.enqueue(body), c.close()) }), length: body.length });
    stored = await uploadUnit(api, slot, ++part, body.length, asStream);
    progress(body.length);
  }
  if (part === 0) throw new CryptoError("INVALID_INPUT", "nothing to upload");
  return finish(api, slot, stored);
}

/** Encrypts and uploads; on a failure that retries cannot fix, aborts the slot so nothing lingers. */
export async function uploadFile(api: ApiClient, source: FileSource, options: UploadOptions): Promise<FileAttachment> {
  const size = sourceSize(source, options.size);
  const cipherSize = mediaCiphertextLength(size);
  const contentClass = options.contentClass ?? contentClassOf(options.mime);
  const slot = await api.mediaSlot({ size: cipherSize, content_class: contentClass });
  let sent = 0;
  const progress = (bytes: number) => {
    sent += bytes;
    options.onProgress?.(Math.min(size, Math.round((sent / cipherSize) * size)), size);
  };
  let stored: MediaStoredBody;
  let key: Uint8Array;
  let digest: () => Uint8Array;
  try {
    if (isRereadable(source)) {
      key = systemRng(MEDIA_KEY_BYTES);
      const cipher = await MediaCipherRanges.create(source, key);
      stored = await uploadRanges(api, slot, cipher, (unit) => progress(unit.end - unit.start));
      digest = () => cipher.digest();
    } else {
      const encryptor = new MediaEncryptStream();
      key = encryptor.key;
      // `units` copies each sealed chunk into the part buffer before it asks for the next.
      stored = await uploadBuffered(api, slot, encryptor.encrypt(exactLength(source, size), { copied: true }), progress);
      digest = () => encryptor.digest();
    }
  } catch (err) {
    await api.abortMedia(slot.media_id, slot.cap).catch(() => undefined);
    throw err;
  }
  return attachment(stored, key, digest(), size, cipherSize, contentClass, options);
}

/** The one-pass source, failing if it is longer or shorter than declared. */
async function* exactLength(source: FileSource, size: number): AsyncGenerator<Uint8Array> {
  let seen = 0;
  for await (const piece of iterate(source)) {
    seen += piece.length;
    if (seen > size) throw new CryptoError("INVALID_INPUT", `the source is longer than the declared ${size} bytes`);
    yield piece;
  }
  if (seen !== size) throw new CryptoError("INVALID_INPUT", `the source ended after ${seen} of ${size} bytes`);
}

/** What the message carries about an uploaded file. */
export function attachment(
  stored: MediaStoredBody,
  key: Uint8Array,
  digest: Uint8Array,
  size: number,
  cipherSize: number,
  contentClass: FileAttachment["content_class"],
  options: Pick<UploadOptions, "mime" | "name" | "thumbnail">,
): FileAttachment {
  return {
    media_id: stored.media_id,
    download_cap: stored.download_cap,
    key: toBase64(key),
    digest: toBase64(digest),
    size,
    cipher_size: cipherSize,
    mime: options.mime,
    ...(options.name ? { name: options.name } : {}),
    content_class: contentClass,
    expires_at: stored.expires_at,
    ...(options.thumbnail ? { thumbnail: { mime: options.thumbnail.mime, data: toBase64(options.thumbnail.data) } } : {}),
  };
}

export function contentClassOf(mime: string): FileAttachment["content_class"] {
  const top = mime.split("/")[0];
  if (top === "image" || top === "video" || top === "audio") return top;
  if (/^(application\/(pdf|msword|vnd\.|rtf|zip)|text\/)/.test(mime)) return "document";
  return "other";
}
