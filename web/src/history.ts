/**
 * @module The web app's conversation history, kept in the browser beside the SDK's records (the
 * SDK keeps keys, sessions and chat summaries but no message list). Per chat: the messages this
 * browser sent or received, how far the peer has acknowledged delivery and reading (receipts carry
 * an authoritative `up_to_seq`, so ticks are derived from two numbers rather than per message),
 * and how far this user has read. A group chat also keeps its name and members, the sender of each
 * message, and membership changes as notices in the chat's order. Plaintext lives only here, on the device, never on the server.
 */
import { z } from "zod";
import type { KeyValueStore } from "../../src/client/index";

/** Messages kept per chat: the oldest are dropped beyond this (a browser's storage is not an archive). */
export const MAX_MESSAGES_PER_CHAT = 1000;

const FileSummary = z.object({ mime: z.string(), name: z.string().optional(), size: z.number() });

const StoredMessage = z.object({
  /** The msg_id (this app chooses it for its own sends, before the send). */
  id: z.string(),
  /** null until the server assigned it (pending sends). */
  chat_seq: z.number().int().nullable(),
  outgoing: z.boolean(),
  text: z.string(),
  /** A file message; the attachment itself is in the SDK's store under the msg_id. */
  file: FileSummary.optional(),
  at: z.number(),
  failed: z.boolean().optional(),
  /** Who wrote an incoming group message (1:1 chats need no name on each message). */
  from: z.object({ account: z.string(), handle: z.string() }).optional(),
  /** A line about the chat rather than from someone ("alice added carol"): no tick, never unread. */
  notice: z.boolean().optional(),
});
export type StoredMessage = z.infer<typeof StoredMessage>;

const GroupMember = z.object({ account: z.string(), handle: z.string(), role: z.enum(["admin", "member"]) });
export type GroupMember = z.infer<typeof GroupMember>;

/** What this browser knows of a group: refreshed from the server on every membership event. */
const GroupRecord = z.object({
  name: z.string(),
  members: z.array(GroupMember),
  /** This account left or was removed: the chat stays, read-only. */
  left: z.boolean(),
});
export type GroupRecord = z.infer<typeof GroupRecord>;

const ChatRecord = z.object({
  chat_id: z.string(),
  /** 1:1: the other account and its handle. A group: its chat id and its name. */
  peer_account: z.string(),
  peer_handle: z.string(),
  group: GroupRecord.optional(),
  messages: z.array(StoredMessage),
  /** Highest chat_seq this user has seen with the chat open. */
  read_up_to: z.number().int(),
  /** Highest chat_seq of ours the peer's device has received / read (receipts). */
  peer_delivered_up_to: z.number().int(),
  peer_read_up_to: z.number().int(),
});
export type ChatRecord = z.infer<typeof ChatRecord>;

export type Tick = "pending" | "sent" | "delivered" | "read" | "failed";

export function tickOf(chat: ChatRecord, message: StoredMessage): Tick {
  if (message.failed) return "failed";
  if (message.chat_seq === null) return "pending";
  if (message.chat_seq <= chat.peer_read_up_to) return "read";
  if (message.chat_seq <= chat.peer_delivered_up_to) return "delivered";
  return "sent";
}

export function unreadCount(chat: ChatRecord): number {
  return chat.messages.filter((m) => !m.outgoing && !m.notice && m.chat_seq !== null && m.chat_seq > chat.read_up_to).length;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Local preferences that never leave the browser. */
const Preferences = z.object({ send_read_receipts: z.boolean() });
export type Preferences = z.infer<typeof Preferences>;

export class ChatHistory {
  /** Serialises read-modify-write of records: events arrive while a send is being recorded. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly kv: KeyValueStore) {}

  private async read<T extends z.ZodType>(key: string, schema: T): Promise<z.output<T> | undefined> {
    const bytes = await this.kv.get(key);
    return bytes ? schema.parse(JSON.parse(decoder.decode(bytes))) : undefined;
  }

  private write(key: string, value: unknown): Promise<void> {
    return this.kv.put(key, encoder.encode(JSON.stringify(value)));
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async chatIds(): Promise<string[]> {
    return (await this.read("web/chats", z.array(z.string()))) ?? [];
  }

  chat(chatId: string): Promise<ChatRecord | undefined> {
    return this.read(`web/chat/${chatId}`, ChatRecord);
  }

  /** Every chat, the most recent activity first. */
  async chats(): Promise<ChatRecord[]> {
    const all = await Promise.all((await this.chatIds()).map((id) => this.chat(id)));
    const lastAt = (c: ChatRecord) => c.messages[c.messages.length - 1]?.at ?? 0;
    return all.filter((c): c is ChatRecord => c !== undefined).sort((a, b) => lastAt(b) - lastAt(a));
  }

  /** Applies `change` to a chat (created empty on first use) and stores it; returns the result. */
  update(chatId: string, peer: { account: string; handle: string }, change: (chat: ChatRecord) => void): Promise<ChatRecord> {
    return this.serial(async () => {
      let chat = await this.chat(chatId);
      if (!chat) {
        chat = { chat_id: chatId, peer_account: peer.account, peer_handle: peer.handle, messages: [], read_up_to: 0, peer_delivered_up_to: 0, peer_read_up_to: 0 };
        const ids = await this.chatIds();
        if (!ids.includes(chatId)) await this.write("web/chats", [...ids, chatId]);
      }
      change(chat);
      if (chat.messages.length > MAX_MESSAGES_PER_CHAT) chat.messages.splice(0, chat.messages.length - MAX_MESSAGES_PER_CHAT);
      await this.write(`web/chat/${chatId}`, chat);
      return chat;
    });
  }

  /** Updates an existing chat only (receipts for a chat this browser has no record of are ignored). */
  updateExisting(chatId: string, change: (chat: ChatRecord) => void): Promise<ChatRecord | undefined> {
    return this.serial(async () => {
      const chat = await this.chat(chatId);
      if (!chat) return undefined;
      change(chat);
      await this.write(`web/chat/${chatId}`, chat);
      return chat;
    });
  }

  async preferences(): Promise<Preferences> {
    return (await this.read("web/preferences", Preferences)) ?? { send_read_receipts: true };
  }

  setPreferences(preferences: Preferences): Promise<void> {
    return this.write("web/preferences", preferences);
  }
}

/** Inserts a message in chat_seq order (pending ones last), replacing one with the same id. */
export function placeMessage(chat: ChatRecord, message: StoredMessage): void {
  const existing = chat.messages.findIndex((m) => m.id === message.id);
  if (existing >= 0) chat.messages.splice(existing, 1);
  const seq = message.chat_seq ?? Number.POSITIVE_INFINITY;
  let at = chat.messages.length;
  while (at > 0 && (chat.messages[at - 1]!.chat_seq ?? Number.POSITIVE_INFINITY) > seq) at--;
  chat.messages.splice(at, 0, message);
}
