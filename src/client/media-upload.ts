/**
 * @module Sending a file's bytes: encrypts with the chunked media cipher (crypto/media.ts) while
 * uploading, in bounded memory (one upload unit is held: the whole body up to the server's
 * single-PUT limit, otherwise one multipart part), retrying a failed unit after asking the server
 * which parts it already has. Knows nothing about messages: it returns the attachment to send.
 */
import { toBase64 } from "../protocol/encoding";
import type { MediaSlotBody, MediaStoredBody } from "../protocol/media";
import type { ApiClient } from "./api";
import { CryptoError } from "./crypto/errors";
import { MediaEncryptStream, mediaCiphertextLength, rechunk } from "./crypto/media";
import { ParleyApiError, TransportError } from "./errors";
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

function retryable(err: unknown): boolean {
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

async function uploadUnits(api: ApiClient, slot: MediaSlotBody, cipher: AsyncIterable<Uint8Array>, progress: (bytes: number) => void): Promise<MediaStoredBody> {
  const { upload } = slot;
  if (upload.mode === "single") {
    for await (const body of units(cipher, slot.size)) {
      const stored = await withRetries(
        () => api.putMedia(upload.url, body, upload.complete_required),
        async () => null,
      );
      progress(body.length);
      return stored ?? (await api.completeMedia(slot.media_id, slot.cap));
    }
    throw new CryptoError("INVALID_INPUT", "nothing to upload");
  }
  let n = 0;
  for await (const body of units(cipher, upload.part_bytes)) {
    const part = ++n;
    await withRetries(
      () => api.putMediaPart(slot.media_id, slot.cap, part, body),
      async () => ((await api.mediaParts(slot.media_id, slot.cap)).parts.some((p) => p.part_number === part && p.size === body.length) ? { part_number: part, size: body.length } : null),
    );
    progress(body.length);
  }
  return withRetries(
    () => api.completeMedia(slot.media_id, slot.cap),
    async () => null,
  );
}

/** Encrypts and uploads; on a failure that retries cannot fix, aborts the slot so nothing lingers. */
export async function uploadFile(api: ApiClient, source: FileSource, options: UploadOptions): Promise<FileAttachment> {
  const size = sourceSize(source, options.size);
  const cipherSize = mediaCiphertextLength(size);
  const contentClass = options.contentClass ?? contentClassOf(options.mime);
  const slot = await api.mediaSlot({ size: cipherSize, content_class: contentClass });
  const encryptor = new MediaEncryptStream();
  let plainSeen = 0;
  let sent = 0;
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const piece of iterate(source)) {
      plainSeen += piece.length;
      if (plainSeen > size) throw new CryptoError("INVALID_INPUT", `the source is longer than the declared ${size} bytes`);
      yield piece;
    }
    if (plainSeen !== size) throw new CryptoError("INVALID_INPUT", `the source ended after ${plainSeen} of ${size} bytes`);
  }
  let stored: MediaStoredBody;
  try {
    stored = await uploadUnits(api, slot, encryptor.encrypt(counted()), (bytes) => {
      sent += bytes;
      options.onProgress?.(Math.min(size, Math.round((sent / cipherSize) * size)), size);
    });
  } catch (err) {
    await api.abortMedia(slot.media_id, slot.cap).catch(() => undefined);
    throw err;
  }
  return {
    media_id: stored.media_id,
    download_cap: stored.download_cap,
    key: toBase64(encryptor.key),
    digest: toBase64(encryptor.digest()),
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
