/**
 * @module D1 access for signed device lists (issue 10): the current list of an account, and the
 * statements that replace it. Storing a version that already exists fails on the primary key,
 * which rolls back the whole batch: of two changes made from the same list only one lands.
 */
import { and, desc, eq, lt } from "drizzle-orm";
import type { Db } from "./client";
import { deviceLists } from "./schema";

export type DeviceListRow = typeof deviceLists.$inferSelect;

export async function currentDeviceList(db: Db, accountId: string): Promise<DeviceListRow | undefined> {
  return db.query.deviceLists.findFirst({ where: eq(deviceLists.accountId, accountId), orderBy: desc(deviceLists.version) });
}

/** Insert the new version, then drop the older ones (both in the caller's batch). */
export function replaceDeviceListStatements(db: Db, row: typeof deviceLists.$inferInsert) {
  return [
    db.insert(deviceLists).values(row),
    db.delete(deviceLists).where(and(eq(deviceLists.accountId, row.accountId), lt(deviceLists.version, row.version))),
  ] as const;
}

/** True when a batch failed because another change stored the same version first. */
export function isDeviceListRace(err: unknown): boolean {
  return /UNIQUE constraint failed: device_lists\./.test(String(err));
}
