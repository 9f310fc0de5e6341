/**
 * @module Which devices of an account this client may encrypt to (issue 10): exactly the devices
 * of the account's signed device list, verified against the account's primary identity key, and
 * never a device the server adds on its own. The primary key is the one pinned for device 1 of
 * the account (trust on first use, checked by safety numbers; for this device's own account, its
 * own key or the one the provisioning message carried). The last verified list is kept so a
 * server cannot roll it back; an account without a list (it never linked a device) has only its
 * primary. Owns the decision, not the fetching (src/client/sessions.ts asks with what it fetched).
 */
import { fromBase64 } from "../protocol/encoding";
import type { SignedDeviceListBody } from "../protocol/device-lists";
import { decodeDeviceList, PRIMARY_DEVICE_ID, verifyDeviceList } from "./crypto/device-list";
import { CryptoError } from "./crypto/errors";
import { resetSession } from "./crypto/session";
import type { ClientStore } from "./store/client-store";
import type { ProtocolStore } from "./store/protocol-store";

/** Allowed devices of one account: device id -> identity key. */
export type AllowedDevices = Map<number, Uint8Array>;

export class DeviceTrust {
  constructor(
    private readonly protocol: ProtocolStore,
    private readonly store: ClientStore,
    private readonly self: { accountId: string; deviceId: number },
  ) {}

  /** The primary identity key this client trusts for an account, if it has one yet. */
  async primaryKey(accountId: string): Promise<Uint8Array | undefined> {
    if (accountId === this.self.accountId && this.self.deviceId === PRIMARY_DEVICE_ID) return (await this.protocol.getIdentity()).identity.publicKey;
    return this.protocol.getTrustedIdentity({ accountId, deviceId: PRIMARY_DEVICE_ID });
  }

  /** The devices of the last list verified for the account (null: none verified yet). */
  async known(accountId: string): Promise<AllowedDevices | null> {
    const stored = await this.store.getDeviceList(accountId);
    if (stored) return entries(decodeDeviceList(fromBase64(stored.list)!));
    const primary = await this.primaryKey(accountId);
    return primary ? new Map([[PRIMARY_DEVICE_ID, primary]]) : null;
  }

  /**
   * Verifies what the server answered for an account (its signed list, or null when it has none)
   * and returns the allowed devices. `servedPrimary` is device 1's identity key from the same
   * answer, used only when no primary key is pinned yet (first contact). Throws CryptoError when
   * the list does not verify, goes back, or names another primary: nothing is sent then.
   * Devices that dropped out of the list lose their sessions.
   */
  async accept(accountId: string, served: SignedDeviceListBody | null | undefined, servedPrimary: Uint8Array | undefined, now: number): Promise<AllowedDevices> {
    let primary = await this.primaryKey(accountId);
    if (!primary) {
      if (!servedPrimary) throw new CryptoError("UNTRUSTED_IDENTITY", "no trusted primary identity key for this account yet");
      primary = servedPrimary;
      await this.protocol.trustIdentity({ accountId, deviceId: PRIMARY_DEVICE_ID }, primary);
    }
    const before = await this.known(accountId);
    const previous = (await this.store.getDeviceList(accountId)) ?? null;
    let allowed: AllowedDevices;
    if (served) {
      const signed = { list: fromBase64(served.list)!, signature: fromBase64(served.signature)! };
      const prev = previous ? { list: fromBase64(previous.list)!, signature: fromBase64(previous.signature)! } : null;
      // No age limit for a list already accepted before (the same bytes again): the primary re-signs
      // only when something changes or on its periodic refresh.
      const same = previous !== null && previous.list === served.list && previous.signature === served.signature;
      const list = await verifyDeviceList(signed, { accountId, primaryIdentityKey: primary, previous: prev, now, ...(same ? { maxAgeMs: Number.MAX_SAFE_INTEGER } : {}) });
      if (!same) await this.store.putDeviceList(accountId, served);
      allowed = entries(list);
    } else if (previous) {
      // The server no longer shows a list it showed before: keep to the last verified one.
      allowed = entries(decodeDeviceList(fromBase64(previous.list)!));
    } else {
      allowed = new Map([[PRIMARY_DEVICE_ID, primary]]);
    }
    for (const id of before?.keys() ?? []) if (!allowed.has(id)) await this.forget(accountId, id);
    return allowed;
  }

  /** Stores a list this device itself got accepted by the server (a link it approved, an unlink). */
  async adopt(accountId: string, signed: SignedDeviceListBody): Promise<void> {
    const before = await this.known(accountId);
    await this.store.putDeviceList(accountId, signed);
    const now = entries(decodeDeviceList(fromBase64(signed.list)!));
    for (const id of before?.keys() ?? []) if (!now.has(id)) await this.forget(accountId, id);
  }

  /** A device that left the list: drop its session and stop addressing it. */
  private async forget(accountId: string, deviceId: number): Promise<void> {
    await resetSession(this.protocol, { accountId, deviceId });
    await this.store.putKnownDevices(accountId, (await this.store.getKnownDevices(accountId)).filter((id) => id !== deviceId));
  }
}

function entries(list: { devices: { deviceId: number; identityKey: Uint8Array }[] }): AllowedDevices {
  return new Map(list.devices.map((d) => [d.deviceId, d.identityKey]));
}
