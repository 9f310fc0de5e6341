/**
 * @module The Client facade: one registered device of one account. Registers, authenticates, keeps
 * sessions, sends through a persisted outbox, receives from the inbox socket, and tells the app
 * what happened through typed events.
 *
 * Guarantees to the app:
 * - a message handed to `send` is persisted before the first attempt and retried with the same
 *   msg_id (across restarts) until the server acks it, then a `sent` event names it; 409/410
 *   answers repair sessions and retry;
 * - received messages are deduplicated on (sender, msg_id) and chat_seq, decrypted, persisted and
 *   emitted once, in inbox order (which is chat_seq order per chat); the inbox is ACKed only after;
 * - a message that cannot be decrypted is never dropped silently: an `error` event names it and
 *   the session with its sender is reset, so the next exchange starts a fresh one;
 * - groups: one Sender Key ciphertext per message; this device's sender key reaches member devices
 *   that lack it as a pairwise distribution riding along the message (the server's 409 names
 *   them), and it is rotated as soon as a member leaves or is removed, so they cannot read on.
 */
import { bytesEqual, fromBase64, toBase64 } from "../protocol/encoding";
import type { DeviceList as DeviceListSchema } from "../protocol/accounts";
import type { z } from "zod";
import { isGroupChat } from "../protocol/chat-ids";
import type { GroupInfoBody } from "../protocol/groups";
import { type InboxEntryBody, MsgId, type SendAckBody } from "../protocol/messages";
import type { PushTokenInputBody } from "../protocol/push";
import { ApiClient, type FetchLike, type TokenProvider } from "./api";
import { signAuthChallenge } from "./crypto/auth-challenge";
import { decodeDeviceList, PRIMARY_DEVICE_ID, verifyDeviceList } from "./crypto/device-list";
import { CryptoError } from "./crypto/errors";
import { type SafetyNumber, safetyNumber } from "./crypto/safety-number";
import { openProvisioning, provisioningKeyPair, sealProvisioning } from "./crypto/provisioning";
import { groupDecrypt, groupEncrypt, processSenderKeyDistribution, rotateSenderKey, senderKeyDistribution } from "./crypto/group-cipher";
import { decryptMessage, resetSession } from "./crypto/session";
import { createDeviceKeys, createPrekeyBatch, PREKEY_LOW_WATER } from "./device-keys";
import { ParleyApiError, TransportError } from "./errors";
import { type ClientEvent, type ClientEventOf, type ClientEventType, Emitter } from "./events";
import { downloadFile, downloadFileRange } from "./media-download";
import { isRereadable } from "./media-ranges";
import { resumeSavedUpload, uploadResumable } from "./media-resume";
import { type FileSource, uploadFile, type UploadOptions } from "./media-upload";
import {
  buildHistoryBundle,
  decodeLinkPayload,
  encodeLinkPayload,
  HISTORY_BUNDLE_MIME,
  HistoryBundle,
  nextDeviceList,
  ProvisioningMessage,
} from "./linking";
import { decodePayload, encodePayload, type FileAttachment, type MessagePayloadBody } from "./payload";
import { PresenceSubscription } from "./presence";
import { releaseBuffer } from "./release-buffer";
import { SessionManager } from "./sessions";
import { InboxConnection, type WebSocketConstructor } from "./socket";
import { type AccountRecord, type ChatSummary, ClientStore, type HistoryMessage, type OutboxItem, type PendingUpload } from "./store/client-store";
import { ProtocolStore } from "./store/protocol-store";
import type { KeyValueStore } from "./store/types";
import type { Jurisdiction } from "../protocol/jurisdiction";

export interface ClientOptions {
  /** Server base URL, e.g. http://127.0.0.1:8787 */
  server: string;
  store: KeyValueStore;
  /** WebSocket constructor; defaults to globalThis.WebSocket (Node 20: pass the `ws` package's). */
  WebSocket?: WebSocketConstructor;
  fetch?: FetchLike;
}

export interface RegisterOptions extends ClientOptions {
  handle: string;
  deviceName?: string;
  /** Data residency: keep this account's inboxes, chats and media inside this jurisdiction. */
  jurisdiction?: Jurisdiction;
  /** Asked for the code the user received. Not needed with the server's dev sender, which returns it. */
  verificationCode?: (info: { handle: string; expiresAt: number }) => Promise<string>;
}

export interface SendOptions {
  /**
   * The message id (16-64 of A-Z a-z 0-9 _ -; default a fresh uuid). An app that records the message
   * before sending passes its own, so the `sent` event, which also comes for sends still in the
   * outbox from before a restart, names a message it knows.
   */
  msgId?: string;
}

function messageId(options: SendOptions): string {
  if (options.msgId === undefined) return crypto.randomUUID();
  if (!MsgId.safeParse(options.msgId).success) throw new Error("msgId must be 16-64 characters of A-Z a-z 0-9 _ -");
  return options.msgId;
}

export interface LinkOptions extends ClientOptions {
  deviceName?: string;
}

/** A companion device waiting for its primary to scan the QR code (see Client.startLink). */
export interface PendingLink {
  /** Show this as a QR code (or paste it into `parley link-approve`). */
  payload: string;
  /** When the provisioning channel closes. */
  expiresAt: number;
  /** Waits for the primary's answer, activates this device and imports the history it sent. */
  complete(options?: { pollMs?: number }): Promise<LinkedDevice>;
}

export interface LinkedDevice {
  client: Client;
  /** Messages imported from the primary's history bundle (null: it sent none). */
  history: { chats: number; messages: number } | null;
  /** Why the history bundle could not be imported (the link itself succeeded). */
  historyError?: string;
}

export type AccountDevices = z.output<typeof DeviceListSchema>;

/** Attempts per outbox item before a 409/410 loop is treated as a failure. */
const MAX_REPAIR_ROUNDS = 4;
/** Outbox retry backoff after a transport failure or a retryable server answer. */
const OUTBOX_RETRY_MS = { initial: 500, max: 30_000 };
/** Renew the bearer token this long before it expires. */
const TOKEN_RENEW_MARGIN_MS = 30_000;
/** The primary re-signs an unchanged device list this often: peers refuse lists older than 30 days. */
const DEVICE_LIST_REFRESH_MS = 7 * 24 * 3600 * 1000;
/** How often a device being linked asks whether the primary has answered. */
const LINK_POLL_MS = 1_000;
/** Chats told of a device change (the most recent; the server takes at most 500 per request). */
const MAX_ANNOUNCED_CHATS = 500;
/** How long the primary waits for an approved device to activate itself. */
const LINK_WAIT_MS = 5 * 60 * 1000;

export class Client {
  readonly account: AccountRecord;
  private readonly api: ApiClient;
  private readonly protocol: ProtocolStore;
  private readonly store: ClientStore;
  private readonly sessions: SessionManager;
  private readonly emitter = new Emitter();
  private connection: InboxConnection | null = null;
  private token: { value: string; expiresAt: number } | null = null;
  private outboxRun: Promise<void> | null = null;
  private outboxTimer: ReturnType<typeof setTimeout> | null = null;
  private outboxBackoff = OUTBOX_RETRY_MS.initial;
  private readonly waiters = new Map<string, { resolve: (ack: SendAckBody) => void; reject: (err: Error) => void }>();
  private drainedOnce: Promise<void>;
  private markDrained!: () => void;
  private closed = false;
  private appState: "foreground" | "background" = "foreground";
  private readonly presence = new Map<string, PresenceSubscription>();

  private constructor(
    private readonly options: ClientOptions,
    account: AccountRecord,
    stores: { protocol: ProtocolStore; client: ClientStore },
    api: ApiClient,
  ) {
    this.account = account;
    this.api = api;
    this.protocol = stores.protocol;
    this.store = stores.client;
    this.sessions = new SessionManager(api, this.protocol, this.store, { accountId: account.account_id, deviceId: account.device_id });
    api.useTokens(this.tokenProvider());
    this.drainedOnce = new Promise((resolve) => (this.markDrained = resolve));
  }

  /** Creates the account and its primary device (keys are generated and stored first). */
  static async register(options: RegisterOptions): Promise<Client> {
    const protocol = new ProtocolStore(options.store);
    const client = new ClientStore(options.store);
    if (await client.getAccount()) throw new Error("this store already holds a registered device");
    const api = new ApiClient(options.server, { fetch: options.fetch });
    const started = await api.startVerification(options.handle);
    const code =
      started.dev_code ??
      (options.verificationCode ? await options.verificationCode({ handle: started.handle, expiresAt: started.expires_at }) : undefined);
    if (!code) throw new Error("a verification code is needed: pass verificationCode()");
    const device = await createDeviceKeys(protocol, client, Date.now());
    const registered = await api.register({
      verification_id: started.verification_id,
      code,
      device,
      ...(options.deviceName ? { device_name: options.deviceName } : {}),
      ...(options.jurisdiction ? { jurisdiction: options.jurisdiction } : {}),
    });
    const account = { account_id: registered.account_id, device_id: registered.device_id, handle: registered.handle, registered_at: Date.now() };
    await client.putAccount(account);
    await client.putHandle(account.account_id, account.handle);
    const instance = new Client(options, account, { protocol, client }, api);
    instance.token = { value: registered.token, expiresAt: registered.token_expires_at };
    return instance;
  }

  /** Opens a device registered earlier with the same store. */
  static async open(options: ClientOptions): Promise<Client> {
    const client = new ClientStore(options.store);
    const account = await client.getAccount();
    if (!account) throw new Error("no registered device in this store: register first");
    return new Client(options, account, { protocol: new ProtocolStore(options.store), client }, new ApiClient(options.server, { fetch: options.fetch }));
  }

  /**
   * Starts linking this (new, empty) store as a companion of an existing account: generates the
   * device's keys, opens a provisioning channel and returns the QR payload. `complete()` then
   * waits for the primary (`approveLink`), checks the signed device list it sent names this
   * device, activates the device with it and imports the history bundle if one came along.
   */
  static async startLink(options: LinkOptions): Promise<PendingLink> {
    const protocol = new ProtocolStore(options.store);
    const store = new ClientStore(options.store);
    if (await store.getAccount()) throw new Error("this store already holds a registered device");
    const api = new ApiClient(options.server, { fetch: options.fetch });
    const device = await createDeviceKeys(protocol, store, Date.now());
    const ephemeral = await provisioningKeyPair();
    const channel = await api.openProvisioning();
    const payload = encodeLinkPayload({
      v: 1,
      c: channel.channel_id,
      k: toBase64(ephemeral.publicKey),
      i: device.identity_key,
      r: device.registration_id,
    });
    const complete = async (opts: { pollMs?: number } = {}): Promise<LinkedDevice> => {
      let envelope = (await api.receiveProvisioning(channel.channel_id, channel.receive_secret)).envelope;
      while (!envelope) {
        if (Date.now() >= channel.expires_at) throw new Error("the link was not approved in time: start again");
        await new Promise((resolve) => setTimeout(resolve, opts.pollMs ?? LINK_POLL_MS));
        envelope = (await api.receiveProvisioning(channel.channel_id, channel.receive_secret)).envelope;
      }
      const plaintext = await openProvisioning(ephemeral, channel.channel_id, fromBase64(envelope.ephemeral_public_key)!, fromBase64(envelope.ciphertext)!);
      let json: unknown = null;
      try {
        json = JSON.parse(new TextDecoder().decode(plaintext));
      } catch {
        // refused below
      }
      const parsed = ProvisioningMessage.safeParse(json);
      if (!parsed.success) throw new CryptoError("MALFORMED", "unreadable provisioning message");
      const message = parsed.data;
      // The list must come from the primary whose key the message names, and name this device.
      const primaryKey = fromBase64(message.primary_identity_key)!;
      const list = await verifyDeviceList(
        { list: fromBase64(message.device_list.list)!, signature: fromBase64(message.device_list.signature)! },
        { accountId: message.account_id, primaryIdentityKey: primaryKey, previous: null, now: Date.now() },
      );
      const mine = list.devices.find((d) => d.deviceId === message.device_id);
      if (!mine || !bytesEqual(mine.identityKey, fromBase64(device.identity_key)!) || mine.registrationId !== device.registration_id) {
        throw new CryptoError("UNTRUSTED_IDENTITY", "the signed device list does not name this device");
      }
      let registered: { account_id: string; device_id: number; handle: string; token: string; token_expires_at: number };
      try {
        registered = await api.linkDevice({
          account_id: message.account_id,
          device_id: message.device_id,
          device_list: message.device_list,
          device,
          ...(options.deviceName ? { device_name: options.deviceName } : {}),
        });
      } catch (err) {
        // A retry after a lost response finds the list already stored: if this device is active,
        // its own identity key gets it a token (the usual challenge), and the link stands.
        if (!(err instanceof ParleyApiError && err.code === "stale_device_list")) throw err;
        const challenge = await api.challenge(message.account_id, message.device_id);
        const signature = await signAuthChallenge(await protocol.getIdentity(), fromBase64(challenge.challenge)!);
        const issued = await api.token({ account_id: message.account_id, device_id: message.device_id, challenge: challenge.challenge, signature: toBase64(signature) }).catch(() => {
          throw err;
        });
        registered = { account_id: message.account_id, device_id: message.device_id, handle: message.handle, token: issued.token, token_expires_at: issued.expires_at };
      }
      const account = { account_id: registered.account_id, device_id: registered.device_id, handle: registered.handle, registered_at: Date.now() };
      await protocol.trustIdentity({ accountId: account.account_id, deviceId: PRIMARY_DEVICE_ID }, primaryKey);
      await store.putDeviceList(account.account_id, message.device_list);
      await store.putKnownDevices(account.account_id, list.devices.map((d) => d.deviceId));
      await store.putAccount(account);
      await store.putHandle(account.account_id, account.handle);
      const client = new Client(options, account, { protocol, client: store }, api);
      client.token = { value: registered.token, expiresAt: registered.token_expires_at };
      if (!message.history) return { client, history: null };
      try {
        return { client, history: await client.importHistory(message.history) };
      } catch (err) {
        return { client, history: null, historyError: err instanceof Error ? err.message : String(err) };
      }
    };
    return { payload, expiresAt: channel.expires_at, complete };
  }

  on<K extends ClientEventType>(type: K, listener: (event: ClientEventOf<K>) => void): () => void {
    return this.emitter.on(type, listener);
  }

  private emit(event: ClientEvent): void {
    this.emitter.emit(event);
  }

  // ---- authentication ------------------------------------------------------------------------

  private tokenProvider(): TokenProvider {
    return {
      token: async () => {
        if (this.token && this.token.expiresAt - TOKEN_RENEW_MARGIN_MS > Date.now()) return this.token.value;
        const { account_id, device_id } = this.account;
        const challenge = await this.api.challenge(account_id, device_id);
        const signature = await signAuthChallenge(await this.protocol.getIdentity(), fromBase64(challenge.challenge)!);
        const issued = await this.api.token({ account_id, device_id, challenge: challenge.challenge, signature: toBase64(signature) });
        this.token = { value: issued.token, expiresAt: issued.expires_at };
        return issued.token;
      },
      invalidate: () => {
        this.token = null;
      },
    };
  }

  // ---- connection and receiving ----------------------------------------------------------------

  /** Opens the inbox socket (reconnecting by itself), flushes the outbox and tops up prekeys. */
  connect(): void {
    if (this.connection) return;
    const WebSocketImpl = this.webSocketImpl();
    const provider = this.tokenProvider();
    this.connection = new InboxConnection({
      WebSocket: WebSocketImpl,
      url: async (cursor) => this.api.socketUrl(await provider.token(), cursor),
      cursor: () => this.store.getCursor(),
      onEntries: (entries) => this.receive(entries),
      onOpen: (send) => send({ type: "app_state", state: this.appState }),
      onQueueEmpty: () => {
        this.markDrained();
        this.emit({ type: "queue_empty" });
      },
      onStateChange: (state) => this.emit({ type: "connection", state }),
      onTerminated: (reason) =>
        this.emit({ type: "error", code: "terminated", reason, message: reason === "replaced" ? "another connection of this device took over" : "this device was removed" }),
      onError: (error) => this.emit({ type: "error", code: "connection", message: error.message }),
    });
    this.connection.start();
    this.kickOutbox();
    void this.replenishPrekeys().catch((err) => this.emit({ type: "error", code: "connection", message: `prekey top-up failed: ${String(err)}` }));
    void this.refreshDeviceList().catch((err) => this.emit({ type: "error", code: "connection", message: `device list refresh failed: ${String(err)}` }));
  }

  /** Resolves once the backlog that was waiting at connect time has been received and processed. */
  async drained(): Promise<void> {
    await this.drainedOnce;
    await this.connection?.idle();
  }

  /** Processes one batch of inbox entries in order; resolves when all are persisted. */
  private async receive(entries: InboxEntryBody[]): Promise<void> {
    for (const entry of entries) {
      switch (entry.kind) {
        case "message":
          await this.receiveMessage(entry);
          break;
        case "receipt":
          this.emit({ type: "receipt", chat_id: entry.chat_id, status: entry.status, reader: entry.reader, up_to_seq: entry.up_to_seq, msg_ids: entry.msg_ids });
          break;
        case "gap":
          this.emit({ type: "gap", chat_id: entry.chat_id, sender: entry.sender, count: entry.count, reason: entry.reason });
          break;
        case "group_event":
          await this.receiveGroupEvent(entry);
          break;
      }
    }
    await this.store.putCursor(entries[entries.length - 1]!.seq);
  }

  private async receiveMessage(entry: Extract<InboxEntryBody, { kind: "message" }>): Promise<void> {
    const from = entry.sender;
    const senderKey = `${from.account_id}.${from.device_id}:${entry.msg_id}`;
    if (await this.store.wasSeen(entry.chat_id, entry.chat_seq, senderKey)) return;
    const address = { accountId: from.account_id, deviceId: from.device_id };
    const context = { chat_id: entry.chat_id, msg_id: entry.msg_id, from };
    let plaintext: Uint8Array;
    try {
      if (entry.type === "sender_key") {
        // The sender's key rides along when this device did not have it (pairwise-encrypted).
        if (entry.distribution) {
          const distribution = await decryptMessage(this.protocol, address, fromBase64(entry.distribution.content) ?? new Uint8Array(0));
          await processSenderKeyDistribution(this.protocol, address, distribution);
        }
        plaintext = await groupDecrypt(this.protocol, address, fromBase64(entry.content) ?? new Uint8Array(0));
      } else {
        plaintext = await decryptMessage(this.protocol, address, fromBase64(entry.content) ?? new Uint8Array(0));
      }
    } catch (err) {
      if (!(err instanceof CryptoError)) throw err;
      // Never silent: the app hears about it, and a broken session is replaced on the next exchange.
      if (err.needsSessionReset) await resetSession(this.protocol, address);
      await this.store.markSeen(entry.chat_id, entry.chat_seq, senderKey);
      this.emit({ type: "error", code: "undecryptable", message: `${err.code}: ${err.message}`, ...context });
      return;
    }
    await this.sessions.learnDevice(address);
    const payload = decodePayload(plaintext);
    if (!payload) {
      await this.store.markSeen(entry.chat_id, entry.chat_seq, senderKey);
      this.emit({ type: "error", code: "unreadable_payload", message: "a message this client version cannot read", ...context });
      return;
    }
    const outgoing = from.account_id === this.account.account_id;
    // A group's messages are filed under the group; a 1:1 message under the other account.
    const peer = isGroupChat(entry.chat_id) ? entry.chat_id : outgoing ? payload.to : from.account_id;
    const text = payload.kind === "text" ? payload.text : (payload.caption ?? "");
    const file = payload.kind === "file" ? payload.file : undefined;
    if (file) await this.store.putFile(entry.msg_id, file);
    const shown = file ? `[file${file.name ? ` ${file.name}` : ""}]${text ? ` ${text}` : ""}` : text;
    await this.updateChat(entry.chat_id, peer, {
      msg_id: entry.msg_id,
      from_account: from.account_id,
      text: shown,
      chat_seq: entry.chat_seq,
      at: entry.server_ts,
      outgoing,
    });
    await this.store.addHistory(entry.chat_id, [
      { msg_id: entry.msg_id, chat_seq: entry.chat_seq, from_account: from.account_id, from_device: from.device_id, text: shown, at: entry.server_ts, outgoing },
    ]);
    await this.store.markSeen(entry.chat_id, entry.chat_seq, senderKey);
    this.emit({
      type: "message",
      chat_id: entry.chat_id,
      chat_seq: entry.chat_seq,
      msg_id: entry.msg_id,
      from,
      peer,
      text,
      ...(file ? { file } : {}),
      sent_at: payload.sent_at,
      server_ts: entry.server_ts,
      outgoing,
    });
  }

  /**
   * Applies a membership event to what this device knows of the group. When someone leaves or is
   * removed, this device's sender key for the group is rotated at once: the next message carries
   * the new key to the remaining devices only, so the one who left cannot read what follows.
   */
  private async receiveGroupEvent(entry: Extract<InboxEntryBody, { kind: "group_event" }>): Promise<void> {
    const key = `event:${entry.chat_seq}`;
    if (await this.store.wasSeen(entry.chat_id, entry.chat_seq, key)) return;
    const record = (await this.store.getGroup(entry.chat_id)) ?? { members: [], left: false };
    const members = new Set(record.members);
    const event = entry.event;
    let gone: string | null = null;
    switch (event.type) {
      case "created":
        members.clear();
        for (const m of event.members) members.add(m.account_id);
        break;
      case "members_added":
        for (const a of event.account_ids) members.add(a);
        break;
      case "member_removed":
      case "member_left":
        gone = event.account_id;
        members.delete(event.account_id);
        break;
      default:
        break;
    }
    const left = gone === this.account.account_id || (record.left && event.type !== "members_added");
    await this.store.putGroup(entry.chat_id, { members: [...members], left: left && !members.has(this.account.account_id) });
    if (gone && gone !== this.account.account_id) {
      await rotateSenderKey(this.protocol, this.self(), groupDistributionId(entry.chat_id));
      await this.store.putSenderKeyHolders(entry.chat_id, []);
    }
    await this.store.markSeen(entry.chat_id, entry.chat_seq, key);
    this.emit({ type: "group", chat_id: entry.chat_id, chat_seq: entry.chat_seq, actor: entry.actor, event });
  }

  private self() {
    return { accountId: this.account.account_id, deviceId: this.account.device_id };
  }

  // ---- groups ----------------------------------------------------------------------------------

  /** Creates a group with members (handles or account ids); this account becomes its admin. */
  async createGroup(name: string, members: string[], options: { description?: string; whoCanAdd?: "admins" | "members" } = {}): Promise<GroupInfoBody> {
    const ids = [];
    for (const m of members) ids.push(await this.resolve(m));
    const info = await this.api.createGroup({
      name,
      members: ids,
      ...(options.description ? { description: options.description } : {}),
      ...(options.whoCanAdd ? { who_can_add: options.whoCanAdd } : {}),
    });
    return this.rememberGroup(info);
  }

  /** The group as the server has it now (members and roles); also refreshes this device's copy. */
  async groupInfo(chatId: string): Promise<GroupInfoBody> {
    return this.rememberGroup(await this.api.groupInfo(chatId));
  }

  /** Whether this device knows itself to be a member of the group (false after leaving or removal). */
  async inGroup(chatId: string): Promise<boolean> {
    const record = await this.store.getGroup(chatId);
    return record !== undefined && !record.left;
  }

  /** The groups this account is a member of. */
  async groups() {
    return (await this.api.groups()).groups;
  }

  async addToGroup(chatId: string, members: string[]): Promise<GroupInfoBody> {
    const ids = [];
    for (const m of members) ids.push(await this.resolve(m));
    return this.rememberGroup(await this.api.addGroupMembers(chatId, { account_ids: ids }));
  }

  async removeFromGroup(chatId: string, member: string): Promise<GroupInfoBody> {
    return this.rememberGroup(await this.api.removeGroupMember(chatId, await this.resolve(member)));
  }

  async leaveGroup(chatId: string): Promise<void> {
    await this.api.leaveGroup(chatId);
    await this.store.putGroup(chatId, { members: [], left: true });
  }

  async setGroupRole(chatId: string, member: string, role: "admin" | "member"): Promise<GroupInfoBody> {
    return this.rememberGroup(await this.api.setGroupRole(chatId, await this.resolve(member), role));
  }

  private async rememberGroup(info: GroupInfoBody): Promise<GroupInfoBody> {
    const members = info.members.map((m) => m.account_id);
    await this.store.putGroup(info.chat_id, { members, left: !members.includes(this.account.account_id) });
    return info;
  }

  /**
   * Sends a text to a group: persisted in the outbox first, encrypted once with this device's
   * sender key per attempt; resolves with the server's ack (the "sent" receipt).
   */
  async sendGroup(chatId: string, text: string, options: SendOptions = {}): Promise<SendAckBody> {
    return this.enqueue(messageId(options), chatId, { v: 1, kind: "text", text, sent_at: Date.now(), to: chatId });
  }

  /**
   * One group send: the devices known to hold this device's current sender key are named as
   * holders, every other member device gets the key as a pairwise distribution with the message.
   * A 409/410 repairs sessions and re-reads the member list before the next round.
   */
  private async deliverGroup(item: OutboxItem): Promise<SendAckBody> {
    const chatId = item.to;
    const plaintext = fromBase64(item.payload)!;
    const distributionId = groupDistributionId(chatId);
    for (let round = 0; ; round++) {
      const record = round === 0 ? await this.store.getGroup(chatId) : undefined;
      const members = record && !record.left && record.members.length > 0 ? record.members : (await this.groupInfo(chatId)).members.map((m) => m.account_id);
      const targets = await this.sessions.groupTargets(members);
      const held = new Set(await this.store.getSenderKeyHolders(chatId));
      const holders = targets.filter((t) => held.has(`${t.accountId}.${t.deviceId}`));
      const needing = targets.filter((t) => !held.has(`${t.accountId}.${t.deviceId}`));
      const distribution = await senderKeyDistribution(this.protocol, this.self(), distributionId);
      const distributions = await this.sessions.encryptFor(needing, distribution);
      const content = await groupEncrypt(this.protocol, this.self(), distributionId, plaintext);
      try {
        const ack = await this.api.sendGroup(chatId, {
          msg_id: item.msg_id,
          content: toBase64(content),
          key_holders: await this.sessions.registered(holders),
          distributions,
          ...(item.media_ids ? { media_ids: item.media_ids } : {}),
        });
        await this.store.putSenderKeyHolders(chatId, targets.map((t) => `${t.accountId}.${t.deviceId}`));
        return ack;
      } catch (err) {
        const fixable = err instanceof ParleyApiError && (err.code === "device_mismatch" || err.code === "stale_devices");
        if (!fixable || round + 1 >= MAX_REPAIR_ROUNDS) throw err;
        const correction = err.details as Parameters<SessionManager["repair"]>[0];
        // Devices that are new, re-registered or gone no longer count as holding the key.
        const changed = new Set([...(correction.missing ?? []), ...(correction.stale ?? []), ...(correction.extra ?? [])].map((d) => `${d.account_id}.${d.device_id}`));
        const extra = (correction.extra ?? []).map((d) => `${d.account_id}.${d.device_id}`);
        if (extra.some((d) => held.has(d))) {
          // A device that holds our key is no longer a recipient (a removal we have not seen yet): rotate.
          await rotateSenderKey(this.protocol, this.self(), distributionId);
          await this.store.putSenderKeyHolders(chatId, []);
        } else {
          await this.store.putSenderKeyHolders(chatId, [...held].filter((h) => !changed.has(h)));
        }
        await this.sessions.repair(correction);
      }
    }
  }

  private async updateChat(chatId: string, peer: string, last: NonNullable<ChatSummary["last"]>): Promise<void> {
    const chats = await this.store.getChats();
    const chat = chats[chatId] ?? { chat_id: chatId, peer_account: peer, last_seq: 0, read_up_to: 0, unread: 0, last: null };
    if (last.chat_seq > chat.last_seq) {
      chat.last_seq = last.chat_seq;
      chat.last = last;
    }
    if (!last.outgoing && last.chat_seq > chat.read_up_to) chat.unread++;
    chats[chatId] = chat;
    await this.store.putChats(chats);
  }

  private async replenishPrekeys(): Promise<void> {
    const counts = await this.api.prekeyCount();
    const oneTime = counts.one_time_prekeys < PREKEY_LOW_WATER;
    const pq = counts.pq_one_time_prekeys < PREKEY_LOW_WATER;
    if (!oneTime && !pq) return;
    await this.api.uploadPrekeys(await createPrekeyBatch(this.protocol, this.store, Date.now(), { oneTime, pq }));
  }

  // ---- sending ---------------------------------------------------------------------------------

  /** Resolves a handle (or passes an account id through) to an account id. */
  async resolve(handleOrAccount: string): Promise<string> {
    if (/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(handleOrAccount)) return handleOrAccount;
    const cached = await this.store.getAccountByHandle(handleOrAccount);
    if (cached) return cached;
    const found = await this.api.lookupHandle(handleOrAccount);
    await this.store.putHandle(found.account_id, found.handle);
    return found.account_id;
  }

  /** The handle of an account (cached). */
  async handleOf(accountId: string): Promise<string> {
    const cached = await this.store.getHandle(accountId);
    if (cached) return cached;
    const found = await this.api.account(accountId);
    await this.store.putHandle(accountId, found.handle);
    return found.handle;
  }

  /**
   * Sends a text to an account (by handle or id). The message is in the persisted outbox before
   * this returns its promise; the promise resolves with the server's ack (the "sent" receipt).
   */
  async send(to: string, text: string, options: SendOptions = {}): Promise<SendAckBody> {
    const msgId = messageId(options);
    const accountId = await this.resolve(to);
    return this.enqueue(msgId, accountId, { v: 1, kind: "text", text, sent_at: Date.now(), to: accountId });
  }

  /**
   * Sends a file to an account or a group chat: encrypts it with a fresh key while uploading
   * (streaming; memory bounded by one upload part), then sends the key, digest and metadata (and an
   * optional small thumbnail) inside an end-to-end-encrypted message through the outbox. Resolves
   * with the ack and the attachment.
   */
  async sendFile(to: string, source: FileSource, options: UploadOptions & SendOptions & { caption?: string }): Promise<{ ack: SendAckBody; file: FileAttachment }> {
    const msgId = messageId(options);
    // A group chat id sends to the group (through the outbox's group path), anything else to an account.
    const accountId = isGroupChat(to) ? to : await this.resolve(to);
    if (!isRereadable(source)) return this.sendUploaded(msgId, accountId, await uploadFile(this.api, source, options), options.caption);
    // Saved while it runs: a new Client on this store can finish it (resumeUpload) if this process dies.
    const { file, upload } = await uploadResumable(this.api, this.store, source, options, { msg_id: msgId, to: accountId, ...(options.caption ? { caption: options.caption } : {}) });
    return this.sendUploaded(msgId, accountId, file, options.caption, upload.media_id);
  }

  /**
   * The file message for an uploaded attachment. A saved upload is dropped once the send settles
   * (a resume before that sends the same msg_id again, which the server acknowledges as a duplicate).
   */
  private async sendUploaded(msgId: string, accountId: string, file: FileAttachment, caption: string | undefined, savedUpload?: string): Promise<{ ack: SendAckBody; file: FileAttachment }> {
    await this.store.putFile(msgId, file);
    const payload: MessagePayloadBody = { v: 1, kind: "file", file, sent_at: Date.now(), to: accountId, ...(caption ? { caption } : {}) };
    const acked = this.enqueue(msgId, accountId, payload, [file.media_id]);
    if (savedUpload) await acked.finally(() => this.store.deleteUpload(savedUpload)).catch(() => undefined);
    return { ack: await acked, file };
  }

  /** File uploads started on this store (by this or an earlier process) and not finished. */
  async pendingUploads(): Promise<PendingUpload[]> {
    return this.store.getUploads();
  }

  /**
   * Finishes an upload an earlier process started (see pendingUploads) from the same file, sending
   * only the parts the server lacks, then sends its file message as first intended.
   */
  async resumeUpload(mediaId: string, source: Uint8Array | Blob, options: Pick<UploadOptions, "onProgress"> = {}): Promise<{ ack: SendAckBody; file: FileAttachment }> {
    const upload = await this.store.getUpload(mediaId);
    if (!upload) throw new Error(`no saved upload ${mediaId} on this device`);
    const file = await resumeSavedUpload(this.api, this.store, upload, source, options.onProgress);
    return this.sendUploaded(upload.message.msg_id, upload.message.to, file, upload.message.caption, upload.media_id);
  }

  /** Resumes every saved upload whose file `open` can give again (undefined: leave it for later). */
  async resumeUploads(open: (upload: PendingUpload) => Promise<Uint8Array | Blob | undefined>): Promise<{ ack: SendAckBody; file: FileAttachment }[]> {
    const done: { ack: SendAckBody; file: FileAttachment }[] = [];
    for (const upload of await this.store.getUploads()) {
      const source = await open(upload);
      if (source) done.push(await this.resumeUpload(upload.media_id, source));
    }
    return done;
  }

  /** The attachment of a file message this device sent or received. */
  async fileOf(msgId: string): Promise<FileAttachment | undefined> {
    return this.store.getFile(msgId);
  }

  /**
   * Downloads and decrypts a file (an attachment, or the msg_id of a file message), streaming:
   * every chunk is authenticated before it is yielded, and the whole-file digest is checked at
   * the end. Throws CryptoError MEDIA_CORRUPT for a tampered, truncated or swapped blob; treat
   * what was yielded as provisional until the iteration completes.
   */
  async *downloadFile(fileOrMsgId: FileAttachment | string): AsyncGenerator<Uint8Array> {
    yield* downloadFile(this.api, await this.attachment(fileOrMsgId));
  }

  /** Plaintext bytes [start, end) of a file, fetched with an HTTP Range and authenticated per chunk. */
  async downloadFileRange(fileOrMsgId: FileAttachment | string, start: number, end: number): Promise<Uint8Array> {
    return downloadFileRange(this.api, await this.attachment(fileOrMsgId), start, end);
  }

  private async attachment(fileOrMsgId: FileAttachment | string): Promise<FileAttachment> {
    if (typeof fileOrMsgId !== "string") return fileOrMsgId;
    const file = await this.store.getFile(fileOrMsgId);
    if (!file) throw new Error(`no file message ${fileOrMsgId} on this device`);
    return file;
  }

  private async enqueue(msgId: string, accountId: string, payload: MessagePayloadBody, mediaIds?: string[]): Promise<SendAckBody> {
    const item: OutboxItem = {
      msg_id: msgId,
      to: accountId,
      payload: toBase64(encodePayload(payload)),
      created_at: Date.now(),
      attempts: 0,
      ...(mediaIds ? { media_ids: mediaIds } : {}),
    };
    const acked = new Promise<SendAckBody>((resolve, reject) => this.waiters.set(item.msg_id, { resolve, reject }));
    const outbox = await this.store.getOutbox();
    outbox.push(item);
    await this.store.putOutbox(outbox);
    this.kickOutbox();
    return acked;
  }

  /** Messages waiting for the server's ack (persisted; retried on the next connect). */
  async pending(): Promise<OutboxItem[]> {
    return this.store.getOutbox();
  }

  /** Runs the outbox now; resolves when it is empty or waiting for a retry. */
  flushOutbox(): Promise<void> {
    this.outboxRun ??= this.runOutbox().finally(() => (this.outboxRun = null));
    return this.outboxRun;
  }

  private kickOutbox(): void {
    if (this.outboxTimer) {
      clearTimeout(this.outboxTimer);
      this.outboxTimer = null;
    }
    void this.flushOutbox();
  }

  /** One item at a time, in order: messages reach a chat in the order the user sent them. */
  private async runOutbox(): Promise<void> {
    while (!this.closed) {
      const [item] = await this.store.getOutbox();
      if (!item) return;
      try {
        const ack = await this.deliver(item);
        await this.recordSent(item, ack);
        await this.finishItem(item.msg_id);
        this.outboxBackoff = OUTBOX_RETRY_MS.initial;
        this.emit({ type: "sent", msg_id: ack.msg_id, chat_id: ack.chat_id, chat_seq: ack.chat_seq, server_ts: ack.server_ts, to: item.to });
        this.waiters.get(item.msg_id)?.resolve(ack);
        this.waiters.delete(item.msg_id);
      } catch (err) {
        if (isRetryable(err)) {
          // Keep it (same msg_id) and try again later.
          this.emit({ type: "outbox", msg_id: item.msg_id, state: "retrying", message: err instanceof Error ? err.message : String(err) });
          this.outboxTimer = setTimeout(() => this.kickOutbox(), this.outboxBackoff);
          this.outboxBackoff = Math.min(OUTBOX_RETRY_MS.max, this.outboxBackoff * 2);
          return;
        }
        await this.finishItem(item.msg_id);
        const error = err instanceof Error ? err : new Error(String(err));
        this.emit({ type: "error", code: "send_failed", message: error.message, msg_id: item.msg_id });
        this.waiters.get(item.msg_id)?.reject(error);
        this.waiters.delete(item.msg_id);
      }
    }
  }

  /** This device's own message, acked: into its chat list and history (other devices get a copy). */
  private async recordSent(item: OutboxItem, ack: SendAckBody): Promise<void> {
    const payload = decodePayload(fromBase64(item.payload)!);
    if (!payload) return;
    const text =
      payload.kind === "text" ? payload.text : `[file${payload.file.name ? ` ${payload.file.name}` : ""}]${payload.caption ? ` ${payload.caption}` : ""}`;
    const { account_id, device_id } = this.account;
    await this.updateChat(ack.chat_id, item.to, { msg_id: item.msg_id, from_account: account_id, text, chat_seq: ack.chat_seq, at: ack.server_ts, outgoing: true });
    await this.store.addHistory(ack.chat_id, [
      { msg_id: item.msg_id, chat_seq: ack.chat_seq, from_account: account_id, from_device: device_id, text, at: ack.server_ts, outgoing: true },
    ]);
  }

  private async finishItem(msgId: string): Promise<void> {
    await this.store.putOutbox((await this.store.getOutbox()).filter((i) => i.msg_id !== msgId));
  }

  private async deliver(item: OutboxItem): Promise<SendAckBody> {
    if (isGroupChat(item.to)) return this.deliverGroup(item);
    const plaintext = fromBase64(item.payload)!;
    for (let round = 0; ; round++) {
      const targets = await this.sessions.recipients(item.to);
      const envelopes = await this.sessions.encryptFor(targets, plaintext);
      try {
        return await this.api.send({ to: item.to, msg_id: item.msg_id, envelopes, ...(item.media_ids ? { media_ids: item.media_ids } : {}) });
      } catch (err) {
        const fixable = err instanceof ParleyApiError && (err.code === "device_mismatch" || err.code === "stale_devices");
        if (!fixable || round + 1 >= MAX_REPAIR_ROUNDS) throw err;
        await this.sessions.repair(err.details as Parameters<SessionManager["repair"]>[0]);
      }
    }
  }

  // ---- receipts and chats -----------------------------------------------------------------------

  /** Marks a chat read up to a seq (default: the newest message received) and tells the senders. */
  async markRead(chatId: string, upToSeq?: number): Promise<number> {
    const chats = await this.store.getChats();
    const chat = chats[chatId];
    const seq = upToSeq ?? chat?.last_seq ?? 0;
    if (seq < 1) throw new Error("nothing to mark read in this chat");
    await this.api.markRead(chatId, seq);
    if (chat) {
      chat.read_up_to = Math.max(chat.read_up_to, seq);
      chat.unread = 0;
      await this.store.putChats(chats);
    }
    return seq;
  }

  /** Chats this device has seen, newest first, with their last message. */
  async chats(): Promise<ChatSummary[]> {
    return Object.values(await this.store.getChats()).sort((a, b) => (b.last?.at ?? 0) - (a.last?.at ?? 0));
  }

  /** The recent messages of a chat this device holds (received, sent, or imported at link time), oldest first. */
  async history(chatId: string): Promise<HistoryMessage[]> {
    return this.store.getHistory(chatId);
  }

  // ---- linked devices -------------------------------------------------------------------------------

  /** This account's active devices, its signed list and recent removals (with why). */
  devices(): Promise<AccountDevices> {
    return this.api.devices();
  }

  private requirePrimary(what: string): void {
    if (this.account.device_id !== PRIMARY_DEVICE_ID) throw new Error(`only the primary device can ${what}`);
  }

  /**
   * On the primary: approves a device showing `payload` (its QR code). Signs a new device list
   * naming it, optionally uploads the last `historyMessages` messages of each chat as an
   * encrypted bundle, and seals all of it to the new device through its provisioning channel.
   * The server activates the device when it presents the signed list (Client.startLink); unless
   * `wait` is false this resolves once it has, and this device addresses it from then on.
   */
  async approveLink(payload: string, options: { historyMessages?: number; wait?: boolean; waitMs?: number } = {}): Promise<{ device_id: number }> {
    this.requirePrimary("link devices");
    const link = decodeLinkPayload(payload);
    const identity = await this.protocol.getIdentity();
    const mine = await this.api.devices();
    const deviceId = mine.next_device_id ?? Math.max(...mine.devices.map((d) => d.device_id)) + 1;
    const signed = await nextDeviceList(
      identity.identity,
      this.account.account_id,
      mine.device_list,
      [...mine.devices, { device_id: deviceId, identity_key: link.i, registration_id: link.r }],
      Date.now(),
    );
    let history: FileAttachment | undefined;
    if (options.historyMessages && options.historyMessages > 0) {
      const chats = await this.chats();
      const histories = new Map(await Promise.all(chats.map(async (c) => [c.chat_id, await this.store.getHistory(c.chat_id)] as const)));
      const bundle = new TextEncoder().encode(JSON.stringify(buildHistoryBundle(chats, histories, options.historyMessages)));
      history = await uploadFile(this.api, bundle, { mime: HISTORY_BUNDLE_MIME, name: "history.json", contentClass: "other" });
    }
    const message: ProvisioningMessage = {
      v: 1,
      account_id: this.account.account_id,
      handle: this.account.handle,
      device_id: deviceId,
      primary_identity_key: toBase64(identity.identity.publicKey),
      device_list: signed,
      ...(history ? { history } : {}),
    };
    const sealed = await sealProvisioning(fromBase64(link.k)!, link.c, new TextEncoder().encode(JSON.stringify(message)));
    await this.api.deliverProvisioning(link.c, { ephemeral_public_key: toBase64(sealed.ephemeralPublic), ciphertext: toBase64(sealed.ciphertext) });
    if (options.wait === false) return { device_id: deviceId };
    // Until the new device has activated itself, then address it from here on (outbox sync).
    const deadline = Date.now() + (options.waitMs ?? LINK_WAIT_MS);
    for (;;) {
      const now = await this.api.devices();
      if (now.devices.some((d) => d.device_id === deviceId)) {
        await this.sessions.trust.accept(this.account.account_id, now.device_list, undefined, Date.now());
        await this.sessions.learnDevice({ accountId: this.account.account_id, deviceId });
        await this.announceDeviceChange();
        return { device_id: deviceId };
      }
      if (Date.now() >= deadline) throw new Error(`device ${deviceId} did not complete the link in time`);
      await new Promise((resolve) => setTimeout(resolve, LINK_POLL_MS));
    }
  }

  /**
   * Removes a device. On the primary: signs and publishes a list without it (its tokens stop
   * working, its inbox and push token are deleted, peers drop their sessions with it). On a
   * companion, only itself: a log out (the store should be discarded afterwards).
   */
  async unlink(deviceId: number): Promise<void> {
    if (this.account.device_id !== PRIMARY_DEVICE_ID) {
      if (deviceId !== this.account.device_id) throw new Error("a linked device can only unlink itself; use the primary for others");
      await this.api.removeDevice(deviceId);
      await this.close();
      return;
    }
    if (deviceId === PRIMARY_DEVICE_ID) throw new Error("the primary device cannot be unlinked");
    const mine = await this.api.devices();
    if (!mine.devices.some((d) => d.device_id === deviceId)) throw new Error(`no active device ${deviceId}`);
    await this.publishDevices(mine, mine.devices.filter((d) => d.device_id !== deviceId));
  }

  private async publishDevices(mine: AccountDevices, devices: AccountDevices["devices"]): Promise<void> {
    const signed = await nextDeviceList((await this.protocol.getIdentity()).identity, this.account.account_id, mine.device_list, devices, Date.now());
    await this.api.publishDeviceList(signed);
    await this.sessions.trust.adopt(this.account.account_id, signed);
    await this.announceDeviceChange();
  }

  /** Lets this account's chats re-read its devices now rather than within their cache minute. */
  private async announceDeviceChange(): Promise<void> {
    const chatIds = (await this.chats()).slice(0, MAX_ANNOUNCED_CHATS).map((c) => c.chat_id);
    if (chatIds.length > 0) await this.api.devicesChanged(chatIds);
  }

  /** On the primary: re-signs an unchanged list before peers would find it too old. */
  private async refreshDeviceList(): Promise<void> {
    if (this.account.device_id !== PRIMARY_DEVICE_ID) return;
    const mine = await this.api.devices();
    if (!mine.device_list) return;
    const current = decodeDeviceList(fromBase64(mine.device_list.list)!);
    // Also when the server removed a device on its own (log out, inactivity): the list catches up.
    const stillAccurate = current.devices.every((d) => mine.devices.some((a) => a.device_id === d.deviceId));
    if (stillAccurate && current.timestamp > Date.now() - DEVICE_LIST_REFRESH_MS) return;
    await this.publishDevices(mine, mine.devices);
    for (const gone of current.devices.filter((d) => !mine.devices.some((a) => a.device_id === d.deviceId))) {
      const removal = mine.removed_devices?.find((r) => r.device_id === gone.deviceId);
      this.emit({
        type: "device_removed",
        device_id: gone.deviceId,
        name: removal?.name ?? null,
        reason: removal?.reason ?? null,
        removed_at: removal?.removed_at ?? Date.now(),
      });
    }
  }

  /** Imports a history bundle (downloaded and verified through the media path). */
  private async importHistory(file: FileAttachment): Promise<{ chats: number; messages: number }> {
    const parts: Uint8Array[] = [];
    for await (const chunk of downloadFile(this.api, file)) parts.push(chunk);
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.length;
      // downloadFile's plaintext chunks, handed to this loop alone: copied, so done with.
      releaseBuffer(p);
    }
    const bundle = HistoryBundle.parse(JSON.parse(new TextDecoder().decode(bytes)));
    const chats = await this.store.getChats();
    let messages = 0;
    for (const chat of bundle.chats) {
      await this.store.addHistory(chat.chat_id, chat.messages);
      messages += chat.messages.length;
      const last = chat.messages[chat.messages.length - 1];
      if (!last) continue;
      const summary = chats[chat.chat_id] ?? { chat_id: chat.chat_id, peer_account: chat.peer_account, last_seq: 0, read_up_to: 0, unread: 0, last: null };
      if (last.chat_seq > summary.last_seq) {
        summary.last_seq = last.chat_seq;
        summary.read_up_to = Math.max(summary.read_up_to, last.chat_seq);
        summary.last = { msg_id: last.msg_id, from_account: last.from_account, text: last.text, chat_seq: last.chat_seq, at: last.at, outgoing: last.outgoing };
      }
      chats[chat.chat_id] = summary;
    }
    await this.store.putChats(chats);
    return { chats: bundle.chats.length, messages };
  }

  // ---- presence and typing -------------------------------------------------------------------------

  /**
   * Tells the server whether the app is in the foreground: this device counts as online only then
   * (and while its socket is alive). Sent again on every reconnect.
   */
  setAppState(state: "foreground" | "background"): void {
    this.appState = state;
    this.connection?.send({ type: "app_state", state });
  }

  /**
   * Watches a chat while it is open: `presence` events for its members, `typing` events. Resolves
   * when subscribed; call the returned function to stop.
   */
  async subscribePresence(chatId: string): Promise<() => void> {
    let subscription = this.presence.get(chatId);
    if (!subscription) {
      const provider = this.tokenProvider();
      subscription = new PresenceSubscription(chatId, {
        WebSocket: this.webSocketImpl(),
        url: async () => this.api.presenceSocketUrl(await provider.token(), chatId),
        emit: (event) => this.emit(event),
      });
      this.presence.set(chatId, subscription);
    }
    await subscription.ready();
    return () => {
      subscription.close();
      this.presence.delete(chatId);
    };
  }

  /** Sends this device's typing state to a chat (subscribing to it if needed). */
  async setTyping(chatId: string, state: "typing" | "recording" | "stopped" = "typing"): Promise<void> {
    if (!this.presence.has(chatId)) await this.subscribePresence(chatId);
    if (!this.presence.get(chatId)!.setTyping(state)) throw new TransportError("the chat's presence socket is not connected");
  }

  /** An account's online status and last seen (null where privacy hides them). */
  async presenceOf(handleOrAccount: string) {
    return this.api.presence(await this.resolve(handleOrAccount));
  }

  privacy() {
    return this.api.privacy();
  }

  setPrivacy(update: { last_seen?: "everyone" | "contacts" | "nobody"; online?: "everyone" | "contacts" | "nobody" }) {
    return this.api.setPrivacy(update);
  }

  // ---- push and identity -----------------------------------------------------------------------------

  /** The server's VAPID public key (base64url) for `pushManager.subscribe`; null when Web Push is off. */
  async webPushKey(): Promise<string | null> {
    try {
      return (await this.api.webPushKey()).vapid_public_key;
    } catch (err) {
      if (err instanceof ParleyApiError && err.code === "not_found") return null;
      throw err;
    }
  }

  /** Registers (or replaces) this device's push target: a browser's `PushSubscription.toJSON()`, or an APNs/FCM token. */
  async registerPush(registration: PushTokenInputBody): Promise<void> {
    await this.api.putPushToken(registration);
  }

  /**
   * The safety number with an account, from this device's identity key and the key pinned for
   * the peer's primary device (trust on first use). Null before any session with the peer exists.
   */
  async safetyNumberWith(handleOrAccount: string): Promise<SafetyNumber | null> {
    const accountId = await this.resolve(handleOrAccount);
    const theirs = await this.protocol.getTrustedIdentity({ accountId, deviceId: PRIMARY_DEVICE_ID });
    if (!theirs) return null;
    const ours = await this.protocol.getIdentity();
    return safetyNumber({ accountId: this.account.account_id, identityKey: ours.identity.publicKey }, { accountId, identityKey: theirs });
  }

  private webSocketImpl(): WebSocketConstructor {
    const impl = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!impl) throw new Error("no WebSocket implementation: pass options.WebSocket");
    return impl;
  }

  /** Stops the socket and outbox timers; pending processing finishes first. */
  async close(): Promise<void> {
    this.closed = true;
    for (const subscription of this.presence.values()) subscription.close();
    this.presence.clear();
    if (this.outboxTimer) clearTimeout(this.outboxTimer);
    await this.connection?.stop();
    this.connection = null;
    await this.outboxRun;
  }
}

function isRetryable(err: unknown): boolean {
  return err instanceof TransportError || (err instanceof ParleyApiError && err.retryable);
}

/** A group's sender-key distribution id: the 16 random bytes of its chat id (g_ + 32 hex digits). */
function groupDistributionId(chatId: string): Uint8Array {
  const hex = chatId.slice(2);
  return Uint8Array.from({ length: 16 }, (_, i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16));
}
