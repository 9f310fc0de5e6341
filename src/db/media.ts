/**
 * @module D1 access for media rows and their multipart parts. The quota check and the slot insert
 * are one conditional statement, so two concurrent slot requests cannot both squeeze under it.
 */
import { and, asc, eq, inArray, lte } from "drizzle-orm";
import type { Db } from "./client";
import { media, mediaParts, mediaRefs } from "./schema";

export type MediaRow = typeof media.$inferSelect;
export type MediaPartRow = typeof mediaParts.$inferSelect;

/** Window the daily quota counts over: a rolling day, so there is no midnight burst. */
export const QUOTA_WINDOW_MS = 86_400_000;

/**
 * Inserts the slot only if the account's declared bytes in the last day plus this one stay within
 * `quota`; returns false (nothing inserted) otherwise.
 */
export async function insertSlotWithinQuota(d1: D1Database, row: typeof media.$inferInsert, quota: number): Promise<boolean> {
  const result = await d1
    .prepare(
      `INSERT INTO media (id, account_id, device_id, size, content_class, state, mode, upload_id, part_bytes, etag, created_at, upload_expires_at, expires_at, completed_at)
       SELECT ?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?8, NULL, ?9, ?10, ?11, NULL
       WHERE (SELECT COALESCE(SUM(size), 0) FROM media WHERE account_id = ?2 AND created_at > ?12) + ?4 <= ?13`,
    )
    .bind(row.id, row.accountId, row.deviceId, row.size, row.contentClass, row.mode, row.uploadId ?? null, row.partBytes, row.createdAt, row.uploadExpiresAt, row.expiresAt, row.createdAt - QUOTA_WINDOW_MS, quota)
    .run();
  return result.meta.changes === 1;
}

/** Bytes counted now, and when the oldest counted slot leaves the window (null: none counted). */
export async function usedQuota(d1: D1Database, accountId: string, now: number): Promise<{ used: number; nextFreedAt: number | null }> {
  const row = await d1
    .prepare("SELECT COALESCE(SUM(size), 0) AS used, MIN(created_at) AS oldest FROM media WHERE account_id = ? AND created_at > ?")
    .bind(accountId, now - QUOTA_WINDOW_MS)
    .first<{ used: number; oldest: number | null }>();
  return { used: row?.used ?? 0, nextFreedAt: row?.oldest == null ? null : row.oldest + QUOTA_WINDOW_MS };
}

export function findMedia(db: Db, id: string): Promise<MediaRow | undefined> {
  return db.query.media.findFirst({ where: eq(media.id, id) });
}

export async function setUploadId(db: Db, id: string, uploadId: string): Promise<void> {
  await db.update(media).set({ uploadId }).where(eq(media.id, id));
}

/** pending -> complete, once (a second completion finds no pending row). */
export async function markComplete(db: Db, id: string, etag: string, now: number): Promise<boolean> {
  const rows = await db
    .update(media)
    .set({ state: "complete", etag, completedAt: now })
    .where(and(eq(media.id, id), eq(media.state, "pending")))
    .returning({ id: media.id });
  return rows.length === 1;
}

export async function recordPart(db: Db, part: MediaPartRow): Promise<void> {
  await db
    .insert(mediaParts)
    .values(part)
    .onConflictDoUpdate({ target: [mediaParts.mediaId, mediaParts.partNumber], set: { etag: part.etag, size: part.size } });
}

export function listParts(db: Db, id: string): Promise<MediaPartRow[]> {
  return db.select().from(mediaParts).where(eq(mediaParts.mediaId, id)).orderBy(asc(mediaParts.partNumber));
}

export async function extendExpiry(db: Db, id: string, expiresAt: number): Promise<void> {
  await db.update(media).set({ expiresAt }).where(and(eq(media.id, id), eq(media.state, "complete")));
}

/** Rows the cleanup should remove now: stored media past expiry, uploads past their window. */
export async function expiredMedia(db: Db, now: number, limit: number): Promise<MediaRow[]> {
  const stored = await db
    .select()
    .from(media)
    .where(and(eq(media.state, "complete"), lte(media.expiresAt, now)))
    .limit(limit);
  const stale = await db
    .select()
    .from(media)
    .where(and(eq(media.state, "pending"), lte(media.uploadExpiresAt, now)))
    .limit(Math.max(0, limit - stored.length));
  return [...stored, ...stale];
}

export async function deleteMedia(db: Db, ids: string[]): Promise<void> {
  // Chunks of 90 ids: a D1 statement binds at most 100 parameters.
  for (let i = 0; i < ids.length; i += 90) {
    const chunk = ids.slice(i, i + 90);
    await db.batch([
      db.delete(mediaParts).where(inArray(mediaParts.mediaId, chunk)),
      db.delete(mediaRefs).where(inArray(mediaRefs.mediaId, chunk)),
      db.delete(media).where(inArray(media.id, chunk)),
    ]);
  }
}

/** A batch of an account's media rows (account deletion deletes them batch by batch). */
export function mediaOfAccount(db: Db, accountId: string, limit: number): Promise<MediaRow[]> {
  return db.select().from(media).where(eq(media.accountId, accountId)).limit(limit);
}

/** Records that `chatId` referenced each media id (again: refreshes the time); 1:1 chats name both accounts. */
export async function recordMediaRefs(db: Db, mediaIds: string[], chatId: string, accounts: [string, string] | null, now: number): Promise<void> {
  if (mediaIds.length === 0) return;
  await db
    .insert(mediaRefs)
    .values(mediaIds.map((mediaId) => ({ mediaId, chatId, accountA: accounts?.[0] ?? null, accountB: accounts?.[1] ?? null, referencedAt: now })))
    .onConflictDoUpdate({ target: [mediaRefs.mediaId, mediaRefs.chatId], set: { referencedAt: now } });
}

/** Whether `accountId` is a member of a chat that referenced the media (a 1:1 party, or a current group member). */
export async function referencedForAccount(d1: D1Database, mediaId: string, accountId: string): Promise<boolean> {
  const row = await d1
    .prepare(
      `SELECT 1 AS ok FROM media_refs r WHERE r.media_id = ?1 AND (r.account_a = ?2 OR r.account_b = ?2
         OR EXISTS (SELECT 1 FROM group_members g WHERE g.group_id = r.chat_id AND g.account_id = ?2)) LIMIT 1`,
    )
    .bind(mediaId, accountId)
    .first<{ ok: number }>();
  return row !== null;
}

/** Stored rows among `ids` (any state; the caller checks). */
export function findMediaRows(db: Db, ids: string[]): Promise<MediaRow[]> {
  return db.select().from(media).where(inArray(media.id, ids));
}
