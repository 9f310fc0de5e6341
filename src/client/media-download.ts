/**
 * @module Receiving a file's bytes: downloads the ciphertext named by a FileAttachment and yields
 * verified plaintext as it streams (crypto/media.ts checks every chunk's tag, order, the final
 * flag and, at the end, the whole-file digest), or decrypts just a byte range from the chunks that
 * cover it. A blob of the wrong length is refused before any decryption. The message's download
 * capability is tried first; once it has expired (the media was re-referenced since, so it lives
 * longer than the capability), the device downloads as a member of the chat instead.
 */
import { fromBase64 } from "../protocol/encoding";
import type { ApiClient } from "./api";
import { CryptoError } from "./crypto/errors";
import { decryptMediaRange, decryptMediaStream, MEDIA_HEADER_BYTES, parseMediaHeader, planMediaRange } from "./crypto/media";
import { ParleyApiError } from "./errors";
import type { FileAttachment } from "./payload";
import { releaseBuffer } from "./release-buffer";

function capabilityExpired(cap: string, now: number): boolean {
  const exp = Number(cap.slice(0, cap.indexOf(".")));
  return Number.isSafeInteger(exp) && exp <= now;
}

/** GET with the capability, or as a chat member when it has expired or is refused as expired. */
async function openMedia(api: ApiClient, file: FileAttachment, range?: { start: number; end: number }): Promise<Response> {
  if (capabilityExpired(file.download_cap, Date.now())) return api.downloadMedia(file.media_id, null, range);
  try {
    return await api.downloadMedia(file.media_id, file.download_cap, range);
  } catch (err) {
    if (err instanceof ParleyApiError && err.status === 403 && /expired/.test(err.message)) return api.downloadMedia(file.media_id, null, range);
    throw err;
  }
}

/** Whether `body` is a byte stream (the Fetch standard's, undici's): only those accept a BYOB reader. */
function isByteStream(body: ReadableStream<Uint8Array>): boolean {
  try {
    body.getReader({ mode: "byob" }).releaseLock();
    return true;
  } catch {
    return false;
  }
}

/**
 * The response body piece by piece, for a consumer that copies each piece before it asks for the
 * next (bytesOf, decryptMediaStream). Each piece is then freed (release-buffer.ts) if it came from
 * a byte stream: enqueueing into one transfers the chunk's buffer, so the stream's reader holds its
 * only live reference, and the response has finished with it (undici: a copy of the socket's
 * bytes per read; in Node, node-media-http.ts: the HTTP parser's copy of each body piece). A body
 * from an app's own fetch that is not a byte stream may share its pieces: those are left alone.
 */
async function* bodyOf(res: Response): AsyncGenerator<Uint8Array> {
  if (!res.body) return;
  const ours = isByteStream(res.body);
  const reader = res.body.getReader();
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      yield r.value;
      if (ours) releaseBuffer(r.value);
    }
  } finally {
    reader.releaseLock();
  }
}

async function bytesOf(res: Response, expected: number): Promise<Uint8Array> {
  const out = new Uint8Array(expected);
  let fill = 0;
  for await (const piece of bodyOf(res)) {
    if (fill + piece.length > expected) throw new CryptoError("MEDIA_CORRUPT", "media response longer than requested");
    out.set(piece, fill);
    fill += piece.length;
  }
  if (fill !== expected) throw new CryptoError("MEDIA_CORRUPT", "media response truncated");
  return out;
}

/** Counts bytes on the way through: a stream longer or shorter than the attachment says is corrupt. */
async function* exactly(source: AsyncIterable<Uint8Array>, expected: number): AsyncGenerator<Uint8Array> {
  let seen = 0;
  for await (const piece of source) {
    seen += piece.length;
    if (seen > expected) throw new CryptoError("MEDIA_CORRUPT", `media blob longer than the ${expected} bytes the message names`);
    yield piece;
  }
  if (seen !== expected) throw new CryptoError("MEDIA_CORRUPT", `media blob truncated: ${seen} of ${expected} bytes`);
}

/** The whole file, verified as it streams. Treat output as provisional until the iteration ends without throwing. */
export async function* downloadFile(api: ApiClient, file: FileAttachment): AsyncGenerator<Uint8Array> {
  const res = await openMedia(api, file);
  const declared = res.headers.get("content-length");
  if (declared !== null && Number(declared) !== file.cipher_size) {
    await res.body?.cancel();
    throw new CryptoError("MEDIA_CORRUPT", `media blob is ${declared} bytes, the message names ${file.cipher_size}`);
  }
  yield* decryptMediaStream(exactly(bodyOf(res), file.cipher_size), fromBase64(file.key)!, fromBase64(file.digest)!);
}

/** Plaintext bytes [start, end) of the file, from the chunks that cover them (authenticated per chunk). */
export async function downloadFileRange(api: ApiClient, file: FileAttachment, start: number, end: number): Promise<Uint8Array> {
  const header = await bytesOf(await openMedia(api, file, { start: 0, end: MEDIA_HEADER_BYTES }), MEDIA_HEADER_BYTES);
  const plan = planMediaRange(file.cipher_size, parseMediaHeader(header), start, end);
  if (plan.take === 0) return new Uint8Array(0);
  const fetched = await bytesOf(await openMedia(api, file, { start: plan.cipherStart, end: plan.cipherEnd }), plan.cipherEnd - plan.cipherStart);
  return decryptMediaRange(fromBase64(file.key)!, header, plan, fetched);
}
