/**
 * @module Removing devices (issue 10): a device removed by the primary's signed list ("unlinked"),
 * by itself ("logged_out") or by the inactivity sweep ("inactive"). D1 first (tombstone, prekeys,
 * push token: from then on the device's tokens are refused, src/middleware/auth.ts), then each
 * device's inbox is told, which closes its socket and deletes its queue. Peers notice through the
 * 409 `extra` answer to their next send and drop their sessions with the device; groups rotate
 * their sender keys on the `device_removed` log event's data (the groups work hooks in here).
 */
import type { Env } from "../env";
import { inboxStub } from "../inbox";
import { logEvent } from "../log";
import type { RemovalReason } from "../db/accounts";

/** Called once per removed device after D1 committed the removal. */
export async function afterDeviceRemoved(env: Env, accountId: string, deviceId: number, reason: RemovalReason): Promise<void> {
  await inboxStub(env, { accountId, deviceId }).deactivate();
  logEvent("info", "device_removed", { account_id: accountId, device_id: deviceId, reason });
}
