/**
 * @module Wire schemas for public keys: what a device uploads (identity key, signed prekey,
 * one-time prekeys, post-quantum prekeys) and the prekey bundle others fetch to start a session.
 * What the signatures cover is defined in ./key-signatures.ts.
 */
import { z } from "zod";
import { MAX_PREKEYS_PER_UPLOAD, MAX_REGISTRATION_ID } from "../limits";
import { AccountId, base64Bytes, DeviceId, KeyId } from "./common";
import { SignedDeviceList } from "./device-lists";
import {
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SIGNATURE_BYTES,
  ML_KEM_768_PUBLIC_KEY_BYTES,
  X25519_PUBLIC_KEY_BYTES,
} from "./key-signatures";


export const IdentityKey = base64Bytes({ length: ED25519_PUBLIC_KEY_BYTES }, "Ed25519 public identity key (32 bytes, base64)");
const Signature = base64Bytes({ length: ED25519_SIGNATURE_BYTES }, "Ed25519 signature by the identity key (64 bytes, base64)");

export const SignedPrekey = z
  .strictObject({
    key_id: KeyId,
    public_key: base64Bytes({ length: X25519_PUBLIC_KEY_BYTES }, "X25519 public key (32 bytes, base64)"),
    signature: Signature,
  })
  .meta({ id: "SignedPrekey", description: "X25519 prekey signed by the identity key over signedPrekeySignedBytes" });

export const OneTimePrekey = z
  .strictObject({
    key_id: KeyId,
    public_key: base64Bytes({ length: X25519_PUBLIC_KEY_BYTES }, "X25519 public key (32 bytes, base64)"),
  })
  .meta({ id: "OneTimePrekey" });

export const PqPrekey = z
  .strictObject({
    key_id: KeyId,
    public_key: base64Bytes({ length: ML_KEM_768_PUBLIC_KEY_BYTES }, "ML-KEM-768 encapsulation key (1184 bytes, base64)"),
    signature: Signature,
  })
  .meta({ id: "PqPrekey", description: "ML-KEM-768 prekey signed over pqPrekeySignedBytes (last_resort flag included)" });

const PrekeyList = <T extends z.ZodType>(item: T) => z.array(item).max(MAX_PREKEYS_PER_UPLOAD);

/** Keys a device publishes when it is created (registration, later linking). */
export const DeviceKeys = z
  .strictObject({
    identity_key: IdentityKey,
    registration_id: z.number().int().min(1).max(MAX_REGISTRATION_ID).meta({ description: "Random 14-bit id chosen by the device" }),
    signed_prekey: SignedPrekey,
    one_time_prekeys: PrekeyList(OneTimePrekey).default([]),
    pq_last_resort_prekey: PqPrekey.optional(),
    pq_one_time_prekeys: PrekeyList(PqPrekey).default([]),
  })
  .meta({ id: "DeviceKeys" });

export const PrekeyUpload = z
  .strictObject({
    one_time_prekeys: PrekeyList(OneTimePrekey).default([]),
    pq_one_time_prekeys: PrekeyList(PqPrekey).default([]),
  })
  .meta({ id: "PrekeyUpload", description: `At most ${MAX_PREKEYS_PER_UPLOAD} keys of each kind per request` });

export const PrekeyCount = z
  .object({
    one_time_prekeys: z.number().int(),
    pq_one_time_prekeys: z.number().int(),
    pq_last_resort: z.boolean(),
  })
  .meta({ id: "PrekeyCount" });

export const BundleDevice = z
  .object({
    device_id: DeviceId,
    registration_id: z.number().int(),
    identity_key: IdentityKey,
    signed_prekey: SignedPrekey,
    one_time_prekey: OneTimePrekey.nullable().meta({ description: "null when the device has none left" }),
    pq_prekey: PqPrekey.extend({
      last_resort: z.boolean().meta({ description: "true when this is the reusable last-resort key" }),
    })
      .nullable()
      .meta({ description: "ML-KEM-768 prekey (one-time, else last-resort); null for classical-only devices" }),
  })
  .meta({ id: "BundleDevice" });

export const PrekeyBundle = z
  .object({
    account_id: AccountId,
    devices: z.array(BundleDevice),
    device_list: SignedDeviceList.nullable()
      .optional()
      .meta({ description: "The account's signed device list: clients encrypt only to devices it names (null: primary only)" }),
  })
  .meta({ id: "PrekeyBundle", description: "One entry per active device; each one-time prekey is handed out once" });

export type DeviceKeysInput = z.input<typeof DeviceKeys>;
export type DeviceKeysBody = z.output<typeof DeviceKeys>;
export type PrekeyBundleBody = z.output<typeof PrekeyBundle>;
export type BundleDeviceBody = z.output<typeof BundleDevice>;
