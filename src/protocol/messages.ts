/**
 * @module Wire schemas for messages and receipts over HTTP: the send request (one envelope per
 * recipient device), the "sent" ack, the device-set mismatch answers (409/410), read receipts and
 * per-message receipt state. Socket frames are in ./frames.ts; the inbox entries both carry are here.
 */
import { z } from "zod";
import { MAX_REGISTRATION_ID } from "../limits";
import { AccountId, base64Bytes, DeviceId, TimestampMs } from "./common";
import { CHAT_ID_PATTERN } from "./jurisdiction";
import { GroupEvent } from "./group-events";
import { ReferencedMediaIds } from "./media";

/** 96 KiB per envelope, as Signal: any larger payload is media and goes through R2. */
export const MAX_ENVELOPE_BYTES = 96 * 1024;
/** Envelopes per 1:1 send: both accounts' devices (primary + companions each), with headroom. */
export const MAX_ENVELOPES_PER_MESSAGE = 16;

export const ChatId = z
  .string()
  .regex(CHAT_ID_PATTERN, "must be a chat id (d_ or g_, an optional jurisdiction such as eu_, then 32 hex digits)")
  .meta({
    description: "Chat id: d_<hash> for 1:1 chats (derived from both account ids), g_<id> for groups; d_eu_/g_eu_ when the chat lives in a jurisdiction",
  });

export const MSG_ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;
export const MsgId = z
  .string()
  .regex(MSG_ID_PATTERN, "must be 16-64 characters of A-Z a-z 0-9 _ -")
  .meta({ description: "Client-generated message id (e.g. a uuid); the idempotency key with the sender device" });

export const ChatSeq = z.number().int().min(1).meta({ description: "Position in the chat's total order, gap-free from 1" });

export const DeviceAddress = z
  .strictObject({ account_id: AccountId, device_id: DeviceId })
  .meta({ id: "DeviceAddress" });

/** Kinds of ciphertext; the server never looks inside, the client needs to know how to decrypt. */
export const EnvelopeType = z.enum(["prekey", "message"]).meta({
  description: "prekey: first message of a session (carries the X3DH/PQXDH header); message: Double Ratchet message",
});

/** What an inbox message entry carries: a pairwise envelope, or a group's Sender Key ciphertext. */
export const InboxMessageType = z.enum(["prekey", "message", "sender_key"]).meta({
  description: "prekey / message: pairwise (see EnvelopeType); sender_key: one Sender Key ciphertext for the whole group",
});

/** A pairwise envelope riding along a group message: the sender's sender-key distribution for this device. */
export const AttachedDistribution = z
  .object({ type: EnvelopeType, content: z.string().meta({ format: "byte" }) })
  .meta({ id: "AttachedDistribution", description: "Decrypt pairwise and process before the group message (the sender's new sender key)" });

export const Envelope = z
  .strictObject({
    account_id: AccountId,
    device_id: DeviceId,
    registration_id: z.number().int().min(1).max(MAX_REGISTRATION_ID).meta({ description: "Recipient device's registration id as the sender knows it" }),
    type: EnvelopeType,
    content: base64Bytes({ min: 1, max: MAX_ENVELOPE_BYTES }, "ciphertext for this device (base64, at most 96 KiB)"),
  })
  .meta({ id: "Envelope" });

export const SendMessage = z
  .strictObject({
    to: AccountId.meta({ description: "Recipient account of a 1:1 chat (may be your own: note to self)" }),
    msg_id: MsgId,
    envelopes: z.array(Envelope).min(1).max(MAX_ENVELOPES_PER_MESSAGE),
    media_ids: ReferencedMediaIds,
  })
  .meta({ id: "SendMessage", description: "One envelope per active device of `to` and per other device of the sender's account" });

export const SendAck = z
  .object({
    chat_id: ChatId,
    msg_id: MsgId,
    chat_seq: ChatSeq,
    server_ts: TimestampMs,
    duplicate: z.boolean().meta({ description: "true when this msg_id was accepted before: the original ack" }),
  })
  .meta({ id: "SendAck" });

export const DeviceMismatch = z
  .object({
    error: z.object({
      code: z.literal("device_mismatch"),
      message: z.string(),
      details: z.object({ missing: z.array(DeviceAddress), extra: z.array(DeviceAddress) }),
    }),
  })
  .meta({ id: "DeviceMismatch", description: "409: encrypt for the missing devices, drop the extra ones, resend with the same msg_id" });

export const StaleDevices = z
  .object({
    error: z.object({
      code: z.literal("stale_devices"),
      message: z.string(),
      details: z.object({ stale: z.array(DeviceAddress) }),
    }),
  })
  .meta({ id: "StaleDevices", description: "410: these devices re-registered; drop their sessions, fetch bundles, resend" });

export const ReadReceipt = z
  .strictObject({ chat_id: ChatId, up_to_seq: ChatSeq })
  .meta({ id: "ReadReceipt", description: "Everything in the chat up to and including up_to_seq was read by this device" });

export const ReceiptStatus = z.enum(["delivered", "read"]);

export const MessageReceipts = z
  .object({
    chat_id: ChatId,
    chat_seq: ChatSeq,
    msg_id: MsgId,
    sender: DeviceAddress,
    recipients: z.array(
      z.object({ account_id: AccountId, device_id: DeviceId, delivered: z.boolean(), read: z.boolean() }),
    ),
  })
  .meta({ id: "MessageReceipts" });

/** What a device's inbox delivers: messages, receipts and gap markers, each with its inbox seq. */
export const InboxEntry = z
  .discriminatedUnion("kind", [
    z.object({
      kind: z.literal("message"),
      seq: z.number().int(),
      chat_id: ChatId,
      chat_seq: ChatSeq,
      msg_id: MsgId,
      sender: DeviceAddress,
      server_ts: TimestampMs,
      type: InboxMessageType,
      content: z.string().meta({ format: "byte" }),
      distribution: AttachedDistribution.optional(),
    }),
    z.object({
      kind: z.literal("receipt"),
      seq: z.number().int(),
      chat_id: ChatId,
      status: ReceiptStatus,
      reader: DeviceAddress,
      up_to_seq: ChatSeq,
      msg_ids: z.array(MsgId).meta({ description: "Your messages newly covered (at most 100; up_to_seq is authoritative)" }),
      server_ts: TimestampMs,
    }),
    z.object({
      kind: z.literal("group_event"),
      seq: z.number().int(),
      chat_id: ChatId,
      chat_seq: ChatSeq,
      actor: AccountId.meta({ description: "Who made the change" }),
      version: z.number().int().min(1).meta({ description: "The group's version after this change" }),
      event: GroupEvent,
      server_ts: TimestampMs,
    }),
    z.object({
      kind: z.literal("gap"),
      seq: z.number().int(),
      chat_id: ChatId,
      sender: DeviceAddress,
      count: z.number().int().min(1),
      reason: z.enum(["expired", "overflow"]),
      server_ts: TimestampMs,
    }),
  ])
  .meta({ id: "InboxEntry" });

export type SendMessageBody = z.output<typeof SendMessage>;
export type SendAckBody = z.output<typeof SendAck>;
export type InboxEntryBody = z.output<typeof InboxEntry>;
export type DeviceAddressBody = z.output<typeof DeviceAddress>;
export type EnvelopeBody = z.output<typeof Envelope>;
