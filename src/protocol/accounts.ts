/**
 * @module Wire schemas for verification, registration, authentication and devices.
 */
import { z } from "zod";
import { MAX_DEVICE_NAME_LENGTH } from "../limits";
import { AccountId, base64Bytes, DeviceId, TimestampMs } from "./common";
import { SignedDeviceList } from "./device-lists";
import { JurisdictionSchema } from "./jurisdiction";
import { Handle } from "./handles";
import { DeviceKeys } from "./keys";

export const VerificationRequest = z.strictObject({ handle: Handle }).meta({ id: "VerificationRequest" });

export const VerificationStarted = z
  .object({
    verification_id: z.string(),
    handle: z.string(),
    expires_at: TimestampMs,
    dev_code: z
      .string()
      .optional()
      .meta({ description: "Only with the dev sender (local development): the code itself" }),
  })
  .meta({ id: "VerificationStarted" });

export const RegistrationRequest = z
  .strictObject({
    verification_id: z.string().min(1).max(64),
    code: z.string().regex(/^[0-9]{6}$/, "must be the 6-digit code"),
    device: DeviceKeys,
    device_name: z.string().max(MAX_DEVICE_NAME_LENGTH).optional(),
    /** Data residency: omitted, the account's objects are placed near its devices. */
    jurisdiction: JurisdictionSchema.optional(),
  })
  .meta({ id: "RegistrationRequest" });

export const Registered = z
  .object({
    account_id: AccountId,
    device_id: DeviceId,
    handle: z.string(),
    token: z.string().meta({ description: "Bearer token for this device (see POST /v1/auth/token to renew)" }),
    token_expires_at: TimestampMs,
  })
  .meta({ id: "Registered" });

export const AccountLookup = z
  .object({ account_id: AccountId, handle: z.string() })
  .meta({ id: "AccountLookup" });

export const ChallengeRequest = z
  .strictObject({ account_id: AccountId, device_id: DeviceId })
  .meta({ id: "ChallengeRequest" });

export const Challenge = z
  .object({
    challenge: z.string().meta({ description: "base64; sign authChallengeSignedBytes(challenge) with the identity key" }),
    expires_at: TimestampMs,
  })
  .meta({ id: "Challenge" });

export const TokenRequest = z
  .strictObject({
    account_id: AccountId,
    device_id: DeviceId,
    challenge: base64Bytes({ max: 64 }),
    signature: base64Bytes({ length: 64 }, "Ed25519 signature over authChallengeSignedBytes(challenge)"),
  })
  .meta({ id: "TokenRequest" });

export const Token = z
  .object({ token: z.string(), expires_at: TimestampMs, account_id: AccountId, device_id: DeviceId })
  .meta({ id: "Token" });

export const DeviceInfo = z
  .object({
    device_id: DeviceId,
    name: z.string().nullable(),
    identity_key: z.string(),
    registration_id: z.number().int(),
    created_at: TimestampMs,
  })
  .meta({ id: "DeviceInfo" });

export const RemovedDeviceInfo = z
  .object({
    device_id: DeviceId,
    name: z.string().nullable(),
    removed_at: TimestampMs,
    reason: z.enum(["unlinked", "logged_out", "inactive"]).nullable().meta({ description: "null for removals before multi-device" }),
  })
  .meta({ id: "RemovedDeviceInfo" });

export const DeviceList = z
  .object({
    devices: z.array(DeviceInfo),
    device_list: SignedDeviceList.nullable()
      .optional()
      .meta({ description: "The account's current signed device list; null until the first device is linked" }),
    next_device_id: DeviceId.optional().meta({ description: "The id a newly linked device gets (ids are never reused)" }),
    removed_devices: z
      .array(RemovedDeviceInfo)
      .optional()
      .meta({ description: "Devices removed in the last 30 days, newest first: how the account learns of unlinks" }),
  })
  .meta({ id: "DeviceList" });
