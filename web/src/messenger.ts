/**
 * @module The web app's model: one SDK Client (all cryptography happens inside it, in the browser)
 * and the local ChatHistory, wired together. Turns SDK events into history records and ephemeral
 * state (typing, presence, upload progress) and tells the views that something changed. Views read
 * from here and call its actions; they never talk to the SDK or storage themselves.
 */
import { type Client, type ClientEventOf, directChatId, type GroupInfoBody, isGroupChat, PRIMARY_DEVICE_ID } from "../../src/client/index";
import { type ChatHistory, type ChatRecord, type GroupRecord, placeMessage, type Preferences } from "./history";

/** Typing is shown this long after the last "typing" event (the server expires it after a few seconds too). */
const TYPING_SHOWN_MS = 6_000;
/** Messages per chat the primary sends a browser it links (the SDK keeps at most 200 per chat). */
const LINK_HISTORY_MESSAGES = 100;
/** A typing refresh is sent at most this often while the user keeps typing. */
const TYPING_REFRESH_MS = 2_500;

export interface PresenceView {
  online: boolean | null;
  last_seen: number | null;
}

export class Messenger {
  private readonly listeners = new Set<() => void>();
  private readonly typingUntil = new Map<string, number>();
  private readonly typingNames = new Map<string, string>();
  private readonly presence = new Map<string, PresenceView>();
  /** Upload progress of file sends in flight, by msg_id. */
  readonly uploads = new Map<string, { sent: number; total: number }>();
  private readonly objectUrls = new Map<string, Promise<string>>();
  private readonly presenceSubscriptions = new Map<string, () => void>();
  private lastTypingSent = 0;
  connection: "connecting" | "open" | "closed" = "connecting";
  /** Set when the server ended this device's socket for good: it was unlinked, or another tab took over. */
  terminated: "device_removed" | "replaced" | null = null;
  openChatId: string | null = null;
  lastError: string | null = null;

  constructor(
    readonly client: Client,
    readonly history: ChatHistory,
  ) {}

  get handle(): string {
    return this.client.account.handle;
  }

  /**
   * Subscribes to the SDK's events and opens the inbox socket. First, a message left pending by an
   * earlier visit either is still in the SDK's outbox (its `sent` event will come) or never got
   * there (the tab closed during an upload): the latter is marked failed rather than left pending.
   */
  async start(): Promise<void> {
    const queued = new Set((await this.client.pending()).map((item) => item.msg_id));
    for (const chat of await this.history.chats()) {
      if (chat.messages.some((m) => m.chat_seq === null && !m.failed && !queued.has(m.id))) {
        await this.history.updateExisting(chat.chat_id, (c) => {
          for (const m of c.messages) if (m.chat_seq === null && !queued.has(m.id)) m.failed = true;
        });
      }
    }
    this.client.on("message", (event) => void this.onMessage(event).catch((err) => this.fail(err)));
    this.client.on("sent", (event) => void this.onSent(event).catch((err) => this.fail(err)));
    this.client.on("receipt", (event) => void this.onReceipt(event).catch((err) => this.fail(err)));
    this.client.on("group", (event) => void this.onGroupEvent(event).catch((err) => this.fail(err)));
    this.client.on("typing", (event) => {
      if (event.from.account_id === this.client.account.account_id) return;
      this.typingUntil.set(event.chat_id, event.state === "stopped" ? 0 : Date.now() + TYPING_SHOWN_MS);
      // In a group the header says who; the handle is cached by the SDK after the first lookup.
      void this.client
        .handleOf(event.from.account_id)
        .then((handle) => {
          this.typingNames.set(event.chat_id, handle);
          this.changed();
        })
        .catch(() => undefined);
      setTimeout(() => this.changed(), TYPING_SHOWN_MS + 50);
      this.changed();
    });
    this.client.on("presence", (event) => {
      this.presence.set(event.account_id, { online: event.online, last_seen: event.last_seen });
      this.changed();
    });
    this.client.on("connection", (event) => {
      this.connection = event.state;
      this.changed();
    });
    this.client.on("error", (event) => {
      if (event.code === "terminated") {
        this.terminated = event.reason ?? "device_removed";
        this.changed();
        return;
      }
      // Connection trouble shows as the connection state and heals by itself; the rest is news.
      if (event.code === "connection") console.warn("parley:", event.message);
      else this.fail(new Error(event.code === "undecryptable" ? "A message could not be decrypted; the session was reset." : event.message));
    });
    document.addEventListener("visibilitychange", () => {
      this.client.setAppState(document.visibilityState === "visible" ? "foreground" : "background");
      if (document.visibilityState === "visible") void this.markOpenChatRead();
    });
    this.client.connect();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  private fail(err: unknown): void {
    this.lastError = err instanceof Error ? err.message : String(err);
    console.error("parley:", err);
    this.changed();
  }

  dismissError(): void {
    this.lastError = null;
    this.changed();
  }

  // ---- reading state ----------------------------------------------------------------------------

  isTyping(chatId: string): boolean {
    return (this.typingUntil.get(chatId) ?? 0) > Date.now();
  }

  /** Who is typing in a chat (the latest to start), once their handle is known. */
  typingName(chatId: string): string | undefined {
    return this.isTyping(chatId) ? this.typingNames.get(chatId) : undefined;
  }

  presenceOf(accountId: string): PresenceView | undefined {
    return this.presence.get(accountId);
  }

  // ---- SDK events -------------------------------------------------------------------------------

  private async onMessage(event: ClientEventOf<"message">): Promise<void> {
    const group = isGroupChat(event.chat_id);
    const peer = group ? await this.groupPeer(event.chat_id) : { account: event.peer, handle: await this.client.handleOf(event.peer) };
    const from = group && !event.outgoing ? { account: event.from.account_id, handle: await this.client.handleOf(event.from.account_id) } : undefined;
    await this.history.update(event.chat_id, peer, (chat) =>
      placeMessage(chat, {
        ...(from ? { from } : {}),
        id: event.msg_id,
        chat_seq: event.chat_seq,
        outgoing: event.outgoing,
        text: event.text,
        ...(event.file ? { file: { mime: event.file.mime, ...(event.file.name ? { name: event.file.name } : {}), size: event.file.size } } : {}),
        at: event.server_ts,
      }),
    );
    if (!event.outgoing) this.typingUntil.delete(event.chat_id);
    this.changed();
    if (event.chat_id === this.openChatId) await this.markOpenChatRead();
  }

  /**
   * A membership change: recorded as a notice in the chat's order, and the group's members and
   * roles re-read from the server (unless this account just left it or was removed: then the chat
   * stays, read-only).
   */
  private async onGroupEvent(event: ClientEventOf<"group">): Promise<void> {
    const me = this.client.account.account_id;
    const change = event.event;
    const gone = (change.type === "member_removed" || change.type === "member_left") && change.account_id === me;
    if (gone) {
      // The server refuses a former member's presence socket: stop watching it.
      this.presenceSubscriptions.get(event.chat_id)?.();
      this.presenceSubscriptions.delete(event.chat_id);
    }
    const fresh = gone ? undefined : await this.client.groupInfo(event.chat_id).then((info) => this.groupRecord(info)).catch(() => undefined);
    const notice = await this.describeGroupEvent(event);
    const known = await this.history.chat(event.chat_id);
    const name = fresh?.name ?? known?.group?.name ?? (change.type === "created" ? change.name : "Group");
    await this.history.update(event.chat_id, { account: event.chat_id, handle: name }, (chat) => {
      chat.group = fresh ?? { name, members: chat.group?.members ?? [], left: gone || (chat.group?.left ?? false) };
      if (gone) chat.group.left = true;
      chat.peer_handle = chat.group.name;
      placeMessage(chat, { id: `group-event-${event.chat_seq}`, chat_seq: event.chat_seq, outgoing: false, text: notice, at: Date.now(), notice: true });
    });
    this.changed();
  }

  private async describeGroupEvent(event: ClientEventOf<"group">): Promise<string> {
    const who = async (account: string) => (account === this.client.account.account_id ? "you" : this.client.handleOf(account));
    const actor = await who(event.actor);
    const change = event.event;
    let text: string;
    switch (change.type) {
      case "created":
        text = `${actor} created the group “${change.name}”`;
        break;
      case "members_added":
        text = `${actor} added ${(await Promise.all(change.account_ids.map(who))).join(", ")}`;
        break;
      case "member_removed":
        text = `${actor} removed ${await who(change.account_id)}`;
        break;
      case "member_left":
        text = `${await who(change.account_id)} left`;
        break;
      case "role_changed":
        text = `${actor} made ${await who(change.account_id)} ${change.role === "admin" ? "an admin" : "a member"}`;
        break;
      case "settings_changed":
        text = change.name !== undefined ? `${actor} renamed the group to “${change.name}”` : `${actor} changed the group settings`;
        break;
    }
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  /** The group's name for a chat record; a group first met through a message is looked up once. */
  private async groupPeer(chatId: string): Promise<{ account: string; handle: string }> {
    const known = await this.history.chat(chatId);
    if (known?.group) return { account: chatId, handle: known.group.name };
    const record = await this.client
      .groupInfo(chatId)
      .then((info) => this.groupRecord(info))
      .catch(() => undefined);
    if (!record) return { account: chatId, handle: known?.peer_handle ?? "Group" };
    await this.history.update(chatId, { account: chatId, handle: record.name }, (chat) => {
      chat.group = record;
      chat.peer_handle = record.name;
    });
    return { account: chatId, handle: record.name };
  }

  private async groupRecord(info: GroupInfoBody): Promise<GroupRecord> {
    const members = await Promise.all(info.members.map(async (m) => ({ account: m.account_id, handle: await this.client.handleOf(m.account_id), role: m.role })));
    return { name: info.name, members, left: !members.some((m) => m.account === this.client.account.account_id) };
  }

  /** Stores what the server answered to a group change made here (the event follows on the socket). */
  private async rememberGroup(info: GroupInfoBody): Promise<void> {
    const record = await this.groupRecord(info);
    await this.history.update(info.chat_id, { account: info.chat_id, handle: record.name }, (chat) => {
      chat.group = record;
      chat.peer_handle = record.name;
    });
    this.changed();
  }

  /** The server acked one of our sends: it gets its chat_seq (and the "sent" tick). */
  private async onSent(event: ClientEventOf<"sent">): Promise<void> {
    const chat = await this.history.updateExisting(event.chat_id, (c) => {
      const pending = c.messages.find((m) => m.id === event.msg_id);
      if (pending) placeMessage(c, { ...pending, chat_seq: event.chat_seq, at: event.server_ts });
    });
    this.changed();
    if (chat) await this.watchPresence(chat);
  }

  private async onReceipt(event: ClientEventOf<"receipt">): Promise<void> {
    // Receipts from this account's own devices say nothing about the peer.
    if (event.reader.account_id === this.client.account.account_id) return;
    await this.history.updateExisting(event.chat_id, (chat) => {
      chat.peer_delivered_up_to = Math.max(chat.peer_delivered_up_to, event.up_to_seq);
      // A read receipt implies delivery (the server sends no separate delivered receipt then).
      if (event.status === "read") chat.peer_read_up_to = Math.max(chat.peer_read_up_to, event.up_to_seq);
    });
    this.changed();
  }

  // ---- actions ------------------------------------------------------------------------------------

  /** Finds (or creates locally) the 1:1 chat with a handle; throws when no such account exists. */
  async chatWith(handle: string): Promise<ChatRecord> {
    const account = await this.client.resolve(handle.trim().toLowerCase());
    if (account === this.client.account.account_id) throw new Error("that is you: pick someone else");
    const chatId = await directChatId(this.client.account.account_id, account);
    return (await this.history.chat(chatId)) ?? this.history.update(chatId, { account, handle: await this.client.handleOf(account) }, () => {});
  }

  /** Creates a group with members given by handle; this account becomes its admin. Returns its chat id. */
  async createGroup(name: string, handles: string[]): Promise<string> {
    const info = await this.client.createGroup(name.trim(), handles.map((handle) => handle.trim().toLowerCase()));
    await this.rememberGroup(info);
    return info.chat_id;
  }

  async addToGroup(chatId: string, handle: string): Promise<void> {
    await this.rememberGroup(await this.client.addToGroup(chatId, [handle.trim().toLowerCase()]));
  }

  async removeFromGroup(chatId: string, account: string): Promise<void> {
    await this.rememberGroup(await this.client.removeFromGroup(chatId, account));
  }

  async leaveGroup(chatId: string): Promise<void> {
    await this.client.leaveGroup(chatId);
    await this.history.updateExisting(chatId, (chat) => {
      if (chat.group) chat.group.left = true;
    });
    this.changed();
  }

  /** Opens a chat: marks it read, loads presence and subscribes to typing and presence changes. */
  async openChat(chatId: string | null): Promise<void> {
    for (const [id, stop] of this.presenceSubscriptions) {
      if (id !== chatId) {
        stop();
        this.presenceSubscriptions.delete(id);
      }
    }
    this.openChatId = chatId;
    this.changed();
    if (!chatId) return;
    const chat = await this.history.chat(chatId);
    if (!chat) return;
    await this.markOpenChatRead();
    // A group's header lists its members instead (presence events still come for them).
    if (!chat.group) {
      void this.client
        .presenceOf(chat.peer_account)
        .then((status) => {
          this.presence.set(chat.peer_account, { online: status.online, last_seen: status.last_seen });
          this.changed();
        })
        .catch(() => undefined);
    }
    await this.watchPresence(chat);
  }

  /** The chat's presence socket exists once the chat does (after its first message): retried after a send. */
  private async watchPresence(chat: ChatRecord): Promise<void> {
    if (this.presenceSubscriptions.has(chat.chat_id) || chat.messages.length === 0 || this.openChatId !== chat.chat_id || chat.group?.left) return;
    this.presenceSubscriptions.set(chat.chat_id, () => {});
    try {
      const stop = await this.client.subscribePresence(chat.chat_id);
      if (this.openChatId === chat.chat_id) this.presenceSubscriptions.set(chat.chat_id, stop);
      else stop();
    } catch {
      this.presenceSubscriptions.delete(chat.chat_id);
    }
  }

  /** Clears the open chat's unread count and, when the user allows it, sends a read receipt. */
  async markOpenChatRead(): Promise<void> {
    const chatId = this.openChatId;
    if (!chatId || document.visibilityState !== "visible") return;
    const chat = await this.history.chat(chatId);
    const newest = Math.max(0, ...(chat?.messages ?? []).filter((m) => !m.outgoing && m.chat_seq !== null).map((m) => m.chat_seq!));
    if (!chat || newest <= chat.read_up_to) return;
    await this.history.updateExisting(chatId, (c) => (c.read_up_to = Math.max(c.read_up_to, newest)));
    this.changed();
    // A former member's read position no longer matters to anyone (and the server refuses it).
    if ((await this.history.preferences()).send_read_receipts && !chat.group?.left) {
      await this.client.markRead(chatId, newest).catch((err) => this.fail(err));
    }
  }

  async sendText(chatId: string, text: string): Promise<void> {
    const chat = await this.history.chat(chatId);
    if (!chat) throw new Error("unknown chat");
    // Our own msg_id from the start: the SDK's `sent` event (now or after a reload) names this message.
    const msgId = crypto.randomUUID();
    await this.history.update(chatId, peerOf(chat), (c) => placeMessage(c, { id: msgId, chat_seq: null, outgoing: true, text, at: Date.now() }));
    this.changed();
    void this.client.setTyping(chatId, "stopped").catch(() => undefined);
    const sending = chat.group ? this.client.sendGroup(chatId, text, { msgId }) : this.client.send(chat.peer_account, text, { msgId });
    await this.failOnError(chat, msgId, sending);
  }

  async sendFile(chatId: string, file: File, caption: string): Promise<void> {
    const chat = await this.history.chat(chatId);
    if (!chat) throw new Error("unknown chat");
    const msgId = crypto.randomUUID();
    const mime = file.type || "application/octet-stream";
    await this.history.update(chatId, peerOf(chat), (c) =>
      placeMessage(c, { id: msgId, chat_seq: null, outgoing: true, text: caption, file: { mime, name: file.name, size: file.size }, at: Date.now() }),
    );
    this.uploads.set(msgId, { sent: 0, total: file.size });
    // Our own file shows from the local copy: no download of what we just sent.
    this.objectUrls.set(msgId, Promise.resolve(URL.createObjectURL(file)));
    this.changed();
    const sending = this.client
      .sendFile(chat.group ? chatId : chat.peer_account, file, {
        msgId,
        mime,
        name: file.name,
        contentClass: contentClassOf(mime),
        ...(caption ? { caption } : {}),
        onProgress: (sent, total) => {
          this.uploads.set(msgId, { sent, total });
          this.changed();
        },
      })
      .finally(() => {
        this.uploads.delete(msgId);
        this.changed();
      });
    await this.failOnError(chat, msgId, sending);
  }

  /** A send the SDK gave up on (or an upload that failed) is marked failed; success comes as `sent`. */
  private async failOnError(chat: ChatRecord, msgId: string, sending: Promise<unknown>): Promise<void> {
    try {
      await sending;
    } catch (err) {
      await this.history.updateExisting(chat.chat_id, (c) => {
        const pending = c.messages.find((m) => m.id === msgId);
        if (pending && pending.chat_seq === null) pending.failed = true;
      });
      this.fail(err);
    }
  }

  /** Called on every keystroke in the composer: refreshes "typing" at most every few seconds. */
  typed(chatId: string): void {
    const now = Date.now();
    if (now - this.lastTypingSent < TYPING_REFRESH_MS || !this.presenceSubscriptions.has(chatId)) return;
    this.lastTypingSent = now;
    void this.client.setTyping(chatId, "typing").catch(() => undefined);
  }

  /** An object URL of a file message's decrypted bytes (downloaded, verified and decrypted once). */
  fileUrl(msgId: string, mime: string): Promise<string> {
    let url = this.objectUrls.get(msgId);
    if (!url) {
      url = (async () => {
        const chunks: Uint8Array[] = [];
        for await (const chunk of this.client.downloadFile(msgId)) chunks.push(chunk);
        return URL.createObjectURL(new Blob(chunks as BlobPart[], { type: mime }));
      })();
      url.catch(() => this.objectUrls.delete(msgId));
      this.objectUrls.set(msgId, url);
    }
    return url;
  }

  // ---- linked devices -------------------------------------------------------------------------------

  /** Whether this browser is the account's primary device (the one that links and unlinks others). */
  get isPrimary(): boolean {
    return this.client.account.device_id === PRIMARY_DEVICE_ID;
  }

  /**
   * On the primary: approves the device showing `payload` and sends it the recent history of every
   * chat; resolves once the new device has activated itself (it then gets copies of every message).
   */
  approveLink(payload: string): Promise<{ device_id: number }> {
    return this.client.approveLink(payload.trim(), { historyMessages: LINK_HISTORY_MESSAGES });
  }

  /** Removes a device of this account (on the primary: any other device; on a companion: itself). */
  async unlink(deviceId: number): Promise<void> {
    await this.client.unlink(deviceId);
    if (deviceId === this.client.account.device_id) {
      this.terminated = "device_removed";
      this.changed();
    }
  }

  /**
   * Copies the history a newly linked browser received from its primary (kept by the SDK) into the
   * web history, so the chat list opens with it. Imported messages count as read; files arrive as
   * their text summary (the bundle carries no attachment keys).
   */
  async importLinkedHistory(): Promise<number> {
    let imported = 0;
    for (const summary of await this.client.chats()) {
      const messages = await this.client.history(summary.chat_id);
      if (messages.length === 0) continue;
      const group = isGroupChat(summary.chat_id);
      const peer = group ? await this.groupPeer(summary.chat_id) : { account: summary.peer_account, handle: await this.client.handleOf(summary.peer_account) };
      const senders = new Map<string, string>();
      for (const m of messages) if (group && !m.outgoing && !senders.has(m.from_account)) senders.set(m.from_account, await this.client.handleOf(m.from_account));
      await this.history.update(summary.chat_id, peer, (chat) => {
        for (const m of messages) {
          const from = senders.get(m.from_account);
          placeMessage(chat, { id: m.msg_id, chat_seq: m.chat_seq, outgoing: m.outgoing, text: m.text, at: m.at, ...(from && !m.outgoing ? { from: { account: m.from_account, handle: from } } : {}) });
        }
        chat.read_up_to = Math.max(chat.read_up_to, ...messages.map((m) => m.chat_seq));
      });
      imported += messages.length;
    }
    return imported;
  }

  preferences(): Promise<Preferences> {
    return this.history.preferences();
  }

  async setPreferences(preferences: Preferences): Promise<void> {
    await this.history.setPreferences(preferences);
    this.changed();
  }
}

function peerOf(chat: ChatRecord): { account: string; handle: string } {
  return { account: chat.peer_account, handle: chat.peer_handle };
}

function contentClassOf(mime: string): "image" | "video" | "audio" | "document" | "other" {
  if (mime.startsWith("image/")) return "image";
  if (mime.startsWith("video/")) return "video";
  if (mime.startsWith("audio/")) return "audio";
  if (mime === "application/pdf" || mime.startsWith("text/")) return "document";
  return "other";
}
