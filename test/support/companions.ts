/**
 * Companion devices without the linking protocol: a device row written straight into D1 next to
 * an account's primary, with real keys, so that it can log in (challenge -> token), upload
 * prekeys, appear in bundles and be removed through the API like a linked device (tests of
 * delivery and removal that do not need a signed device list; linking.test.ts links for real).
 */
import { env } from "cloudflare:workers";
import { newDeviceRow } from "../../src/db/accounts";
import { database } from "../../src/db/client";
import { devices } from "../../src/db/schema";
import { makeDevice, type TestDevice } from "./identity";

export interface CompanionDevice extends TestDevice {
  accountId: string;
  deviceId: number;
}

export async function addCompanionDevice(accountId: string, deviceId: number, name = `companion ${deviceId}`): Promise<CompanionDevice> {
  const device = makeDevice({ oneTime: 0, pqLastResort: false });
  await database(env.DB).insert(devices).values(newDeviceRow({ accountId, deviceId }, device.keys, name, Date.now()));
  return { ...device, accountId, deviceId };
}
