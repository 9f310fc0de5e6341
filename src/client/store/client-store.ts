/**
 * @module The client's own records, beside the protocol's (ProtocolStore): which account and device
 * this is, the inbox cursor, the outbox, known devices per account, chat summaries and the dedupe
 * window. JSON records validated with zod on the way out, over the same KeyValueStore, so one
 * backend (memory, files, IndexedDB) holds a whole device. Key names live here and only here.
 */
import { z } from "zod";
import { FileAttachment } from "../payload";
import type { KeyValueStore } from "./types";

const AccountRecord = z.object({
  account_id: z.string(),
  device_id: z.number().int(),
  handle: z.string(),
  registered_at: z.number(),
});
export type AccountRecord = z.infer<typeof AccountRecord>;

const PrekeyCounters = z.object({ next_one_time: z.number().int(), next_pq: z.number().int(), signed: z.number().int() });
export type PrekeyCounters = z.infer<typeof PrekeyCounters>;

const OutboxItem = z.object({
  msg_id: z.string(),
  /** The recipient account of a 1:1 message, or the chat id (g_...) of a group message. */
  to: z.string(),
  /** The encoded plaintext payload (base64), encrypted afresh for each attempt. */
  payload: z.string(),
  created_at: z.number(),
  attempts: z.number().int(),
  /** Media the payload's attachment names, declared with the send (chat members may then download it). */
  media_ids: z.array(z.string()).optional(),
});
export type OutboxItem = z.infer<typeof OutboxItem>;

/** What this device knows of a group: its members (from events and GET), and whether it left. */
const GroupRecord = z.object({ members: z.array(z.string()), left: z.boolean() });
export type GroupRecord = z.infer<typeof GroupRecord>;

const ChatSummary = z.object({
  chat_id: z.string(),
  peer_account: z.string(),
  last_seq: z.number().int(),
  /** Highest chat_seq this device marked read. */
  read_up_to: z.number().int(),
  unread: z.number().int(),
  last: z
    .object({ msg_id: z.string(), from_account: z.string(), text: z.string(), chat_seq: z.number().int(), at: z.number(), outgoing: z.boolean() })
    .nullable(),
});
export type ChatSummary = z.infer<typeof ChatSummary>;

/** The last signed device list this device verified for an account (base64, as on the wire). */
const StoredDeviceList = z.object({ list: z.string(), signature: z.string() });
export type StoredDeviceList = z.infer<typeof StoredDeviceList>;

/** One message of a chat's recent history (what a linked device gets in a history transfer). */
export const HistoryMessage = z.object({
  msg_id: z.string(),
  chat_seq: z.number().int(),
  from_account: z.string(),
  from_device: z.number().int(),
  text: z.string(),
  at: z.number(),
  outgoing: z.boolean(),
});
export type HistoryMessage = z.infer<typeof HistoryMessage>;
/** Messages kept per chat, newest ones: bounds the store and the history bundle. */
export const HISTORY_KEEP = 200;

/**
 * A file upload in progress, kept so that a new process on the same store can finish it from the
 * same file (Client.resumeUpload): the slot, the file key, the hash of every chunk sealed in a part
 * the server has (the digest needs them all, and only missing parts are encrypted again), and the
 * message to send once it is stored.
 */
const PendingUpload = z.object({
  media_id: z.string(),
  /** The slot as the server returned it (upload capability, mode, part size). */
  slot: z.string(),
  upload_expires_at: z.number(),
  key: z.string(),
  size: z.number().int(),
  /** Base64 hash of each chunk, null where its part is not stored yet. */
  chunk_hashes: z.array(z.string().nullable()),
  attachment: z.object({
    mime: z.string(),
    name: z.string().optional(),
    content_class: z.enum(["image", "video", "audio", "document", "other"]),
    thumbnail: z.object({ mime: z.string(), data: z.string() }).optional(),
  }),
  message: z.object({ msg_id: z.string(), to: z.string(), caption: z.string().optional() }),
  started_at: z.number(),
});
export type PendingUpload = z.infer<typeof PendingUpload>;

/** Dedupe window per chat: everything at or below `up_to` was processed, plus recent msg_ids. */
const SeenRecord = z.object({ up_to: z.number().int(), recent: z.array(z.string()) });
type SeenRecord = z.infer<typeof SeenRecord>;
/** How many (sender, msg_id) pairs per chat are remembered beyond the seq high-water mark. */
const SEEN_RECENT = 512;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

export class ClientStore {
  constructor(readonly kv: KeyValueStore) {}

  private async read<T extends z.ZodType>(key: string, schema: T): Promise<z.output<T> | undefined> {
    const bytes = await this.kv.get(key);
    if (!bytes) return undefined;
    return schema.parse(JSON.parse(decoder.decode(bytes)));
  }

  private write(key: string, value: unknown): Promise<void> {
    return this.kv.put(key, encoder.encode(JSON.stringify(value)));
  }

  getAccount(): Promise<AccountRecord | undefined> {
    return this.read("client/account", AccountRecord);
  }

  putAccount(record: AccountRecord): Promise<void> {
    return this.write("client/account", record);
  }

  async getCursor(): Promise<number> {
    return (await this.read("client/cursor", z.number().int())) ?? 0;
  }

  putCursor(cursor: number): Promise<void> {
    return this.write("client/cursor", cursor);
  }

  async getPrekeyCounters(): Promise<PrekeyCounters> {
    return (await this.read("client/prekey-counters", PrekeyCounters)) ?? { next_one_time: 1, next_pq: 1, signed: 1 };
  }

  putPrekeyCounters(counters: PrekeyCounters): Promise<void> {
    return this.write("client/prekey-counters", counters);
  }

  async getKnownDevices(accountId: string): Promise<number[]> {
    return (await this.read(`client/devices/${accountId}`, z.array(z.number().int()))) ?? [];
  }

  putKnownDevices(accountId: string, deviceIds: number[]): Promise<void> {
    return this.write(`client/devices/${accountId}`, [...new Set(deviceIds)].sort((a, b) => a - b));
  }

  async getDeviceList(accountId: string): Promise<StoredDeviceList | undefined> {
    return this.read(`client/device-list/${accountId}`, StoredDeviceList);
  }

  putDeviceList(accountId: string, signed: StoredDeviceList): Promise<void> {
    return this.write(`client/device-list/${accountId}`, { list: signed.list, signature: signed.signature });
  }

  async getHistory(chatId: string): Promise<HistoryMessage[]> {
    return (await this.read(`client/history/${chatId}`, z.array(HistoryMessage))) ?? [];
  }

  /** Adds messages to a chat's history: once per msg_id, in chat_seq order, the newest HISTORY_KEEP. */
  async addHistory(chatId: string, messages: HistoryMessage[]): Promise<void> {
    const byId = new Map((await this.getHistory(chatId)).map((m) => [m.msg_id, m]));
    for (const m of messages) byId.set(m.msg_id, m);
    const kept = [...byId.values()].sort((a, b) => a.chat_seq - b.chat_seq).slice(-HISTORY_KEEP);
    await this.write(`client/history/${chatId}`, kept);
  }

  getGroup(chatId: string): Promise<GroupRecord | undefined> {
    return this.read(`client/group/${chatId}`, GroupRecord);
  }

  putGroup(chatId: string, record: GroupRecord): Promise<void> {
    return this.write(`client/group/${chatId}`, record);
  }

  /** Devices ("account.device") that hold this device's current sender key for the group. */
  async getSenderKeyHolders(chatId: string): Promise<string[]> {
    return (await this.read(`client/sender-key-holders/${chatId}`, z.array(z.string()))) ?? [];
  }

  putSenderKeyHolders(chatId: string, holders: string[]): Promise<void> {
    return this.write(`client/sender-key-holders/${chatId}`, holders);
  }

  async getOutbox(): Promise<OutboxItem[]> {
    return (await this.read("client/outbox", z.array(OutboxItem))) ?? [];
  }

  putOutbox(items: OutboxItem[]): Promise<void> {
    return this.write("client/outbox", items);
  }

  async getChats(): Promise<Record<string, ChatSummary>> {
    return (await this.read("client/chats", z.record(z.string(), ChatSummary))) ?? {};
  }

  putChats(chats: Record<string, ChatSummary>): Promise<void> {
    return this.write("client/chats", chats);
  }

  async getHandle(accountId: string): Promise<string | undefined> {
    return this.read(`client/handles/${accountId}`, z.string());
  }

  /** Remembers handle <-> account both ways (handles are unique and not reassigned). */
  async putHandle(accountId: string, handle: string): Promise<void> {
    await this.write(`client/handles/${accountId}`, handle);
    await this.write(`client/accounts/${handle}`, accountId);
  }

  async getAccountByHandle(handle: string): Promise<string | undefined> {
    return this.read(`client/accounts/${handle}`, z.string());
  }

  /** A file sent or received in message `msgId` (kept so it can be downloaded later by msg_id). */
  getFile(msgId: string): Promise<FileAttachment | undefined> {
    return this.read(`client/files/${msgId}`, FileAttachment);
  }

  putFile(msgId: string, file: FileAttachment): Promise<void> {
    return this.write(`client/files/${msgId}`, file);
  }

  /** Uploads this device started and has not finished, oldest first. */
  async getUploads(): Promise<PendingUpload[]> {
    const ids = (await this.read("client/uploads", z.array(z.string()))) ?? [];
    const out: PendingUpload[] = [];
    for (const id of ids) {
      const upload = await this.read(`client/uploads/${id}`, PendingUpload);
      if (upload) out.push(upload);
    }
    return out;
  }

  getUpload(mediaId: string): Promise<PendingUpload | undefined> {
    return this.read(`client/uploads/${mediaId}`, PendingUpload);
  }

  async putUpload(upload: PendingUpload): Promise<void> {
    await this.write(`client/uploads/${upload.media_id}`, upload);
    const ids = (await this.read("client/uploads", z.array(z.string()))) ?? [];
    if (!ids.includes(upload.media_id)) await this.write("client/uploads", [...ids, upload.media_id]);
  }

  async deleteUpload(mediaId: string): Promise<void> {
    const ids = (await this.read("client/uploads", z.array(z.string()))) ?? [];
    await this.write("client/uploads", ids.filter((id) => id !== mediaId));
    await this.kv.delete(`client/uploads/${mediaId}`);
  }

  /** True when this (sender, msg_id) of this chat, or its seq, was already processed. */
  async wasSeen(chatId: string, chatSeq: number, senderMsgKey: string): Promise<boolean> {
    const seen = await this.read(`client/seen/${chatId}`, SeenRecord);
    if (seen === undefined) return false;
    // A large group's entries reach the inbox through a queue, not always in chat_seq order: there
    // only the remembered keys count (the server already never queues a chat position twice).
    const inOrder = !chatId.startsWith("g_");
    return (inOrder && chatSeq <= seen.up_to) || seen.recent.includes(senderMsgKey);
  }

  async markSeen(chatId: string, chatSeq: number, senderMsgKey: string): Promise<void> {
    const seen: SeenRecord = (await this.read(`client/seen/${chatId}`, SeenRecord)) ?? { up_to: 0, recent: [] };
    seen.up_to = Math.max(seen.up_to, chatSeq);
    seen.recent.push(senderMsgKey);
    if (seen.recent.length > SEEN_RECENT) seen.recent.splice(0, seen.recent.length - SEEN_RECENT);
    await this.write(`client/seen/${chatId}`, seen);
  }
}
