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
  /** The sender device's allowance in this chat (issue 11), from the Worker's configuration. */
  send_limit: z.object({ limit: z.number().int().min(1), window_ms: z.number().int().min(1000) }).optional(),
});
export type SubmitInputBody = z.input<typeof SubmitInput>;

export type SubmitResult =
  | { ok: true; ack: { chat_id: string; msg_id: string; chat_seq: number; server_ts: number; duplicate: boolean } }
  | { ok: false; code: "device_mismatch"; missing: z.output<typeof Address>[]; extra: z.output<typeof Address>[] }
  | { ok: false; code: "stale_devices"; stale: z.output<typeof Address>[] }
  | { ok: false; code: "rate_limited"; retry_after_ms: number }
  | { ok: false; code: "delivery_pending" | "sender_removed" | "sender_suspended" | "unknown_recipient" | "no_recipient_devices" };

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

/** The exact per-device counters a DeviceInbox keeps (issue 11; src/abuse/device-quotas.ts). */
export const QuotaName = z.enum(["prekey_bundle_fetches", "new_contacts", "group_creates", "group_adds", "link_attempts"]);
export type QuotaNameBody = z.output<typeof QuotaName>;

/**
 * One use of a quota: `cost` units within a fixed window of `window_ms`. With `target`, the quota
 * counts distinct targets instead (using one already counted in this window costs nothing).
 */
export const QuotaInput = z.object({
  name: QuotaName,
  limit: z.number().int().min(1).max(10_000_000),
  window_ms: z.number().int().min(1000).max(7 * 86_400_000),
  cost: z.number().int().min(1).max(10_000).default(1),
  target: z.string().min(1).max(200).optional(),
});
export type QuotaInputBody = z.input<typeof QuotaInput>;
export type QuotaResult = { ok: true; remaining: number } | { ok: false; retry_after_ms: number } | { ok: false; removed: true };
