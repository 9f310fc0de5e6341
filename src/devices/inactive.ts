/**
 * @module The inactive-companion sweep (issue 10): a linked device that has not asked for a token
 * in LINKED_DEVICE_INACTIVE_DAYS (default 30) is unlinked, like WhatsApp's companions. Runs from
 * the hourly cron (src/index.ts). The account learns of it from GET /v1/devices
 * (`removed_devices`, reason "inactive"); the primary re-signs its list without the device the
 * next time it changes it. Idempotent and bounded per run: a device already removed is skipped by
 * the conditional update, and what one run leaves the next one picks up.
 */
import { listInactiveCompanions, removeDevice } from "../db/accounts";
import { database } from "../db/client";
import { loadConfig } from "../config";
import type { Env } from "../env";
import { INACTIVE_DEVICE_SWEEP_BATCH } from "../limits";
import { logEvent } from "../log";
import { afterDeviceRemoved } from "./removal";

export async function unlinkInactiveDevices(env: Env, now: number): Promise<number> {
  const db = database(env.DB);
  const cutoff = now - loadConfig(env).linkedDeviceInactiveDays * 86_400_000;
  let unlinked = 0;
  for (const device of await listInactiveCompanions(db, cutoff, INACTIVE_DEVICE_SWEEP_BATCH)) {
    if (!(await removeDevice(db, device.accountId, device.deviceId, now, "inactive"))) continue;
    await afterDeviceRemoved(env, device.accountId, device.deviceId, "inactive");
    unlinked++;
  }
  if (unlinked > 0) logEvent("info", "inactive_devices_unlinked", { count: unlinked });
  return unlinked;
}
