/**
 * @module Schemas of the server's internal boundaries: Worker -> Durable Object RPC inputs (and,
 * as they land, queue jobs). Not part of the public API, but validated all the same: a DO never
 * trusts the shape of what reaches it. Envelope contents were validated at the edge (base64,
 * size), so here they are only bounded, not decoded again.
 */
import { z } from "zod";
import { AccountId, DeviceId, TimestampMs } from "./common";
import { ChatId, ChatSeq, EnvelopeType, MAX_ENVELOPE_BYTES, MsgId, ReceiptStatus } from "./messages";

export const Address = z.object({ account_id: AccountId, device_id: DeviceId });
const RegisteredDevice = Address.extend({ registration_id: z.number().int() });
const Base64Content = z.string().min(1).max(Math.ceil(MAX_ENVELOPE_BYTES / 3) * 4);

export const SubmitInput = z.object({
  chat_id: ChatId,
  members: z.array(AccountId).min(1).max(2),
  sender: Address,
  msg_id: MsgId,
  envelopes: z.array(RegisteredDevice.extend({ type: EnvelopeType, content: Base64Content })).min(1),
});
export type SubmitInputBody = z.input<typeof SubmitInput>;

export type SubmitResult =
  | { ok: true; ack: { chat_id: string; msg_id: string; chat_seq: number; server_ts: number; duplicate: boolean } }
  | { ok: false; code: "device_mismatch"; missing: z.output<typeof Address>[]; extra: z.output<typeof Address>[] }
  | { ok: false; code: "stale_devices"; stale: z.output<typeof Address>[] }
  | { ok: false; code: "delivery_pending" | "sender_removed" | "unknown_recipient" | "no_recipient_devices" };

export const ReceiptInput = z.object({
  reader: Address,
  status: ReceiptStatus,
  up_to_seq: ChatSeq,
});
export type ReceiptInputBody = z.input<typeof ReceiptInput>;

/** An entry handed to a DeviceInbox; the inbox assigns its `seq`. */
export const InboxEntryInput = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("message"),
    chat_id: ChatId,
    chat_seq: ChatSeq,
    msg_id: MsgId,
    sender: Address,
    server_ts: TimestampMs,
    type: EnvelopeType,
    content: Base64Content,
  }),
  z.object({
    kind: z.literal("receipt"),
    chat_id: ChatId,
    status: ReceiptStatus,
    reader: Address,
    up_to_seq: ChatSeq,
    msg_ids: z.array(MsgId).max(100),
    server_ts: TimestampMs,
  }),
]);
export const EnqueueInput = z.array(InboxEntryInput).max(5000);
export type InboxEntryInputBody = z.output<typeof InboxEntryInput>;
