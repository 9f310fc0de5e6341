/**
 * @module Keeping pairwise sessions with every device a message must reach, and turning one
 * plaintext into one envelope per device. Devices come from what the client knows per account,
 * filtered by the account's verified signed device list (src/client/device-trust.ts: a device
 * the primary did not sign is never sent to); the server corrects that set (409 missing/extra,
 * 410 stale) and `repair` applies the correction: new sessions from fresh bundles, dropped
 * sessions for devices that are gone.
 */
import type { z } from "zod";
import { bytesEqual, fromBase64, toBase64 } from "../protocol/encoding";
import type { BundleDevice, BundleDeviceBody, PrekeyBundleBody } from "../protocol/keys";
import type { DeviceAddressBody, EnvelopeBody } from "../protocol/messages";
import type { ApiClient } from "./api";
import { PRIMARY_DEVICE_ID } from "./crypto/device-list";
import { encryptMessage, messageKind, resetSession, sessionInfo, startSession } from "./crypto/session";
import type { PreKeyBundle } from "./crypto/x3dh";
import { type AllowedDevices, DeviceTrust } from "./device-trust";
import { ParleyApiError } from "./errors";
import type { ClientStore } from "./store/client-store";
import type { ProtocolAddress, ProtocolStore } from "./store/protocol-store";

function toPreKeyBundle(d: z.output<typeof BundleDevice>): PreKeyBundle {
  const bytes = (b64: string) => fromBase64(b64)!;
  return {
    deviceId: d.device_id,
    registrationId: d.registration_id,
    identityKey: bytes(d.identity_key),
    signedPrekey: { keyId: d.signed_prekey.key_id, publicKey: bytes(d.signed_prekey.public_key), signature: bytes(d.signed_prekey.signature) },
    oneTimePrekey: d.one_time_prekey ? { keyId: d.one_time_prekey.key_id, publicKey: bytes(d.one_time_prekey.public_key) } : null,
    pqPrekey: d.pq_prekey
      ? { keyId: d.pq_prekey.key_id, publicKey: bytes(d.pq_prekey.public_key), signature: bytes(d.pq_prekey.signature), lastResort: d.pq_prekey.last_resort }
      : null,
  };
}

export class SessionManager {
  readonly trust: DeviceTrust;

  constructor(
    private readonly api: ApiClient,
    private readonly protocol: ProtocolStore,
    private readonly store: ClientStore,
    private readonly self: ProtocolAddress,
  ) {
    this.trust = new DeviceTrust(protocol, store, self);
  }

  /**
   * Every device a message to `to` must reach, with a session for each: the known devices of `to`
   * and this account's other devices, each only if the account's verified device list names it.
   * An account never seen before is discovered from its bundle.
   */
  async recipients(to: string): Promise<ProtocolAddress[]> {
    return this.devicesOf(to === this.self.accountId ? [to] : [to, this.self.accountId]);
  }

  /**
   * Every device a group message must reach, with a session for each: the known devices of every
   * member account and this account's other devices (accounts never seen are fetched).
   */
  async groupTargets(members: string[]): Promise<ProtocolAddress[]> {
    return this.devicesOf([...new Set([...members, this.self.accountId])]);
  }

  /** The known devices of these accounts but this one, each with a session (unknown accounts are fetched). */
  private async devicesOf(accounts: string[]): Promise<ProtocolAddress[]> {
    const targets: ProtocolAddress[] = [];
    for (const accountId of accounts) {
      let known = await this.store.getKnownDevices(accountId);
      let allowed = await this.trust.known(accountId);
      if (accountId !== this.self.accountId && (known.length === 0 || allowed === null)) {
        known = await this.fetchAccount(accountId);
        allowed = await this.trust.known(accountId);
      }
      for (const deviceId of known) {
        const address = { accountId, deviceId };
        if (accountId === this.self.accountId && deviceId === this.self.deviceId) continue;
        // A device the signed list does not name is never sent to (the server may answer 409 and
        // repair() looks again; a device the primary did not sign stays out).
        if (!allowed?.has(deviceId)) continue;
        if (!(await sessionInfo(this.protocol, address)) && !(await this.fetchDevice(address))) continue;
        targets.push(address);
      }
    }
    return targets;
  }

  /** The registration id each device has as this device's sessions know it. */
  async registered(targets: ProtocolAddress[]): Promise<{ account_id: string; device_id: number; registration_id: number }[]> {
    const out: { account_id: string; device_id: number; registration_id: number }[] = [];
    for (const address of targets) {
      const info = await sessionInfo(this.protocol, address);
      if (info) out.push({ account_id: address.accountId, device_id: address.deviceId, registration_id: info.remoteRegistrationId });
    }
    return out;
  }

  async encryptFor(targets: ProtocolAddress[], plaintext: Uint8Array): Promise<EnvelopeBody[]> {
    const envelopes: EnvelopeBody[] = [];
    for (const address of targets) {
      const ciphertext = await encryptMessage(this.protocol, address, plaintext);
      const info = await sessionInfo(this.protocol, address);
      envelopes.push({
        account_id: address.accountId,
        device_id: address.deviceId,
        registration_id: info!.remoteRegistrationId,
        type: messageKind(ciphertext),
        content: toBase64(ciphertext),
      });
    }
    return envelopes;
  }

  /** Applies the server's 409/410 answer so the next attempt encrypts for the right devices. */
  async repair(correction: { missing?: DeviceAddressBody[]; extra?: DeviceAddressBody[]; stale?: DeviceAddressBody[] }): Promise<void> {
    for (const d of correction.extra ?? []) {
      const address = { accountId: d.account_id, deviceId: d.device_id };
      await resetSession(this.protocol, address);
      await this.store.putKnownDevices(d.account_id, (await this.store.getKnownDevices(d.account_id)).filter((id) => id !== d.device_id));
    }
    for (const d of [...(correction.missing ?? []), ...(correction.stale ?? [])]) {
      const address = { accountId: d.account_id, deviceId: d.device_id };
      await resetSession(this.protocol, address);
      await this.fetchDevice(address);
    }
  }

  /** Remembers a device that wrote to us, so replies reach it too (if its account's list names it). */
  async learnDevice(address: ProtocolAddress): Promise<void> {
    const known = await this.store.getKnownDevices(address.accountId);
    if (!known.includes(address.deviceId)) await this.store.putKnownDevices(address.accountId, [...known, address.deviceId]);
  }

  private async fetchAccount(accountId: string): Promise<number[]> {
    const bundle = await this.api.bundle(accountId);
    const primary = bundle.devices.find((d) => d.device_id === PRIMARY_DEVICE_ID);
    const allowed = await this.trust.accept(accountId, bundle.device_list, primary && fromBase64(primary.identity_key)!, Date.now());
    const ids: number[] = [];
    for (const device of bundle.devices) {
      if (!listed(allowed, device)) continue;
      await startSession(this.protocol, { accountId, deviceId: device.device_id }, toPreKeyBundle(device));
      ids.push(device.device_id);
    }
    await this.store.putKnownDevices(accountId, ids);
    return ids;
  }

  /** A session with one device, if the server still has it and the verified list names it. */
  private async fetchDevice(address: ProtocolAddress): Promise<boolean> {
    if (!(await this.trust.primaryKey(address.accountId))) return (await this.fetchAccount(address.accountId)).includes(address.deviceId);
    let bundle: PrekeyBundleBody;
    try {
      bundle = await this.api.bundle(address.accountId, address.deviceId);
    } catch (err) {
      if (!(err instanceof ParleyApiError && err.status === 404)) throw err;
      await this.store.putKnownDevices(address.accountId, (await this.store.getKnownDevices(address.accountId)).filter((id) => id !== address.deviceId));
      return false;
    }
    const device = bundle.devices.find((d) => d.device_id === address.deviceId);
    const allowed = await this.trust.accept(address.accountId, bundle.device_list, undefined, Date.now());
    if (!device || !listed(allowed, device)) return false;
    await startSession(this.protocol, address, toPreKeyBundle(device));
    await this.learnDevice(address);
    return true;
  }
}

/** Whether the verified list names this bundle device with this identity key. */
function listed(allowed: AllowedDevices, device: BundleDeviceBody): boolean {
  const key = allowed.get(device.device_id);
  return key !== undefined && bytesEqual(key, fromBase64(device.identity_key)!);
}
