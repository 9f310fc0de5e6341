/**
 * @module Media referenced by messages: a send may declare the media ids its (end-to-end
 * encrypted) attachments name, in cleartext, because the server needs them anyway for retention.
 * The sender must be allowed to reference each one (it uploaded it, or it is in a chat that
 * referenced it: forwarding); after the ChatRoom accepts the message, the chat is recorded as a
 * referrer, so the members of that chat may download with their device token (no capability),
 * and the media's expiry moves to a full retention window from now ("expires unless
 * re-referenced"). Anyone else gets the same 404 as for an id that does not exist.
 * A send without media ids touches no D1 (the steady-state send path stays D1-free).
 */
import type { DevicePrincipal } from "../auth/tokens";
import type { Config } from "../config";
import { database } from "../db/client";
import { extendExpiry, findMedia, findMediaRows, type MediaRow, recordMediaRefs, referencedForAccount } from "../db/media";
import type { Env } from "../env";
import { ApiError } from "../errors";

const NOT_FOUND = "no such media (expired, not uploaded yet, or not shared with you)";

function usable(row: MediaRow | undefined, now: number): row is MediaRow {
  return row !== undefined && row.state === "complete" && row.expiresAt > now;
}

/** Whether this account may read the media: its uploader, or a member of a chat that referenced it. */
async function mayRead(env: Env, row: MediaRow, accountId: string): Promise<boolean> {
  return row.accountId === accountId || referencedForAccount(env.DB, row.id, accountId);
}

/** Refuses a send that names media the sender may not reference (404, whether or not the id exists). */
export async function checkReferences(env: Env, sender: DevicePrincipal, mediaIds: string[], now: number): Promise<void> {
  if (mediaIds.length === 0) return;
  const rows = new Map((await findMediaRows(database(env.DB), [...new Set(mediaIds)])).map((r) => [r.id, r]));
  for (const id of new Set(mediaIds)) {
    const row = rows.get(id);
    if (!usable(row, now) || !(await mayRead(env, row, sender.accountId))) {
      throw new ApiError("not_found", `media_ids: ${NOT_FOUND}`, { media_id: id });
    }
  }
}

/**
 * Records the chat as a referrer of each media id and extends each one's expiry to a retention
 * window from now. Idempotent: a resent message (same msg_id) records the same rows again.
 */
export async function recordReferences(env: Env, cfg: Config, chatId: string, accounts: [string, string] | null, mediaIds: string[], now: number): Promise<void> {
  const ids = [...new Set(mediaIds)];
  if (ids.length === 0) return;
  const db = database(env.DB);
  await recordMediaRefs(db, ids, chatId, accounts, now);
  const expiresAt = now + cfg.mediaRetentionDays * 86_400_000;
  for (const row of await findMediaRows(db, ids)) if (row.expiresAt < expiresAt) await extendExpiry(db, row.id, expiresAt);
}

/** A stored, unexpired media row this account may download; 404 otherwise (never telling which case). */
export async function authorizedMemberDownload(env: Env, mediaId: string, accountId: string, now: number): Promise<MediaRow> {
  const row = await findMedia(database(env.DB), mediaId);
  if (!usable(row, now) || !(await mayRead(env, row, accountId))) throw new ApiError("not_found", NOT_FOUND);
  return row;
}
