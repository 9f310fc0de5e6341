/**
 * @module Account deletion (issue 11): everything the server holds for an account goes, and its
 * handle is held back for the cooling-off period (HANDLE_COOLING_OFF_DAYS) so nobody can take
 * over the identity at once.
 *
 * Order matters, and every step is idempotent so a failed deletion can simply be retried:
 * 1. tombstone the devices (new sends stop addressing them, tokens cannot be renewed);
 * 2. group memberships: it leaves every group, so the groups are told;
 * 3. media it owns: pending uploads aborted, R2 objects and rows deleted;
 * 4. Durable Object storage: every device inbox (queue, counters, socket closed) and the account's
 *    presence object;
 * 5. the D1 rows, in one batch: prekeys, push tokens, privacy, blocks by and of it, reports by and
 *    about it, its verifications, devices, the account; plus the handle reservation.
 * What stays: ChatRooms keep the idempotency records of messages it sent (ids and sequence
 * numbers, no content) until their retention prune, as for any message.
 */
import { and, eq, isNull } from "drizzle-orm";
import { loadConfig } from "../config";
import { findAccount } from "../db/accounts";
import { deleteBlocksOfStatement } from "../db/blocks";
import { database } from "../db/client";
import { reserveHandleStatement } from "../db/handle-reservations";
import { mediaOfAccount } from "../db/media";
import { deleteReportsOfStatement } from "../db/moderation";
import { accounts, devices, oneTimePrekeys, pqPrekeys, privacySettings, pushTokens, verifications } from "../db/schema";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { inboxStub } from "../inbox";
import { MEDIA_CLEANUP_BATCH } from "../limits";
import { logEvent } from "../log";
import { deleteMediaRows } from "../media/cleanup";
import { chatRoomStub, presenceRoomStub } from "../placement";
import { listGroupsOf } from "../db/groups";

export async function deleteAccount(env: Env, accountId: string, now: number): Promise<void> {
  const db = database(env.DB);
  const account = await findAccount(db, accountId);
  if (!account) throw new ApiError("not_found", "no such account");
  const config = loadConfig(env);

  // 1. Devices stop being addressable before their inboxes are emptied.
  await db.update(devices).set({ removedAt: now }).where(and(eq(devices.accountId, accountId), isNull(devices.removedAt)));
  const allDevices = await db.select({ deviceId: devices.deviceId }).from(devices).where(eq(devices.accountId, accountId));

  // 2. Group memberships: leave every group through its ChatRoom, which writes the "left" event into
  // the group's sequence (so the members are told) and hands the admin role on if it was the last.
  for (const group of await listGroupsOf(db, accountId)) {
    const left = await chatRoomStub(env, group.chat_id).changeGroup({ actor: accountId, change: { op: "leave" } });
    // "Not a member" means an earlier, interrupted deletion already left: nothing to do.
    if (!left.ok && left.code !== "forbidden" && left.code !== "not_found") throw new ApiError(left.code, left.message);
  }

  // 3. Media, batch by batch (R2 first, then rows; see deleteMediaRows).
  let mediaDeleted = 0;
  for (;;) {
    const rows = await mediaOfAccount(db, accountId, MEDIA_CLEANUP_BATCH);
    if (rows.length === 0) break;
    await deleteMediaRows(env, rows);
    mediaDeleted += rows.length;
  }

  // 4. Durable Object storage.
  await Promise.all([
    ...allDevices.map((d) => inboxStub(env, { accountId, deviceId: d.deviceId }).purge()),
    presenceRoomStub(env, `a:${accountId}`).forgetAccount(),
  ]);

  // 5. The rows, atomically; the handle reservation in the same batch.
  const coolingOffMs = config.handleCoolingOffDays * 86_400_000;
  await db.batch([
    db.delete(oneTimePrekeys).where(eq(oneTimePrekeys.accountId, accountId)),
    db.delete(pqPrekeys).where(eq(pqPrekeys.accountId, accountId)),
    db.delete(pushTokens).where(eq(pushTokens.accountId, accountId)),
    db.delete(privacySettings).where(eq(privacySettings.accountId, accountId)),
    deleteBlocksOfStatement(db, accountId),
    deleteReportsOfStatement(db, accountId),
    db.delete(verifications).where(eq(verifications.handle, account.handle)),
    db.delete(devices).where(eq(devices.accountId, accountId)),
    db.delete(accounts).where(eq(accounts.id, accountId)),
    ...(coolingOffMs > 0 ? [reserveHandleStatement(db, account.handle, now + coolingOffMs)] : []),
  ]);
  logEvent("info", "account_deleted", { account_id: accountId, devices: allDevices.length, media: mediaDeleted });
}
