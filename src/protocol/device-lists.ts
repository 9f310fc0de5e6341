/**
 * @module Signed device lists on the wire (multi-device, issue 10): the `{list, signature}` pair
 * the primary device produces (src/client/crypto/device-list.ts owns signing and the client's
 * verification rules), and a dependency-free reader of the list bytes so that the server can check
 * a list it is asked to store without the client cryptography. The byte format is in
 * docs/PROTOCOL.md section 8.2; this reader and the SDK's decoder read the same bytes.
 */
import { z } from "zod";
import { MAX_DEVICE_LIST_BYTES } from "../limits";
import { base64Bytes } from "./common";
import { utf8 } from "./encoding";

/** Domain separation of the primary's signature: signed bytes are LABEL || list. */
export const DEVICE_LIST_SIGNATURE_LABEL = utf8("parley:device-list:v1");

export const SignedDeviceList = z
  .strictObject({
    list: base64Bytes({ min: 1, max: MAX_DEVICE_LIST_BYTES }, "The encoded device list (docs/PROTOCOL.md 8.2), base64"),
    signature: base64Bytes({ length: 64 }, "Ed25519 signature by the primary device's identity key over 'parley:device-list:v1' || list"),
  })
  .meta({ id: "SignedDeviceList" });

export type SignedDeviceListBody = z.output<typeof SignedDeviceList>;

export interface DeviceListEntryContent {
  deviceId: number;
  identityKey: Uint8Array;
  registrationId: number;
}

export interface DeviceListContent {
  accountId: string;
  version: number;
  timestamp: number;
  devices: DeviceListEntryContent[];
}

/**
 * Reads encoded list bytes; null when they are malformed (unknown format version, truncated,
 * trailing bytes, ids not ascending from the primary). Does not check any signature.
 */
export function readDeviceList(bytes: Uint8Array): DeviceListContent | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const need = (n: number) => {
    if (at + n > bytes.length) throw new RangeError("truncated");
    const start = at;
    at += n;
    return start;
  };
  const u32 = () => view.getUint32(need(4), false);
  const u64 = () => {
    const value = view.getBigUint64(need(8), false);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError("too large");
    return Number(value);
  };
  try {
    if (bytes[need(1)] !== 1) return null;
    const idLength = u32();
    if (idLength > 256) return null;
    const idStart = need(idLength);
    const accountId = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes.subarray(idStart, idStart + idLength));
    const version = u64();
    const timestamp = u64();
    const count = u32();
    if (count === 0 || count > 32) return null;
    const devices: DeviceListEntryContent[] = [];
    for (let i = 0; i < count; i++) {
      const deviceId = u32();
      const keyStart = need(32);
      devices.push({ deviceId, identityKey: bytes.slice(keyStart, keyStart + 32), registrationId: u32() });
    }
    if (at !== bytes.length) return null;
    if (devices[0]!.deviceId !== 1 || devices.some((d, i) => i > 0 && d.deviceId <= devices[i - 1]!.deviceId)) return null;
    return { accountId, version, timestamp, devices };
  } catch {
    return null;
  }
}

/** Encodes a list (the SDK's encodeDeviceList checks its shape first and signs it). */
export function writeDeviceList(content: DeviceListContent): Uint8Array {
  const accountId = utf8(content.accountId);
  const out = new Uint8Array(1 + 4 + accountId.length + 8 + 8 + 4 + content.devices.length * 40);
  const view = new DataView(out.buffer);
  out[0] = 1;
  view.setUint32(1, accountId.length, false);
  out.set(accountId, 5);
  let at = 5 + accountId.length;
  view.setBigUint64(at, BigInt(content.version), false);
  view.setBigUint64(at + 8, BigInt(content.timestamp), false);
  view.setUint32(at + 16, content.devices.length, false);
  at += 20;
  for (const d of content.devices) {
    view.setUint32(at, d.deviceId, false);
    out.set(d.identityKey, at + 4);
    view.setUint32(at + 36, d.registrationId, false);
    at += 40;
  }
  return out;
}
