/**
 * @module The server's check of a signed device list before it stores one (issue 10): the list
 * must verify against the account's primary identity key (the server cannot add a device the
 * primary did not sign), name this account and that primary, and be newer than the stored list.
 * How the list may differ from the account's devices (one new device when linking; only removals
 * when the primary publishes) is decided by the caller.
 */
import { verifyEd25519 } from "../auth/ed25519";
import { findActiveDevice, type DeviceRow } from "../db/accounts";
import type { Db } from "../db/client";
import { currentDeviceList, type DeviceListRow } from "../db/device-lists";
import { ApiError } from "../errors";
import { AUTH_CLOCK_SKEW_MS } from "../limits";
import { type DeviceListContent, DEVICE_LIST_SIGNATURE_LABEL, readDeviceList, type SignedDeviceListBody } from "../protocol/device-lists";
import { bytesEqual, concatBytes, fromBase64 } from "../protocol/encoding";

/** A list from the future beyond this is refused (clients refuse it too: 10 minutes, PROTOCOL.md 8.2). */
const MAX_FUTURE_SKEW_MS = 10 * 60 * 1000 - AUTH_CLOCK_SKEW_MS;

export interface CheckedDeviceList {
  content: DeviceListContent;
  primary: DeviceRow;
  current: DeviceListRow | undefined;
}

export async function checkSignedDeviceList(db: Db, accountId: string, signed: SignedDeviceListBody, now: number): Promise<CheckedDeviceList> {
  const primary = await findActiveDevice(db, accountId, 1);
  if (!primary) throw new ApiError("not_found", "no such account");
  const bytes = fromBase64(signed.list)!;
  const content = readDeviceList(bytes);
  if (!content) throw new ApiError("invalid_device_list", "device_list.list is not an encoded device list (docs/PROTOCOL.md 8.2)");
  const primaryKey = fromBase64(primary.identityKey)!;
  if (!(await verifyEd25519(primaryKey, concatBytes(DEVICE_LIST_SIGNATURE_LABEL, bytes), fromBase64(signed.signature)!))) {
    throw new ApiError("invalid_device_list", "the device list is not signed by the account's primary identity key");
  }
  if (content.accountId !== accountId) throw new ApiError("invalid_device_list", "the device list is for another account");
  if (!bytesEqual(content.devices[0]!.identityKey, primaryKey)) {
    throw new ApiError("invalid_device_list", "the device list names another primary identity key");
  }
  if (content.timestamp > now + MAX_FUTURE_SKEW_MS) throw new ApiError("invalid_device_list", "the device list is dated in the future");
  const current = await currentDeviceList(db, accountId);
  if (current && content.version <= current.version) {
    throw new ApiError("stale_device_list", "the device list is not newer than the current one", { current_version: current.version });
  }
  return { content, primary, current };
}

/** Whether the list names exactly these devices (ids, identity keys and registration ids). */
export function listNames(content: DeviceListContent, devices: Pick<DeviceRow, "deviceId" | "identityKey" | "registrationId">[]): boolean {
  if (content.devices.length !== devices.length) return false;
  const byId = new Map(devices.map((d) => [d.deviceId, d]));
  return content.devices.every((entry) => {
    const device = byId.get(entry.deviceId);
    return device !== undefined && bytesEqual(fromBase64(device.identityKey) ?? new Uint8Array(0), entry.identityKey) && device.registrationId === entry.registrationId;
  });
}
