/**
 * @module Wire schemas for linking a companion device (multi-device, issue 10): the provisioning
 * channel the new device opens, the encrypted message the primary drops into it, the request
 * that activates the new device with a list the primary signed, and the device-list update the
 * primary publishes to unlink devices. What the provisioning message contains is the SDK's
 * business (it is end-to-end encrypted to the new device's ephemeral key; src/client/linking.ts).
 */
import { z } from "zod";
import { MAX_DEVICE_CHANGE_CHATS, MAX_DEVICE_NAME_LENGTH, MAX_PROVISIONING_MESSAGE_BYTES } from "../limits";
import { AccountId, base64Bytes, DeviceId, TimestampMs } from "./common";
import { SignedDeviceList } from "./device-lists";
import { DeviceKeys } from "./keys";
import { ChatId } from "./messages";

/** 16 random bytes, base64url: the channel's address (it travels in the QR code). */
export const ProvisioningChannelId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{22}$/, "must be a provisioning channel id")
  .meta({ description: "Provisioning channel id (16 random bytes, base64url)" });

/** 32 random bytes, base64url: only the device that opened the channel holds it. */
const ReceiveSecret = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, "must be the channel's receive secret")
  .meta({ description: "Secret returned when the channel was opened (32 bytes, base64url)" });

export const ProvisioningChannel = z
  .object({ channel_id: ProvisioningChannelId, receive_secret: ReceiveSecret, expires_at: TimestampMs })
  .meta({ id: "ProvisioningChannel" });

export const ProvisioningEnvelope = z
  .strictObject({
    ephemeral_public_key: base64Bytes({ length: 32 }, "The primary's ephemeral X25519 public key"),
    ciphertext: base64Bytes({ min: 16, max: MAX_PROVISIONING_MESSAGE_BYTES }, "The provisioning message, sealed to the new device"),
  })
  .meta({ id: "ProvisioningEnvelope" });

export const ProvisioningReceiveRequest = z.strictObject({ receive_secret: ReceiveSecret }).meta({ id: "ProvisioningReceiveRequest" });

export const ProvisioningReceived = z
  .object({ envelope: ProvisioningEnvelope.nullable().meta({ description: "null until the primary has answered" }) })
  .meta({ id: "ProvisioningReceived" });

export const LinkDeviceRequest = z
  .strictObject({
    account_id: AccountId,
    device_id: DeviceId,
    device_list: SignedDeviceList.meta({ description: "The primary's signed list, newer than the current one, naming this device and its keys" }),
    device: DeviceKeys,
    device_name: z.string().max(MAX_DEVICE_NAME_LENGTH).optional(),
  })
  .meta({ id: "LinkDeviceRequest" });

export const DevicesChanged = z
  .strictObject({
    chat_ids: z
      .array(ChatId)
      .max(MAX_DEVICE_CHANGE_CHATS)
      .meta({ description: "Chats of the caller's account whose servers should re-read its devices (the most recent ones)" }),
  })
  .meta({ id: "DevicesChanged" });

export type ProvisioningEnvelopeBody = z.output<typeof ProvisioningEnvelope>;
export type LinkDeviceRequestBody = z.output<typeof LinkDeviceRequest>;
