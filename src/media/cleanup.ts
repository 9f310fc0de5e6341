/**
 * @module Retention: the scheduled sweep (cron trigger in wrangler.toml -> `scheduled` in
 * src/index.ts) that deletes stored media past its expiry and aborts uploads left pending past
 * their upload window (R2 keeps unfinished multipart parts, billed, until they are aborted).
 * Idempotent and bounded per run: whatever one run leaves, the next picks up.
 */
import { database } from "../db/client";
import { deleteMedia, expiredMedia } from "../db/media";
import type { Env } from "../env";
import { MEDIA_CLEANUP_BATCH } from "../limits";
import { logEvent } from "../log";
import { mediaBucket } from "../placement";
import { mediaObjectKey } from "./keys";

export interface CleanupReport {
  deleted: number;
  aborted: number;
}

/** Runs batches until nothing is due or `maxBatches` ran (a cron invocation has bounded time). */
export async function cleanupMedia(env: Env, now: number, maxBatches = 10): Promise<CleanupReport> {
  const db = database(env.DB);
  const report: CleanupReport = { deleted: 0, aborted: 0 };
  for (let batch = 0; batch < maxBatches; batch++) {
    const rows = await expiredMedia(db, now, MEDIA_CLEANUP_BATCH);
    if (rows.length === 0) break;
    for (const row of rows) {
      if (row.state === "pending" && row.uploadId) {
        try {
          await mediaBucket(env, row.accountId).resumeMultipartUpload(mediaObjectKey(row.id), row.uploadId).abort();
        } catch {
          // Already completed, aborted, or expired on R2's side: nothing left to abort.
        }
        report.aborted++;
      } else if (row.state === "complete") {
        report.deleted++;
      }
    }
    // R2 objects first: a row without its object is harmless, an object without its row would leak.
    // (A pending single upload may have a presigned body sitting there too.)
    const keysByBucket = new Map<R2Bucket, string[]>();
    for (const row of rows) {
      const bucket = mediaBucket(env, row.accountId);
      keysByBucket.set(bucket, [...(keysByBucket.get(bucket) ?? []), mediaObjectKey(row.id)]);
    }
    for (const [bucket, keys] of keysByBucket) await bucket.delete(keys);
    await deleteMedia(db, rows.map((r) => r.id));
    if (rows.length < MEDIA_CLEANUP_BATCH) break;
  }
  if (report.deleted + report.aborted > 0) logEvent("info", "media_cleanup", { deleted: report.deleted, aborted: report.aborted });
  return report;
}
