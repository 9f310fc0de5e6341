/**
 * @module D1 access for accounts, verifications and devices. Every check-then-write that could race
 * is a single conditional statement (compare-and-set), because D1 has no interactive transactions.
 */
import { and, desc, eq, gt, isNotNull, isNull, lt, max, ne, or, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { DeviceKeysBody } from "../protocol/keys";
import type { Db } from "./client";
import { deletePushTokenStatement } from "./push-tokens";
import { accounts, devices, oneTimePrekeys, pqPrekeys, verifications } from "./schema";

export type DeviceRow = typeof devices.$inferSelect;
export type VerificationRow = typeof verifications.$inferSelect;

export async function findAccountByHandle(db: Db, handle: string) {
  return db.query.accounts.findFirst({ where: eq(accounts.handle, handle) });
}

export async function findAccount(db: Db, accountId: string) {
  return db.query.accounts.findFirst({ where: eq(accounts.id, accountId) });
}

export async function insertVerification(db: Db, row: typeof verifications.$inferInsert): Promise<void> {
  await db.insert(verifications).values(row);
}

export async function findVerification(db: Db, id: string): Promise<VerificationRow | undefined> {
  return db.query.verifications.findFirst({ where: eq(verifications.id, id) });
}

/** Counts one guess; returns false when the attempt budget was already spent (atomic). */
export async function spendVerificationAttempt(db: Db, id: string, maxAttempts: number): Promise<boolean> {
  const rows = await db
    .update(verifications)
    .set({ attempts: sql`${verifications.attempts} + 1` })
    .where(and(eq(verifications.id, id), lt(verifications.attempts, maxAttempts)))
    .returning({ attempts: verifications.attempts });
  return rows.length === 1;
}

/** Marks a verification used; returns false if someone else used it first (atomic). */
export async function claimVerification(db: Db, id: string, now: number): Promise<boolean> {
  const rows = await db
    .update(verifications)
    .set({ usedAt: now })
    .where(and(eq(verifications.id, id), isNull(verifications.usedAt)))
    .returning({ id: verifications.id });
  return rows.length === 1;
}

/** Verifications started for a handle since `since` (to cap code requests per handle). */
export async function countRecentVerifications(db: Db, handle: string, since: number): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)` })
    .from(verifications)
    .where(and(eq(verifications.handle, handle), sql`${verifications.createdAt} >= ${since}`));
  return row?.n ?? 0;
}

export function insertAccountStatement(db: Db, row: typeof accounts.$inferInsert) {
  return db.insert(accounts).values(row);
}

export function insertDeviceStatement(db: Db, row: typeof devices.$inferInsert) {
  return db.insert(devices).values(row);
}

/** The device row of a new device (registration, linking) from its uploaded keys. */
export function newDeviceRow(
  ref: { accountId: string; deviceId: number },
  keys: Pick<DeviceKeysBody, "registration_id" | "identity_key" | "signed_prekey" | "pq_last_resort_prekey">,
  name: string | null,
  now: number,
): typeof devices.$inferInsert {
  return {
    ...ref,
    name,
    registrationId: keys.registration_id,
    identityKey: keys.identity_key,
    signedPrekeyId: keys.signed_prekey.key_id,
    signedPrekey: keys.signed_prekey.public_key,
    signedPrekeySignature: keys.signed_prekey.signature,
    pqLastResortId: keys.pq_last_resort_prekey?.key_id ?? null,
    pqLastResortKey: keys.pq_last_resort_prekey?.public_key ?? null,
    pqLastResortSignature: keys.pq_last_resort_prekey?.signature ?? null,
    createdAt: now,
    lastActiveAt: now,
  };
}

export async function runBatch(db: Db, statements: BatchItem<"sqlite">[]): Promise<void> {
  if (statements.length === 0) return;
  await db.batch(statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
}

export async function findActiveDevice(db: Db, accountId: string, deviceId: number): Promise<DeviceRow | undefined> {
  return db.query.devices.findFirst({
    where: and(eq(devices.accountId, accountId), eq(devices.deviceId, deviceId), isNull(devices.removedAt)),
  });
}

export async function listActiveDevices(db: Db, accountId: string): Promise<DeviceRow[]> {
  return db.query.devices.findMany({
    where: and(eq(devices.accountId, accountId), isNull(devices.removedAt)),
    orderBy: devices.deviceId,
  });
}

export type RemovalReason = NonNullable<DeviceRow["removedReason"]>;

/** The statements that tombstone a device and delete its prekeys and push token (run in one batch). */
export function removeDeviceStatements(db: Db, accountId: string, deviceId: number, now: number, reason: RemovalReason) {
  return [
    db
      .update(devices)
      .set({ removedAt: now, removedReason: reason })
      .where(and(eq(devices.accountId, accountId), eq(devices.deviceId, deviceId), isNull(devices.removedAt)))
      .returning({ deviceId: devices.deviceId }),
    db.delete(oneTimePrekeys).where(and(eq(oneTimePrekeys.accountId, accountId), eq(oneTimePrekeys.deviceId, deviceId))),
    db.delete(pqPrekeys).where(and(eq(pqPrekeys.accountId, accountId), eq(pqPrekeys.deviceId, deviceId))),
    deletePushTokenStatement(db, accountId, deviceId),
  ] as const;
}

/** Tombstones a device and deletes its prekeys in one transaction; false if it was not active. */
export async function removeDevice(db: Db, accountId: string, deviceId: number, now: number, reason: RemovalReason = "logged_out"): Promise<boolean> {
  const [removed] = await db.batch(removeDeviceStatements(db, accountId, deviceId, now, reason));
  return removed.length === 1;
}

/** The highest device id the account ever had (removed ones included: ids are never reused). */
export async function highestDeviceId(db: Db, accountId: string): Promise<number> {
  const [row] = await db.select({ top: max(devices.deviceId) }).from(devices).where(eq(devices.accountId, accountId));
  return row?.top ?? 0;
}

/** Devices removed since `since`, newest first. */
export async function listRemovedDevices(db: Db, accountId: string, since: number): Promise<DeviceRow[]> {
  return db.query.devices.findMany({
    where: and(eq(devices.accountId, accountId), isNotNull(devices.removedAt), gt(devices.removedAt, since)),
    orderBy: desc(devices.removedAt),
  });
}

/** Records that a device was active, at most once per `interval` (a no-op write otherwise). */
export async function recordDeviceActivity(db: Db, accountId: string, deviceId: number, now: number, interval: number): Promise<void> {
  await db
    .update(devices)
    .set({ lastActiveAt: now })
    .where(
      and(
        eq(devices.accountId, accountId),
        eq(devices.deviceId, deviceId),
        or(isNull(devices.lastActiveAt), lt(devices.lastActiveAt, now - interval)),
      ),
    );
}

/** Active companions (never the primary) not active since `before` (linked before it and never since). */
export async function listInactiveCompanions(db: Db, before: number, limit: number): Promise<DeviceRow[]> {
  return db.query.devices.findMany({
    where: and(
      isNull(devices.removedAt),
      ne(devices.deviceId, 1),
      sql`coalesce(${devices.lastActiveAt}, ${devices.createdAt}) < ${before}`,
    ),
    limit,
  });
}
