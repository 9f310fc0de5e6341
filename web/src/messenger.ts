/**
 * @module The web app's model: one SDK Client (all cryptography happens inside it, in the browser)
 * and the local ChatHistory, wired together. Turns SDK events into history records and ephemeral
 * state (typing, presence, upload progress) and tells the views that something changed. Views read
 * from here and call its actions; they never talk to the SDK or storage themselves.
 */
import { type Client, type ClientEventOf, directChatId } from "../../src/client/index";
import { type ChatHistory, type ChatRecord, placeMessage, type Preferences } from "./history";

/** Typing is shown this long after the last "typing" event (the server expires it after a few seconds too). */
const TYPING_SHOWN_MS = 6_000;
/** A typing refresh is sent at most this often while the user keeps typing. */
const TYPING_REFRESH_MS = 2_500;

export interface PresenceView {
  online: boolean | null;
  last_seen: number | null;
}

export class Messenger {
  private readonly listeners = new Set<() => void>();
  private readonly typingUntil = new Map<string, number>();
  private readonly presence = new Map<string, PresenceView>();
  /** Upload progress of file sends in flight, by local message id. */
  readonly uploads = new Map<string, { sent: number; total: number }>();
  private readonly objectUrls = new Map<string, Promise<string>>();
  private readonly presenceSubscriptions = new Map<string, () => void>();
  private lastTypingSent = 0;
  connection: "connecting" | "open" | "closed" = "connecting";
  openChatId: string | null = null;
  lastError: string | null = null;

  constructor(
    readonly client: Client,
    readonly history: ChatHistory,
  ) {}

  get handle(): string {
    return this.client.account.handle;
  }

  /** Subscribes to the SDK's events and opens the inbox socket. */
  start(): void {
    this.client.on("message", (event) => void this.onMessage(event).catch((err) => this.fail(err)));
    this.client.on("receipt", (event) => void this.onReceipt(event).catch((err) => this.fail(err)));
    this.client.on("typing", (event) => {
      if (event.from.account_id === this.client.account.account_id) return;
      this.typingUntil.set(event.chat_id, event.state === "stopped" ? 0 : Date.now() + TYPING_SHOWN_MS);
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
    this.client.on("error", (event) => this.fail(new Error(event.message)));
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

  // ---- reading state ----------------------------------------------------------------------------

  isTyping(chatId: string): boolean {
    return (this.typingUntil.get(chatId) ?? 0) > Date.now();
  }

  presenceOf(accountId: string): PresenceView | undefined {
    return this.presence.get(accountId);
  }

  // ---- SDK events -------------------------------------------------------------------------------

  private async onMessage(event: ClientEventOf<"message">): Promise<void> {
    const handle = await this.client.handleOf(event.peer);
    await this.history.update(event.chat_id, { account: event.peer, handle }, (chat) =>
      placeMessage(chat, {
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
    void this.client
      .presenceOf(chat.peer_account)
      .then((status) => {
        this.presence.set(chat.peer_account, { online: status.online, last_seen: status.last_seen });
        this.changed();
      })
      .catch(() => undefined);
    await this.watchPresence(chat);
  }

  /** The chat's presence socket exists once the chat does (after its first message): retried after a send. */
  private async watchPresence(chat: ChatRecord): Promise<void> {
    if (this.presenceSubscriptions.has(chat.chat_id) || chat.messages.length === 0 || this.openChatId !== chat.chat_id) return;
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
    if ((await this.history.preferences()).send_read_receipts) {
      await this.client.markRead(chatId, newest).catch((err) => this.fail(err));
    }
  }

  async sendText(chatId: string, text: string): Promise<void> {
    const chat = await this.history.chat(chatId);
    if (!chat) throw new Error("unknown chat");
    const localId = `local-${crypto.randomUUID()}`;
    await this.history.update(chatId, peerOf(chat), (c) => placeMessage(c, { id: localId, chat_seq: null, outgoing: true, text, at: Date.now() }));
    this.changed();
    void this.client.setTyping(chatId, "stopped").catch(() => undefined);
    await this.settle(chat, localId, this.client.send(chat.peer_account, text));
  }

  async sendFile(chatId: string, file: File, caption: string): Promise<void> {
    const chat = await this.history.chat(chatId);
    if (!chat) throw new Error("unknown chat");
    const localId = `local-${crypto.randomUUID()}`;
    const mime = file.type || "application/octet-stream";
    await this.history.update(chatId, peerOf(chat), (c) =>
      placeMessage(c, { id: localId, chat_seq: null, outgoing: true, text: caption, file: { mime, name: file.name, size: file.size }, at: Date.now() }),
    );
    this.uploads.set(localId, { sent: 0, total: file.size });
    this.objectUrls.set(localId, Promise.resolve(URL.createObjectURL(file)));
    this.changed();
    const sending = this.client
      .sendFile(chat.peer_account, file, {
        mime,
        name: file.name,
        contentClass: contentClassOf(mime),
        ...(caption ? { caption } : {}),
        onProgress: (sent, total) => {
          this.uploads.set(localId, { sent, total });
          this.changed();
        },
      })
      .then(({ ack }) => {
        // The local preview stays valid under the real id: no download of our own file.
        this.objectUrls.set(ack.msg_id, this.objectUrls.get(localId)!);
        return ack;
      })
      .finally(() => this.uploads.delete(localId));
    await this.settle(chat, localId, sending);
  }

  /** Replaces a pending message by its acked form (msg_id, chat_seq), or marks it failed. */
  private async settle(chat: ChatRecord, localId: string, sending: Promise<{ msg_id: string; chat_seq: number; server_ts: number }>): Promise<void> {
    try {
      const ack = await sending;
      await this.history.update(chat.chat_id, peerOf(chat), (c) => {
        const pending = c.messages.find((m) => m.id === localId);
        if (pending) placeMessage(c, { ...pending, id: ack.msg_id, chat_seq: ack.chat_seq, at: ack.server_ts });
        c.messages = c.messages.filter((m) => m.id !== localId);
      });
      await this.watchPresence((await this.history.chat(chat.chat_id)) ?? chat);
    } catch (err) {
      await this.history.update(chat.chat_id, peerOf(chat), (c) => {
        const pending = c.messages.find((m) => m.id === localId);
        if (pending) pending.failed = true;
      });
      this.fail(err);
    }
    this.changed();
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
