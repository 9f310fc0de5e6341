/**
 * @module Upload slots and the upload itself: a slot (declared size, content class) reserves quota
 * and hands out an upload capability; the body then streams through the Worker into R2, in one PUT
 * up to MEDIA_SINGLE_PUT_MAX_BYTES or as R2 multipart parts above it. Every byte count is checked
 * against the declaration; nothing is visible for download until the upload is complete, and an
 * interrupted multipart upload resumes from the parts R2 accepted (recorded in D1).
 * Does not serve downloads (downloads.ts) nor expire anything (cleanup.ts).
 */
import type { Config } from "../config";
import { database } from "../db/client";
import { deleteMedia, findMedia, insertSlotWithinQuota, listParts, markComplete, type MediaRow, recordPart, setUploadId, usedQuota } from "../db/media";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { MEDIA_MAX_PARTS } from "../limits";
import { describeError, logEvent } from "../log";
import { mediaBucket } from "../placement";
import type { MediaPartsBody, MediaSlotBody, MediaStoredBody } from "../protocol/media";
import { issueCapability, requireCapability } from "./capability";
import { checkDeclaredLength, exactBody, lengthError } from "./exact-body";
import { mediaObjectKey, newMediaId } from "./keys";
import { presignConfig, presignUrl, usesPresignedUrls } from "./presign";

export interface SlotRequest {
  accountId: string;
  deviceId: number;
  size: number;
  contentClass: MediaRow["contentClass"];
}

/** Part size for a file: the configured size, grown only if the file would need more than 10,000 parts. */
function partBytesFor(cfg: Config, size: number): number {
  const mib = 1024 * 1024;
  return Math.max(cfg.mediaPartBytes, Math.ceil(size / MEDIA_MAX_PARTS / mib) * mib);
}

export function partCount(row: Pick<MediaRow, "size" | "partBytes">): number {
  return Math.ceil(row.size / row.partBytes);
}

function partLength(row: MediaRow, partNumber: number): number {
  const count = partCount(row);
  return partNumber < count ? row.partBytes : row.size - (count - 1) * row.partBytes;
}

export async function createSlot(env: Env, cfg: Config, req: SlotRequest, origin: string, now: number): Promise<MediaSlotBody> {
  if (req.size > cfg.mediaMaxBytes) {
    throw new ApiError("payload_too_large", `media larger than ${cfg.mediaMaxBytes} bytes is refused`, { max_bytes: cfg.mediaMaxBytes });
  }
  const id = newMediaId();
  const mode = req.size > cfg.mediaSinglePutMaxBytes ? "multipart" : "single";
  const partBytes = mode === "multipart" ? partBytesFor(cfg, req.size) : req.size;
  const uploadExpiresAt = now + cfg.mediaUploadTtlSeconds * 1000;
  const expiresAt = now + cfg.mediaRetentionDays * 86_400_000;
  // Quota first (it is the check that can fail), the R2 upload id after: an R2 multipart upload
  // created for a refused slot would linger until R2's own expiry.
  const row = { id, state: "pending", accountId: req.accountId, deviceId: req.deviceId, size: req.size, contentClass: req.contentClass, mode, partBytes, createdAt: now, uploadExpiresAt, expiresAt } as const;
  if (!(await insertSlotWithinQuota(env.DB, row, cfg.mediaDailyQuotaBytes))) {
    const used = await usedQuota(env.DB, req.accountId, now);
    throw new ApiError("quota_exceeded", `daily media quota of ${cfg.mediaDailyQuotaBytes} bytes would be exceeded`, {
      quota_bytes: cfg.mediaDailyQuotaBytes,
      used_bytes: used,
    });
  }
  const cap = await issueCapability(cfg.authTokenSecret, "upload", id, uploadExpiresAt);
  if (mode === "multipart") {
    try {
      const upload = await mediaBucket(env, req.accountId).createMultipartUpload(mediaObjectKey(id), { httpMetadata: { contentType: "application/octet-stream" } });
      await setUploadId(database(env.DB), id, upload.uploadId);
    } catch (err) {
      // A slot without an R2 upload could never complete: give the quota back and say so.
      await deleteMedia(database(env.DB), [id]);
      logEvent("error", "media_multipart_create_failed", { cause: describeError(err) });
      throw new ApiError("upstream_failed", "storage could not start the upload; retry");
    }
    return { media_id: id, size: req.size, cap, upload_expires_at: uploadExpiresAt, expires_at: expiresAt, upload: { mode, part_bytes: partBytes, part_count: partCount(row) } };
  }
  const presigned = usesPresignedUrls(cfg, req.accountId);
  const url = presigned
    ? await presignUrl(presignConfig(cfg), "PUT", mediaObjectKey(id), cfg.mediaUploadTtlSeconds, now)
    : `${origin}/v1/media/${id}/upload?cap=${encodeURIComponent(cap)}`;
  return { media_id: id, size: req.size, cap, upload_expires_at: uploadExpiresAt, expires_at: expiresAt, upload: { mode, method: "PUT", url, complete_required: presigned } };
}

/** The pending upload a valid upload capability names; 401/403/404/409 otherwise. */
export async function authorizedUpload(env: Env, cfg: Config, mediaId: string, cap: string | undefined, now: number): Promise<MediaRow> {
  await requireCapability(cfg.authTokenSecret, "upload", mediaId, cap, now);
  const row = await findMedia(database(env.DB), mediaId);
  if (!row) throw new ApiError("not_found", "no such upload (expired and cleaned up, or aborted)");
  return row;
}

function requirePending(row: MediaRow, mode: MediaRow["mode"]): void {
  if (row.state !== "pending") throw new ApiError("conflict", "this media is already stored; media is immutable");
  if (row.mode !== mode) throw new ApiError("conflict", `this upload is ${row.mode}: use the ${row.mode === "single" ? "PUT /upload" : "PUT /parts/{n}"} route`);
}

async function stored(cfg: Config, row: MediaRow, etag: string): Promise<MediaStoredBody> {
  return {
    media_id: row.id,
    size: row.size,
    etag,
    expires_at: row.expiresAt,
    download_cap: await issueCapability(cfg.authTokenSecret, "download", row.id, row.expiresAt),
  };
}

/** Single-request upload: the whole body, exactly the declared size, stored atomically. */
export async function putSingle(env: Env, cfg: Config, row: MediaRow, request: Request, now: number): Promise<MediaStoredBody> {
  requirePending(row, "single");
  checkDeclaredLength(request, row.size, "the media body");
  const body = exactBody(request.body!, row.size);
  let object: R2Object;
  try {
    object = await mediaBucket(env, row.accountId).put(mediaObjectKey(row.id), body.stream, { httpMetadata: { contentType: "application/octet-stream" } });
  } catch (err) {
    throw lengthError(body, row.size, "the media body", err);
  }
  if (!(await markComplete(database(env.DB), row.id, object.etag, now))) throw new ApiError("conflict", "this media was stored concurrently");
  return stored(cfg, row, object.etag);
}

export async function putPart(env: Env, row: MediaRow, partNumber: number, request: Request): Promise<{ part_number: number; size: number }> {
  requirePending(row, "multipart");
  const count = partCount(row);
  if (partNumber > count) throw new ApiError("invalid_request", `part ${partNumber} is out of range: this upload has ${count} parts`, { part_count: count });
  const expected = partLength(row, partNumber);
  const what = `part ${partNumber}`;
  checkDeclaredLength(request, expected, what);
  const body = exactBody(request.body!, expected);
  let part: R2UploadedPart;
  try {
    part = await mediaBucket(env, row.accountId).resumeMultipartUpload(mediaObjectKey(row.id), row.uploadId!).uploadPart(partNumber, body.stream);
  } catch (err) {
    throw lengthError(body, expected, what, err);
  }
  await recordPart(database(env.DB), { mediaId: row.id, partNumber, etag: part.etag, size: expected });
  return { part_number: partNumber, size: expected };
}

export async function partsOf(env: Env, row: MediaRow): Promise<MediaPartsBody> {
  const parts = row.mode === "multipart" ? await listParts(database(env.DB), row.id) : [];
  return {
    media_id: row.id,
    state: row.state,
    part_bytes: row.partBytes,
    part_count: row.mode === "multipart" ? partCount(row) : 1,
    parts: parts.map((p) => ({ part_number: p.partNumber, size: p.size })),
  };
}

/** Completes a multipart upload once every part is there, or confirms a presigned single PUT. */
export async function complete(env: Env, cfg: Config, row: MediaRow, now: number): Promise<MediaStoredBody> {
  if (row.state === "complete") return stored(cfg, row, row.etag!);
  const db = database(env.DB);
  const key = mediaObjectKey(row.id);
  let etag: string;
  if (row.mode === "multipart") {
    const parts = await listParts(db, row.id);
    const have = new Set(parts.map((p) => p.partNumber));
    const missing = Array.from({ length: partCount(row) }, (_, i) => i + 1).filter((n) => !have.has(n));
    if (missing.length > 0) throw new ApiError("conflict", `parts missing: ${missing.slice(0, 20).join(", ")}${missing.length > 20 ? ", ..." : ""}`, { missing });
    const object = await mediaBucket(env, row.accountId).resumeMultipartUpload(key, row.uploadId!).complete(parts.map((p) => ({ partNumber: p.partNumber, etag: p.etag })));
    etag = object.etag;
  } else {
    // Presigned mode: the body went straight to R2; check what arrived before accepting it.
    const head = await mediaBucket(env, row.accountId).head(key);
    if (!head) throw new ApiError("conflict", "nothing was uploaded yet");
    if (head.size !== row.size) {
      await mediaBucket(env, row.accountId).delete(key);
      throw new ApiError("invalid_request", `the uploaded body was ${head.size} bytes, not the declared ${row.size}; upload again`);
    }
    etag = head.etag;
  }
  await markComplete(db, row.id, etag, now);
  return stored(cfg, row, etag);
}

/** Abandons a pending upload: R2 drops the parts, D1 forgets the slot (which releases its quota). */
export async function abort(env: Env, row: MediaRow): Promise<void> {
  if (row.state !== "pending") throw new ApiError("conflict", "this media is already stored; it expires with the retention window");
  if (row.uploadId) await mediaBucket(env, row.accountId).resumeMultipartUpload(mediaObjectKey(row.id), row.uploadId).abort();
  await mediaBucket(env, row.accountId).delete(mediaObjectKey(row.id));
  await deleteMedia(database(env.DB), [row.id]);
}
