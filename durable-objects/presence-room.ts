/**
 * PresenceRoom: ephemeral presence and typing. One class, two kinds of object, told apart by name:
 *
 * - "a:<account_id>", an account's status: which of its devices are online (a live inbox socket
 *   with the app in the foreground, reported by the DeviceInbox), its coarse last-seen time, and
 *   which chat rooms watch it. Written only when the status changes (a device comes or goes, the
 *   account goes offline), never per heartbeat.
 * - "c:<chat_id>", the people viewing a chat: their hibernated WebSockets, the members' online
 *   status pushed to them as it changes (the room watches each member's account object while it
 *   has viewers), and typing, relayed and coalesced in memory only.
 *
 * Costs nothing while idle: no alarm, no timer unless someone is typing; sockets hibernate. In a
 * large group a room watches at most MAX_WATCHED_MEMBERS accounts, so one viewer costs O(that).
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../src/env";
import { inboxStub } from "../src/inbox";
import { chatRoomStub, presenceRoomStub } from "../src/placement";
import { areContacts, loadPrivacy, visibility } from "../src/presence/privacy";
import {
  PresenceClientFrame,
  type PresenceServerFrameBody,
  type PresenceStatusBody,
  type PrivacySettingsBody,
  type TypingStateBody,
} from "../src/protocol/presence";

/** Typing shows for this long after the last refresh, then turns into "stopped" by itself. */
export const TYPING_TTL_MS = 5_000;
/** A sender's repeated typing state reaches viewers at most once per this interval. */
export const TYPING_COALESCE_MS = 2_500;
/** Last seen is kept to the minute: precise enough to show, coarse enough not to track people. */
const LAST_SEEN_GRANULARITY_MS = 60_000;
/** Members watched per chat room (large groups: the first ones, by account id order). */
const MAX_WATCHED_MEMBERS = 256;
/** Privacy settings and contact answers are trusted this long in a room's memory. */
const PRIVACY_CACHE_MS = 30_000;

interface AccountStatus {
  devices: number[];
  lastSeen: number | null;
}

interface Viewer {
  account_id: string;
  device_id: number;
}

export class PresenceRoom extends DurableObject<Env> {
  /** Durable writes made by this object since it woke: tests assert it stays flat under load. */
  storageWrites = 0;
  private members: string[] | null = null;
  private typing = new Map<string, { state: TypingStateBody; forwardedAt: number; timer: ReturnType<typeof setTimeout> | null }>();
  private privacyCache = new Map<string, { value: PrivacySettingsBody; at: number }>();
  private contactCache = new Map<string, { value: boolean; at: number }>();

  private async put(key: string, value: unknown): Promise<void> {
    this.storageWrites++;
    await this.ctx.storage.put(key, value);
  }

  // ---- account status ("a:<account_id>") -----------------------------------------------------

  private async accountStatus(): Promise<AccountStatus> {
    const [devices, lastSeen] = await Promise.all([this.ctx.storage.get<number[]>("devices"), this.ctx.storage.get<number>("last_seen")]);
    return { devices: devices ?? [], lastSeen: lastSeen ?? null };
  }

  /** A device of this account came online (foreground socket) or went away. Idempotent. */
  async setDeviceOnline(accountId: string, deviceId: number, online: boolean): Promise<void> {
    const status = await this.accountStatus();
    const wasOnline = status.devices.length > 0;
    const devices = online ? [...new Set([...status.devices, deviceId])] : status.devices.filter((d) => d !== deviceId);
    if (devices.length === status.devices.length && devices.every((d) => status.devices.includes(d))) return;
    await this.put("devices", devices);
    const isOnline = devices.length > 0;
    if (wasOnline === isOnline) return;
    let lastSeen = status.lastSeen;
    if (!isOnline) {
      lastSeen = Math.floor(Date.now() / LAST_SEEN_GRANULARITY_MS) * LAST_SEEN_GRANULARITY_MS;
      await this.put("last_seen", lastSeen);
    }
    const watchers = (await this.ctx.storage.get<string[]>("watchers")) ?? [];
    const change = { account_id: accountId, online: isOnline, last_seen: lastSeen };
    // Fire and forget: presence is best effort; a viewer that misses one gets a snapshot on reconnect.
    this.ctx.waitUntil(
      Promise.allSettled(watchers.map((room) => presenceRoomStub(this.env, room).presenceChanged(change))).then(() => undefined),
    );
  }

  /**
   * The account's status. Devices recorded online are confirmed with their inboxes first: a deploy
   * or crash can drop sockets without a close reaching us, and this heals that without any
   * periodic write.
   */
  async status(accountId: string): Promise<PresenceStatusBody> {
    let status = await this.accountStatus();
    if (status.devices.length > 0) {
      const alive = await Promise.all(
        status.devices.map((deviceId) =>
          inboxStub(this.env, { accountId, deviceId })
            .isOnline()
            .catch(() => false),
        ),
      );
      for (const [i, deviceId] of status.devices.entries()) if (!alive[i]) await this.setDeviceOnline(accountId, deviceId, false);
      status = await this.accountStatus();
    }
    return { account_id: accountId, online: status.devices.length > 0, last_seen: status.lastSeen };
  }

  async watch(room: string, on: boolean): Promise<void> {
    const watchers = new Set((await this.ctx.storage.get<string[]>("watchers")) ?? []);
    if (watchers.has(room) === on) return;
    if (on) watchers.add(room);
    else watchers.delete(room);
    await this.put("watchers", [...watchers]);
  }

  // ---- chat viewers ("c:<chat_id>") -------------------------------------------------------------

  /** WebSocket upgrade forwarded by the Worker after it checked the viewer is a member. */
  override async fetch(request: Request): Promise<Response> {
    const account = request.headers.get("x-parley-account");
    const device = Number(request.headers.get("x-parley-device"));
    const chatId = request.headers.get("x-parley-chat");
    if (!account || !Number.isInteger(device) || !chatId) return new Response("missing identity", { status: 400 });
    const pair = new WebSocketPair();
    const server = pair[1];
    const firstViewer = this.ctx.getWebSockets().length === 0;
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ account_id: account, device_id: device } satisfies Viewer);
    const members = await this.memberList(chatId);
    if (firstViewer) await this.watchMembers(true);
    // The snapshot: every other member's status, as this viewer may see it.
    for (const member of members) {
      if (member === account) continue;
      const status = await presenceRoomStub(this.env, `a:${member}`).status(member);
      send(server, { type: "presence", ...(await this.filtered(status, account)) });
    }
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const viewer = ws.deserializeAttachment() as Viewer;
    let frame;
    try {
      frame = PresenceClientFrame.parse(JSON.parse(typeof message === "string" ? message : ""));
    } catch {
      send(ws, { type: "error", error: { code: "invalid_request", message: "expected {type: 'typing', state}" } });
      return;
    }
    this.onTyping(viewer, frame.state);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    try {
      ws.close(code === 1005 ? 1000 : code, reason);
    } catch {
      // already closed
    }
    const viewer = ws.deserializeAttachment() as Viewer | null;
    if (viewer) this.onTyping(viewer, "stopped");
    const open = this.ctx.getWebSockets().filter((s) => s !== ws && s.readyState === WebSocket.OPEN);
    if (open.length === 0) await this.watchMembers(false);
  }

  /** Called by a watched account's status object when it goes online or offline. */
  async presenceChanged(status: PresenceStatusBody): Promise<void> {
    for (const ws of this.ctx.getWebSockets()) {
      const viewer = ws.deserializeAttachment() as Viewer | null;
      if (!viewer || viewer.account_id === status.account_id) continue;
      send(ws, { type: "presence", ...(await this.filtered(status, viewer.account_id)) });
    }
  }

  /**
   * Relays typing with coalescing: a change of state goes out at once, a repeat of the same state
   * at most every TYPING_COALESCE_MS; without a refresh for TYPING_TTL_MS it becomes "stopped".
   * In memory only: typing is never stored.
   */
  private onTyping(viewer: Viewer, state: TypingStateBody): void {
    const key = `${viewer.account_id}.${viewer.device_id}`;
    const now = Date.now();
    const current = this.typing.get(key);
    if (current?.timer) clearTimeout(current.timer);
    if (state === "stopped" && (!current || current.state === "stopped")) {
      this.typing.delete(key);
      return;
    }
    const forward = !current || current.state !== state || now - current.forwardedAt >= TYPING_COALESCE_MS;
    const timer = state === "stopped" ? null : setTimeout(() => this.onTyping(viewer, "stopped"), TYPING_TTL_MS);
    this.typing.set(key, { state, forwardedAt: forward ? now : current!.forwardedAt, timer });
    if (state === "stopped") this.typing.delete(key);
    if (!forward) return;
    for (const ws of this.ctx.getWebSockets()) {
      const other = ws.deserializeAttachment() as Viewer | null;
      if (!other || (other.account_id === viewer.account_id && other.device_id === viewer.device_id)) continue;
      send(ws, { type: "typing", account_id: viewer.account_id, device_id: viewer.device_id, state });
    }
  }

  private async memberList(chatId: string): Promise<string[]> {
    if (!this.members) {
      this.members = (await chatRoomStub(this.env, chatId).memberList()).slice(0, MAX_WATCHED_MEMBERS);
      if ((await this.ctx.storage.get<string>("chat_id")) !== chatId) await this.put("chat_id", chatId);
    }
    return this.members;
  }

  private async watchMembers(on: boolean): Promise<void> {
    const chatId = await this.ctx.storage.get<string>("chat_id");
    if (!chatId) return;
    const members = await this.memberList(chatId);
    const room = `c:${chatId}`;
    await Promise.allSettled(members.map((m) => presenceRoomStub(this.env, `a:${m}`).watch(room, on)));
  }

  /** A status as `viewerAccount` may see it (privacy, reciprocal). */
  private async filtered(status: PresenceStatusBody, viewerAccount: string): Promise<PresenceStatusBody> {
    const [target, viewer] = await Promise.all([this.privacy(status.account_id), this.privacy(viewerAccount)]);
    const needsContact = [target.online, target.last_seen, viewer.online, viewer.last_seen].includes("contacts");
    const contacts = needsContact ? await this.contacts(status.account_id, viewerAccount) : false;
    const may = visibility(target, viewer, contacts);
    return { account_id: status.account_id, online: may.online ? status.online : null, last_seen: may.lastSeen ? status.last_seen : null };
  }

  private async privacy(accountId: string): Promise<PrivacySettingsBody> {
    const cached = this.privacyCache.get(accountId);
    if (cached && Date.now() - cached.at < PRIVACY_CACHE_MS) return cached.value;
    const value = (await loadPrivacy(this.env, [accountId])).get(accountId)!;
    this.privacyCache.set(accountId, { value, at: Date.now() });
    return value;
  }

  private async contacts(a: string, b: string): Promise<boolean> {
    const key = a < b ? `${a}|${b}` : `${b}|${a}`;
    const cached = this.contactCache.get(key);
    if (cached && Date.now() - cached.at < PRIVACY_CACHE_MS) return cached.value;
    const value = await areContacts(this.env, a, b);
    this.contactCache.set(key, { value, at: Date.now() });
    return value;
  }
}

function send(ws: WebSocket, frame: PresenceServerFrameBody): void {
  try {
    ws.send(JSON.stringify(frame));
  } catch {
    // The viewer left; nothing is owed to it.
  }
}
