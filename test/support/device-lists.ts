/**
 * Signed device lists as a primary device makes them (the shared encoder of
 * src/protocol/device-lists.ts, signed with the test device's Ed25519 key), for tests of the
 * server's linking and unlinking rules.
 */
import { concatBytes, fromBase64, toBase64 } from "../../src/protocol/encoding";
import { DEVICE_LIST_SIGNATURE_LABEL, writeDeviceList } from "../../src/protocol/device-lists";
import { sign } from "./identity";

export interface ListedDevice {
  deviceId: number;
  identityKey: string;
  keys: { registration_id: number };
}

export function signedDeviceList(
  signer: { identitySecret: Uint8Array },
  accountId: string,
  version: number,
  devices: ListedDevice[],
  timestamp = Date.now(),
): { list: string; signature: string } {
  const bytes = writeDeviceList({
    accountId,
    version,
    timestamp,
    devices: devices.map((d) => ({ deviceId: d.deviceId, identityKey: fromBase64(d.identityKey)!, registrationId: d.keys.registration_id })),
  });
  return { list: toBase64(bytes), signature: sign(signer.identitySecret, concatBytes(DEVICE_LIST_SIGNATURE_LABEL, bytes)) };
}
