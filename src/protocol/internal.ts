/**
 * @module Schemas of the server's internal boundaries: Worker -> Durable Object RPC inputs (and,
 * as they land, queue jobs). Not part of the public API, but validated all the same: a DO never
 * trusts the shape of what reaches it. Envelope contents were validated at the edge (base64,
 * size), so here they are only bounded, not decoded again.
 */
import { z } from "zod";
import { AccountId, DeviceId, TimestampMs } from "./common";
import { MAX_GROUP_MEMBERS, MAX_GROUP_RECIPIENT_DEVICES } from "../limits";
import { GroupEvent, GroupId, GroupRole, WhoCanAdd } from "./group-events";
import { ChatId, ChatSeq, EnvelopeType, InboxMessageType, MAX_ENVELOPE_BYTES, MSG_ID_PATTERN, MsgId, ReceiptStatus } from "./messages";
import { ACCOUNT_ID_PATTERN, CHAT_ID_PATTERN } from "./jurisdiction";

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
  | {
      ok: false;
      code: "delivery_pending" | "sender_removed" | "sender_suspended" | "unknown_recipient" | "no_recipient_devices" | "not_a_member" | "no_such_group";
    };

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
    type: InboxMessageType,
    content: Base64Content,
    distribution: z.object({ type: EnvelopeType, content: Base64Content }).optional(),
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
  z.object({
    kind: z.literal("group_event"),
    chat_id: GroupId,
    chat_seq: ChatSeq,
    actor: AccountId,
    version: z.number().int().min(1),
    event: GroupEvent,
    server_ts: TimestampMs,
  }),
]);
export const MAX_ENQUEUE_ENTRIES = 5000;
export const EnqueueInput = z.array(InboxEntryInput).max(MAX_ENQUEUE_ENTRIES);
export type InboxEntryInputBody = z.output<typeof InboxEntryInput>;

/**
 * EnqueueInput.parse for the hot path (every fanout RPC; zod profiled at several % of the isolate
 * under load): a plain check of the two common entry shapes, message and receipt, with exactly the
 * bounds of InboxEntryInput. It only accepts what zod would return unchanged (same keys, nothing to
 * strip), so anything else, hostile input included, goes through EnqueueInput and its errors.
 */
export function parseEnqueueInput(raw: unknown): InboxEntryInputBody[] {
  if (Array.isArray(raw) && raw.length <= MAX_ENQUEUE_ENTRIES && raw.every(isPlainEntry)) return raw as InboxEntryInputBody[];
  return EnqueueInput.parse(raw);
}

const MAX_CONTENT_CHARS = Math.ceil(MAX_ENVELOPE_BYTES / 3) * 4;
const SUBMIT_KEYS = ["chat_id", "envelopes", "members", "msg_id", "sender"];
const SUBMIT_KEYS_WITH_LIMIT = [...SUBMIT_KEYS, "send_limit"];
const ENVELOPE_KEYS = ["account_id", "content", "device_id", "registration_id", "type"];
const SEND_LIMIT_KEYS = ["limit", "window_ms"];
const RECEIPT_INPUT_KEYS = ["reader", "status", "up_to_seq"];

/** SubmitInput.parse for the hot path (every 1:1 send), on the same terms as parseEnqueueInput. */
export function parseSubmitInput(raw: unknown): z.output<typeof SubmitInput> {
  return isPlainSubmit(raw) ? (raw as z.output<typeof SubmitInput>) : SubmitInput.parse(raw);
}

/** ReceiptInput.parse for the hot path (every delivered receipt), on the same terms as parseEnqueueInput. */
export function parseReceiptInput(raw: unknown): z.output<typeof ReceiptInput> {
  if (isRecord(raw) && hasExactly(raw, RECEIPT_INPUT_KEYS) && isAddress(raw.reader) && (raw.status === "delivered" || raw.status === "read") && isChatSeq(raw.up_to_seq)) {
    return raw as z.output<typeof ReceiptInput>;
  }
  return ReceiptInput.parse(raw);
}

function isPlainSubmit(raw: unknown): boolean {
  if (!isRecord(raw)) return false;
  const limit = raw.send_limit;
  if (limit === undefined ? !hasExactly(raw, SUBMIT_KEYS) : !hasExactly(raw, SUBMIT_KEYS_WITH_LIMIT)) return false;
  if (limit !== undefined && !(isRecord(limit) && hasExactly(limit, SEND_LIMIT_KEYS) && isInt(limit.limit, 1, Number.MAX_SAFE_INTEGER) && isInt(limit.window_ms, 1000, Number.MAX_SAFE_INTEGER))) {
    return false;
  }
  const { members, envelopes } = raw;
  return (
    isChatId(raw.chat_id) &&
    Array.isArray(members) &&
    members.length >= 1 &&
    members.length <= 2 &&
    members.every((m) => typeof m === "string" && ACCOUNT_ID_PATTERN.test(m)) &&
    isAddress(raw.sender) &&
    isMsgId(raw.msg_id) &&
    Array.isArray(envelopes) &&
    envelopes.length >= 1 &&
    envelopes.every(
      (e) =>
        isRecord(e) &&
        hasExactly(e, ENVELOPE_KEYS) &&
        typeof e.account_id === "string" &&
        ACCOUNT_ID_PATTERN.test(e.account_id) &&
        isInt(e.device_id, 1, 1_000_000) &&
        isInt(e.registration_id, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER) &&
        (e.type === "prekey" || e.type === "message") &&
        typeof e.content === "string" &&
        e.content.length >= 1 &&
        e.content.length <= MAX_CONTENT_CHARS,
    )
  );
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
const MESSAGE_KEYS = ["chat_id", "chat_seq", "content", "kind", "msg_id", "sender", "server_ts", "type"];
const RECEIPT_KEYS = ["chat_id", "kind", "msg_ids", "reader", "server_ts", "status", "up_to_seq"];
const ADDRESS_KEYS = ["account_id", "device_id"];

function isPlainEntry(entry: unknown): boolean {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) return false;
  const e = entry as Record<string, unknown>;
  if (e.kind === "message") {
    return (
      hasExactly(e, MESSAGE_KEYS) &&
      isChatId(e.chat_id) &&
      isChatSeq(e.chat_seq) &&
      isMsgId(e.msg_id) &&
      isAddress(e.sender) &&
      isTimestamp(e.server_ts) &&
      (e.type === "prekey" || e.type === "message" || e.type === "sender_key") &&
      typeof e.content === "string" &&
      e.content.length >= 1 &&
      e.content.length <= MAX_CONTENT_CHARS
    );
  }
  if (e.kind === "receipt") {
    return (
      hasExactly(e, RECEIPT_KEYS) &&
      isChatId(e.chat_id) &&
      (e.status === "delivered" || e.status === "read") &&
      isAddress(e.reader) &&
      isChatSeq(e.up_to_seq) &&
      Array.isArray(e.msg_ids) &&
      e.msg_ids.length <= 100 &&
      e.msg_ids.every(isMsgId) &&
      isTimestamp(e.server_ts)
    );
  }
  return false;
}

/** The object has these own keys and no others (so zod would strip nothing). */
function hasExactly(o: Record<string, unknown>, keys: string[]): boolean {
  if (Object.getPrototypeOf(o) !== Object.prototype) return false;
  const own = Object.keys(o);
  return own.length === keys.length && keys.every((k) => Object.hasOwn(o, k));
}

function isAddress(a: unknown): boolean {
  if (typeof a !== "object" || a === null || Array.isArray(a)) return false;
  const o = a as Record<string, unknown>;
  return hasExactly(o, ADDRESS_KEYS) && typeof o.account_id === "string" && ACCOUNT_ID_PATTERN.test(o.account_id) && isInt(o.device_id, 1, 1_000_000);
}

const isChatId = (v: unknown) => typeof v === "string" && CHAT_ID_PATTERN.test(v);
const isMsgId = (v: unknown) => typeof v === "string" && MSG_ID_PATTERN.test(v);
const isChatSeq = (v: unknown) => isInt(v, 1, Number.MAX_SAFE_INTEGER);
const isTimestamp = (v: unknown) => isInt(v, 0, Number.MAX_SAFE_INTEGER);

function isInt(v: unknown, min: number, max: number): boolean {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= min && v <= max;
}

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

/** A group send as the Worker hands it to the group's ChatRoom (validated at the edge first). */
export const GroupSubmitInput = z.object({
  chat_id: GroupId,
  sender: Address,
  msg_id: MsgId,
  content: Base64Content,
  key_holders: z.array(RegisteredDevice).max(MAX_GROUP_RECIPIENT_DEVICES),
  distributions: z.array(RegisteredDevice.extend({ type: EnvelopeType, content: Base64Content })).max(MAX_GROUP_RECIPIENT_DEVICES),
});
export type GroupSubmitInputBody = z.input<typeof GroupSubmitInput>;

const GroupSettingsInput = z.object({
  name: z.string().min(1).max(100),
  description: z.string().max(1000).nullable(),
  avatar_ref: z.string().min(1).max(200).nullable(),
  who_can_add: WhoCanAdd,
});
export type GroupSettings = z.output<typeof GroupSettingsInput>;

/** One membership or settings change, asked of the group's ChatRoom by `actor`. */
export const GroupChangeInput = z.object({
  actor: AccountId,
  change: z.discriminatedUnion("op", [
    z.object({ op: z.literal("create"), chat_id: GroupId, settings: GroupSettingsInput, members: z.array(AccountId).max(MAX_GROUP_MEMBERS - 1) }),
    z.object({ op: z.literal("add"), account_ids: z.array(AccountId).min(1).max(MAX_GROUP_MEMBERS - 1) }),
    z.object({ op: z.literal("remove"), account_id: AccountId }),
    z.object({ op: z.literal("leave") }),
    z.object({ op: z.literal("set_role"), account_id: AccountId, role: GroupRole }),
    z.object({ op: z.literal("update"), settings: GroupSettingsInput.partial() }),
  ]),
});
export type GroupChangeInputBody = z.input<typeof GroupChangeInput>;

/** Devices per fanout queue message is bounded by the config; this bounds what a consumer accepts. */
export const MAX_FANOUT_JOB_DEVICES = 500;

/**
 * A queue message of the large-group fanout: hand one chat entry to these devices' inboxes. The
 * entry rides along when it fits a queue message; otherwise (`entry: null`) the consumer reads it
 * from the ChatRoom (fanoutEntry). Redelivery is harmless: inboxes dedupe on (chat_id, chat_seq).
 */
export const FanoutJob = z.object({
  chat_id: GroupId,
  chat_seq: ChatSeq,
  devices: z.array(z.tuple([AccountId, DeviceId])).min(1).max(MAX_FANOUT_JOB_DEVICES),
  entry: InboxEntryInput.nullable(),
});
export type FanoutJobBody = z.output<typeof FanoutJob>;
