/**
 * @module Signed device lists: the account's primary device (id 1) signs the set of its devices
 * (id, identity key, registration id) with a version and a timestamp. Clients verify the list
 * before encrypting to any device, so the server cannot add a ghost device, hide one, or replay an
 * older list. Owns the signed byte format and the verification rules; fetching and storing the
 * last verified list is the caller's job.
 *
 * Signed bytes: "parley:device-list:v1" || encoded list, where the encoded list is
 *   version byte 0x01 || account id (u32 length || UTF-8) || list version (u64) || timestamp ms (u64)
 *   || device count (u32) || per device, ascending ids: device id (u32) || identity key (32) || registration id (u32)
 */
import { bytesEqual, concatBytes, utf8 } from "../../protocol/encoding";
import { writeDeviceList } from "../../protocol/device-lists";
import { versioned } from "../state/codec";
import { CryptoError, checkBytes } from "./errors";
import { DEVICE_LIST_MAX_AGE_MS, DEVICE_LIST_MAX_CLOCK_SKEW_MS, MAX_DEVICES_PER_ACCOUNT } from "./limits";
import { ed25519Sign, ed25519Verify, type KeyPair } from "./primitives";

const LABEL = utf8("parley:device-list:v1");
const FORMAT_VERSION = 1;
export const PRIMARY_DEVICE_ID = 1;

export interface DeviceListEntry {
  deviceId: number;
  identityKey: Uint8Array;
  registrationId: number;
}

export interface DeviceList {
  accountId: string;
  /** Strictly increases with every change; a lower version is a rollback. */
  version: number;
  /** Milliseconds since the epoch when the primary signed it. */
  timestamp: number;
  devices: DeviceListEntry[];
}

export interface SignedDeviceList {
  list: Uint8Array;
  signature: Uint8Array;
}

function checkShape(l: DeviceList): void {
  if (l.devices.length === 0 || l.devices.length > MAX_DEVICES_PER_ACCOUNT) throw new CryptoError("INVALID_INPUT", "device list size out of range");
  let previous = 0;
  for (const d of l.devices) {
    if (!Number.isInteger(d.deviceId) || d.deviceId <= previous || d.deviceId > 0xffff_ffff) {
      throw new CryptoError("INVALID_INPUT", "device ids must be positive, unique and ascending");
    }
    checkBytes(d.identityKey, 32, "device identity key");
    previous = d.deviceId;
  }
  if (l.devices[0]!.deviceId !== PRIMARY_DEVICE_ID) throw new CryptoError("INVALID_INPUT", "device list lacks the primary device");
}

export function encodeDeviceList(l: DeviceList): Uint8Array {
  checkShape(l);
  return writeDeviceList(l);
}

export function decodeDeviceList(bytes: Uint8Array): DeviceList {
  const r = versioned(bytes, FORMAT_VERSION, "device list");
  const accountId = new TextDecoder("utf-8", { fatal: true }).decode(r.bytes(256));
  const version = r.u64();
  const timestamp = r.u64();
  const count = r.u32();
  if (count > MAX_DEVICES_PER_ACCOUNT) throw new CryptoError("MALFORMED", "device list too long");
  const devices: DeviceListEntry[] = [];
  for (let i = 0; i < count; i++) devices.push({ deviceId: r.u32(), identityKey: r.fixed(32), registrationId: r.u32() });
  r.end();
  const list = { accountId, version, timestamp, devices };
  checkShape(list);
  return list;
}

/** Signs a list with the primary device's identity key (Ed25519 seed + public key). */
export async function signDeviceList(primary: KeyPair, list: DeviceList): Promise<SignedDeviceList> {
  const primaryEntry = list.devices.find((d) => d.deviceId === PRIMARY_DEVICE_ID);
  if (!primaryEntry || !bytesEqual(primaryEntry.identityKey, primary.publicKey)) {
    throw new CryptoError("INVALID_INPUT", "the signing key must be the primary device's identity key");
  }
  const bytes = encodeDeviceList(list);
  return { list: bytes, signature: await ed25519Sign(primary, concatBytes(LABEL, bytes)) };
}

export interface DeviceListTrust {
  accountId: string;
  /** The primary identity key the app trusts (pinned on first contact, verified by safety number). */
  primaryIdentityKey: Uint8Array;
  /** The last list verified for this account, if any: versions must not go back. */
  previous: SignedDeviceList | null;
  now: number;
  maxAgeMs?: number;
}

/**
 * Verifies a signed list and returns it. Rejects: bad or missing signature (INVALID_SIGNATURE),
 * wrong account or primary key (UNTRUSTED_IDENTITY), and lists that are older than the previous
 * one, equivocate at the same version, are too old, or come from the future (STALE_DEVICE_LIST).
 */
export async function verifyDeviceList(signed: SignedDeviceList, trust: DeviceListTrust): Promise<DeviceList> {
  checkBytes(signed.list, undefined, "device list");
  if (!(await ed25519Verify(trust.primaryIdentityKey, concatBytes(LABEL, signed.list), signed.signature))) {
    throw new CryptoError("INVALID_SIGNATURE", "device list is not signed by the trusted primary key");
  }
  const list = decodeDeviceList(signed.list);
  if (list.accountId !== trust.accountId) throw new CryptoError("UNTRUSTED_IDENTITY", "device list is for another account");
  if (!bytesEqual(list.devices[0]!.identityKey, trust.primaryIdentityKey)) {
    throw new CryptoError("UNTRUSTED_IDENTITY", "device list names a different primary identity key");
  }
  if (list.timestamp > trust.now + DEVICE_LIST_MAX_CLOCK_SKEW_MS) throw new CryptoError("STALE_DEVICE_LIST", "device list is from the future");
  if (list.timestamp < trust.now - (trust.maxAgeMs ?? DEVICE_LIST_MAX_AGE_MS)) throw new CryptoError("STALE_DEVICE_LIST", "device list is too old");
  if (trust.previous) {
    const before = decodeDeviceList(trust.previous.list);
    if (list.version < before.version) throw new CryptoError("STALE_DEVICE_LIST", "device list version went back (rollback)");
    if (list.version === before.version && !bytesEqual(signed.list, trust.previous.list)) {
      throw new CryptoError("STALE_DEVICE_LIST", "two different device lists with the same version");
    }
    if (list.timestamp < before.timestamp) throw new CryptoError("STALE_DEVICE_LIST", "device list timestamp went back");
  }
  return list;
}
