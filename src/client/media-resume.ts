/**
 * @module File uploads that survive the process: before the first part goes out, the slot, the
 * file key and the message to send are saved in the client store (PendingUpload), and after every
 * stored part the hashes of its chunks. A new Client on the same store finishes the upload from
 * the same file: it asks the server which parts it holds, encrypts and sends only the others, and
 * computes the digest from the saved and the new chunk hashes. Needs a source that can be read
 * again (bytes, a Blob or File, `fs.openAsBlob`).
 */
import { MediaSlot, type MediaSlotBody, type MediaStoredBody } from "../protocol/media";
import { fromBase64, toBase64 } from "../protocol/encoding";
import type { ApiClient } from "./api";
import { MEDIA_CHUNK_BYTES } from "./crypto/limits";
import { MEDIA_KEY_BYTES, mediaCiphertextLength } from "./crypto/media";
import { CryptoError } from "./crypto/errors";
import { systemRng } from "./crypto/primitives";
import { MediaCipherRanges, type RereadableSource } from "./media-ranges";
import { attachment, contentClassOf, retryable, unitRanges, uploadRanges, type UploadOptions } from "./media-upload";
import type { FileAttachment } from "./payload";
import type { ClientStore, PendingUpload } from "./store/client-store";

/** Uploads the parts the server does not hold yet, saving chunk hashes after each one. */
async function run(api: ApiClient, store: ClientStore, upload: PendingUpload, source: RereadableSource, onProgress?: UploadOptions["onProgress"]): Promise<FileAttachment> {
  const slot: MediaSlotBody = MediaSlot.parse(JSON.parse(upload.slot));
  const cipher = await MediaCipherRanges.create(source, fromBase64(upload.key)!);
  if (cipher.size !== upload.size) throw new CryptoError("INVALID_INPUT", `the file is ${cipher.size} bytes; the upload was started with ${upload.size}`);
  cipher.restoreHashes(upload.chunk_hashes);
  const ranges = unitRanges(slot);
  const listing = await api.mediaParts(slot.media_id, slot.cap);
  // Already complete (the process died before sending the message): every unit is there.
  const held = new Set(listing.state === "complete" ? ranges.map((u) => u.part) : listing.parts.map((p) => p.part_number));
  // Parts the server holds count only if we also kept their chunk hashes (saved after the part).
  const skip = new Set(ranges.filter((u) => held.has(u.part) && covered(cipher, u)).map((u) => u.part));
  const firstHeld = ranges.find((u) => skip.has(u.part));
  if (firstHeld && !(await cipher.unchanged(cipher.chunksOf(firstHeld.start, firstHeld.end).first))) {
    throw new CryptoError("INVALID_INPUT", "the file is not the one this upload started with");
  }
  let sent = ranges.filter((u) => skip.has(u.part)).reduce((n, u) => n + u.end - u.start, 0);
  const stored: MediaStoredBody = await uploadRanges(
    api,
    slot,
    cipher,
    async (unit) => {
      sent += unit.end - unit.start;
      await store.putUpload({ ...upload, chunk_hashes: cipher.savedHashes() });
      onProgress?.(Math.min(upload.size, Math.round((sent / slot.size) * upload.size)), upload.size);
    },
    skip,
  );
  const meta = upload.attachment;
  return attachment(stored, fromBase64(upload.key)!, cipher.digest(), upload.size, slot.size, meta.content_class, {
    mime: meta.mime,
    ...(meta.name ? { name: meta.name } : {}),
    ...(meta.thumbnail ? { thumbnail: { mime: meta.thumbnail.mime, data: fromBase64(meta.thumbnail.data)! } } : {}),
  });
}

function covered(cipher: MediaCipherRanges, unit: { start: number; end: number }): boolean {
  const { first, last } = cipher.chunksOf(unit.start, unit.end);
  for (let i = first; i <= last; i++) if (!cipher.hashes[i]) return false;
  return true;
}

/** On failure: a transient one keeps slot and saved state for a later resume; anything else aborts both. */
async function settle<T>(api: ApiClient, store: ClientStore, upload: PendingUpload, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    // A failure a later resume may get past (the network, the server) keeps the saved upload.
    if (!retryable(err)) {
      const slot = MediaSlot.parse(JSON.parse(upload.slot));
      await api.abortMedia(slot.media_id, slot.cap).catch(() => undefined);
      await store.deleteUpload(upload.media_id);
    }
    throw err;
  }
}

/** Starts a saved, resumable upload of `source` for message `message`, and runs it. */
export async function uploadResumable(
  api: ApiClient,
  store: ClientStore,
  source: RereadableSource,
  options: UploadOptions,
  message: PendingUpload["message"],
): Promise<{ file: FileAttachment; upload: PendingUpload }> {
  const size = source instanceof Uint8Array ? source.length : source.size;
  const contentClass = options.contentClass ?? contentClassOf(options.mime);
  const slot = await api.mediaSlot({ size: mediaCiphertextLength(size), content_class: contentClass });
  const upload: PendingUpload = {
    media_id: slot.media_id,
    slot: JSON.stringify(slot),
    upload_expires_at: slot.upload_expires_at,
    key: toBase64(systemRng(MEDIA_KEY_BYTES)),
    size,
    chunk_hashes: new Array<null>(Math.max(1, Math.ceil(size / MEDIA_CHUNK_BYTES))).fill(null),
    attachment: {
      mime: options.mime,
      ...(options.name ? { name: options.name } : {}),
      content_class: contentClass,
      ...(options.thumbnail ? { thumbnail: { mime: options.thumbnail.mime, data: toBase64(options.thumbnail.data) } } : {}),
    },
    message,
    started_at: Date.now(),
  };
  await store.putUpload(upload);
  return { file: await settle(api, store, upload, run(api, store, upload, source, options.onProgress)), upload };
}

/** Finishes a saved upload from the same file (a new process); the saved state is kept until the message is queued. */
export async function resumeSavedUpload(api: ApiClient, store: ClientStore, upload: PendingUpload, source: RereadableSource, onProgress?: UploadOptions["onProgress"]): Promise<FileAttachment> {
  if (upload.upload_expires_at <= Date.now()) {
    await store.deleteUpload(upload.media_id);
    throw new CryptoError("INVALID_INPUT", `upload ${upload.media_id} expired before it was resumed; send the file again`);
  }
  return settle(api, store, upload, run(api, store, upload, source, onProgress));
}
