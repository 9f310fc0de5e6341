/**
 * @module Typed access to everything the protocol keeps, over any KeyValueStore: this device's
 * identity and prekeys, trusted remote identities, sessions and sender keys. Key naming lives here
 * and only here. Trust policy is trust-on-first-use: a changed remote identity is refused until
 * the app calls `trustIdentity` (after showing the user the new safety number).
 */
import { bytesEqual, toHex } from "../../protocol/encoding";
import { CryptoError } from "../crypto/errors";
import {
  decodeIdentityRecord,
  decodeOneTimePreKeyRecord,
  decodePqPreKeyRecord,
  decodeSignedPreKeyRecord,
  encodeIdentityRecord,
  encodeOneTimePreKeyRecord,
  encodePqPreKeyRecord,
  encodeSignedPreKeyRecord,
  type IdentityRecord,
  type OneTimePreKeyRecord,
  type PqPreKeyRecord,
  type SignedPreKeyRecord,
} from "../state/prekey-records";
import { decodeSenderKeyRecord, encodeSenderKeyRecord, type SenderKeyRecord } from "../state/sender-key-record";
import { decodeSessionRecord, encodeSessionRecord, type SessionRecord } from "../state/session-record";
import type { KeyValueStore } from "./types";

/** A remote device: account id (uuid-like string) and device id (primary = 1). */
export interface ProtocolAddress {
  accountId: string;
  deviceId: number;
}

export const addressKey = (a: ProtocolAddress): string => `${a.accountId}.${a.deviceId}`;

export class ProtocolStore {
  constructor(readonly kv: KeyValueStore) {}

  async getIdentity(): Promise<IdentityRecord> {
    const bytes = await this.kv.get("identity/local");
    if (!bytes) throw new CryptoError("INVALID_INPUT", "no local identity: create one with createIdentity()");
    return decodeIdentityRecord(bytes);
  }

  putIdentity(record: IdentityRecord): Promise<void> {
    return this.kv.put("identity/local", encodeIdentityRecord(record));
  }

  /** Throws UNTRUSTED_IDENTITY when a different key is already pinned for the address. */
  async checkTrusted(address: ProtocolAddress, identityKey: Uint8Array): Promise<void> {
    const pinned = await this.kv.get(`identity/remote/${addressKey(address)}`);
    if (pinned && !bytesEqual(pinned, identityKey)) {
      throw new CryptoError("UNTRUSTED_IDENTITY", `identity key of ${addressKey(address)} changed`);
    }
  }

  trustIdentity(address: ProtocolAddress, identityKey: Uint8Array): Promise<void> {
    return this.kv.put(`identity/remote/${addressKey(address)}`, identityKey);
  }

  async getTrustedIdentity(address: ProtocolAddress): Promise<Uint8Array | undefined> {
    return this.kv.get(`identity/remote/${addressKey(address)}`);
  }

  async getSignedPreKey(keyId: number): Promise<SignedPreKeyRecord | undefined> {
    const b = await this.kv.get(`prekey/signed/${keyId}`);
    return b && decodeSignedPreKeyRecord(b);
  }

  putSignedPreKey(r: SignedPreKeyRecord): Promise<void> {
    return this.kv.put(`prekey/signed/${r.keyId}`, encodeSignedPreKeyRecord(r));
  }

  async getOneTimePreKey(keyId: number): Promise<OneTimePreKeyRecord | undefined> {
    const b = await this.kv.get(`prekey/one-time/${keyId}`);
    return b && decodeOneTimePreKeyRecord(b);
  }

  putOneTimePreKey(r: OneTimePreKeyRecord): Promise<void> {
    return this.kv.put(`prekey/one-time/${r.keyId}`, encodeOneTimePreKeyRecord(r));
  }

  removeOneTimePreKey(keyId: number): Promise<void> {
    return this.kv.delete(`prekey/one-time/${keyId}`);
  }

  async getPqPreKey(keyId: number): Promise<PqPreKeyRecord | undefined> {
    const b = await this.kv.get(`prekey/pq/${keyId}`);
    return b && decodePqPreKeyRecord(b);
  }

  putPqPreKey(r: PqPreKeyRecord): Promise<void> {
    return this.kv.put(`prekey/pq/${r.keyId}`, encodePqPreKeyRecord(r));
  }

  removePqPreKey(keyId: number): Promise<void> {
    return this.kv.delete(`prekey/pq/${keyId}`);
  }

  async getSession(address: ProtocolAddress): Promise<SessionRecord> {
    const b = await this.kv.get(`session/${addressKey(address)}`);
    return b ? decodeSessionRecord(b) : { current: null, archived: [] };
  }

  putSession(address: ProtocolAddress, record: SessionRecord): Promise<void> {
    return this.kv.put(`session/${addressKey(address)}`, encodeSessionRecord(record));
  }

  async getSenderKey(distributionId: Uint8Array, sender: ProtocolAddress): Promise<SenderKeyRecord> {
    const b = await this.kv.get(senderKeyName(distributionId, sender));
    return b ? decodeSenderKeyRecord(b) : { states: [] };
  }

  putSenderKey(distributionId: Uint8Array, sender: ProtocolAddress, record: SenderKeyRecord): Promise<void> {
    return this.kv.put(senderKeyName(distributionId, sender), encodeSenderKeyRecord(record));
  }
}

const senderKeyName = (id: Uint8Array, sender: ProtocolAddress) =>
  `sender-key/${toHex(id)}/${addressKey(sender)}`;
