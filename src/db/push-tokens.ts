/**
 * @module Typed D1 access to push registrations (one per device). Converting between the wire
 * shape (src/protocol/push.ts) and the row lives here, so routes and the queue consumer share it.
 */
import { and, eq } from "drizzle-orm";
import type { PushTokenInputBody } from "../protocol/push";
import type { Db } from "./client";
import { pushTokens } from "./schema";

export type PushTokenRow = typeof pushTokens.$inferSelect;

/** A registration as the providers need it. */
export type PushTarget =
  | { platform: "apns"; token: string; environment: "production" | "sandbox" }
  | { platform: "fcm"; token: string }
  | { platform: "webpush"; endpoint: string; p256dh: string; auth: string };

export function toRow(accountId: string, deviceId: number, input: PushTokenInputBody, now: number): PushTokenRow {
  const base = { accountId, deviceId, apnsEnvironment: null, p256dh: null, auth: null, updatedAt: now };
  switch (input.platform) {
    case "apns":
      return { ...base, platform: "apns", token: input.token, apnsEnvironment: input.environment };
    case "fcm":
      return { ...base, platform: "fcm", token: input.token };
    case "webpush":
      return { ...base, platform: "webpush", token: input.subscription.endpoint, ...input.subscription.keys };
  }
}

/** The row as a provider target; null for a row that is not internally consistent. */
export function toTarget(row: PushTokenRow): PushTarget | null {
  switch (row.platform) {
    case "apns":
      return { platform: "apns", token: row.token, environment: row.apnsEnvironment ?? "production" };
    case "fcm":
      return { platform: "fcm", token: row.token };
    case "webpush":
      return row.p256dh && row.auth ? { platform: "webpush", endpoint: row.token, p256dh: row.p256dh, auth: row.auth } : null;
  }
}

export async function putPushToken(db: Db, row: PushTokenRow): Promise<void> {
  const { accountId: _a, deviceId: _d, ...update } = row;
  await db.insert(pushTokens).values(row).onConflictDoUpdate({ target: [pushTokens.accountId, pushTokens.deviceId], set: update });
}

export async function findPushToken(db: Db, accountId: string, deviceId: number): Promise<PushTokenRow | undefined> {
  return db.query.pushTokens.findFirst({ where: and(eq(pushTokens.accountId, accountId), eq(pushTokens.deviceId, deviceId)) });
}

export function deletePushTokenStatement(db: Db, accountId: string, deviceId: number) {
  return db.delete(pushTokens).where(and(eq(pushTokens.accountId, accountId), eq(pushTokens.deviceId, deviceId)));
}

export async function deletePushToken(db: Db, accountId: string, deviceId: number): Promise<boolean> {
  const deleted = await deletePushTokenStatement(db, accountId, deviceId).returning({ deviceId: pushTokens.deviceId });
  return deleted.length > 0;
}

/**
 * Deletes the registration only if it is still `token`: a provider's "unregistered" answer about an
 * old token must not delete the new one the device registered in the meantime.
 */
export async function deleteStalePushToken(db: Db, accountId: string, deviceId: number, token: string): Promise<void> {
  await db.delete(pushTokens).where(and(eq(pushTokens.accountId, accountId), eq(pushTokens.deviceId, deviceId), eq(pushTokens.token, token)));
}
