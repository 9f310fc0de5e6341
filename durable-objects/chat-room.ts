/**
 * ChatRoom: one Durable Object per chat, the single writer of the chat's total order.
 *
 * Owns: the gap-free `chat_seq`, the idempotency record of every accepted message (sender device +
 * msg_id), the device-set check of each send, the durable fanout to recipient inboxes, and compact
 * receipt state (per recipient device: delivered-up-to and read-up-to seq).
 * Does not own: accounts and devices (D1; the Worker passes the current device set in), the
 * inbox queues (DeviceInbox), or anything readable: envelopes are ciphertext, kept only until the
 * recipient inbox has them.
 *
 * Fanout is a durable outbox: a message's per-device entries are written to `pending` in the same
 * synchronous transaction that assigns its seq, then one flusher at a time hands them to the inboxes
 * in id order (so every inbox receives the chat in `chat_seq` order) and deletes what landed. The
 * "sent" ack returns only after every entry of the message is durable in its inbox. If an inbox
 * call fails the rows stay, an alarm retries, and a client retry with the same msg_id waits for them.
 * Receipts skip the outbox: they go straight to the senders' inboxes, and only a refused one is
 * written to `pending` (recordReceipt).
 *
 * Groups (g_ chats, issue 6): the room keeps a snapshot of the members and roles (D1 is the source
 * of truth; every change goes through `changeGroup`, which writes D1 and then the snapshot plus an
 * event in the chat's own sequence), checks a group send against the members' devices, and fans
 * one Sender Key ciphertext out to every recipient device: inline (pending rows, as above) up to
 * GROUP_QUEUE_FANOUT_THRESHOLD devices, above it as `fanout_jobs` handed to the fanout queue
 * (another durable outbox). The "sent" ack of a group message returns once its inline rows are in
 * their inboxes and its jobs are accepted by the queue.
 */
import { DurableObject } from "cloudflare:workers";
import { loadConfig } from "../src/config";
import { describeError, logEvent } from "../src/log";
import type { Env } from "../src/env";
import { inboxStub } from "../src/inbox";
import { blockKey, blocksAmongStatement, toBlockSet } from "../src/db/blocks";
import { recordMetric } from "../src/metrics";
import { SingleFlight } from "../src/single-flight";
import { TablesOnDemand } from "../src/tables-on-demand";
import { groupChangeStatements, runStatements } from "../src/db/groups";
import { database } from "../src/db/client";
import {
  type GroupChangePlan,
  type GroupState,
  loadGroupState,
  planGroupChange,
  type StoredGroupState,
  storeGroupState,
} from "../src/groups/membership";
import type { GroupInfoBody } from "../src/protocol/groups";
import {
  type FanoutJobBody,
  GroupChangeInput,
  type GroupChangeInputBody,
  GroupSubmitInput,
  type GroupSubmitInputBody,
  InboxEntryInput,
  parseReceiptInput,
  parseSubmitInput,
  SubmitInput,
  type InboxEntryInputBody,
  type ReceiptInputBody,
  type SubmitInputBody,
  type SubmitResult,
} from "../src/protocol/internal";

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS messages (
     seq INTEGER PRIMARY KEY,
     msg_id TEXT NOT NULL,
     sender_account TEXT NOT NULL,
     sender_device INTEGER NOT NULL,
     server_ts INTEGER NOT NULL,
     recipients TEXT NOT NULL,
     UNIQUE (sender_account, sender_device, msg_id))`,
  `CREATE INDEX IF NOT EXISTS messages_ts ON messages (server_ts)`,
  `CREATE TABLE IF NOT EXISTS pending (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     seq INTEGER,
     account_id TEXT NOT NULL,
     device_id INTEGER NOT NULL,
     entry TEXT NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS pending_seq ON pending (seq)`,
  `CREATE TABLE IF NOT EXISTS receipts (
     account_id TEXT NOT NULL,
     device_id INTEGER NOT NULL,
     delivered_up_to INTEGER NOT NULL DEFAULT 0,
     read_up_to INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (account_id, device_id))`,
];

/** Tables only groups use, created when first written (src/tables-on-demand.ts). */
const TABLES_ON_DEMAND = {
  // The membership snapshot (D1 is the source of truth; see changeGroup).
  group_members: [
    `CREATE TABLE IF NOT EXISTS group_members (
       account_id TEXT PRIMARY KEY,
       role TEXT NOT NULL,
       joined_seq INTEGER NOT NULL)`,
  ],
  // Large-group fanout waiting to be handed to the fanout queue (one row per queue message), and
  // entries too large to ride in a queue message, read back by the consumer (fanout_payloads).
  fanout_jobs: [
    `CREATE TABLE IF NOT EXISTS fanout_jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL, body TEXT NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS fanout_jobs_seq ON fanout_jobs (seq)`,
    `CREATE TABLE IF NOT EXISTS fanout_payloads (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL)`,
  ],
} as const;

/** Pending rows handed to inboxes per flush round; bounds one round's memory and RPC size. */
const FLUSH_BATCH_ROWS = 2000;
/** Inline retries of a failed fanout before the send answers "pending" (the alarm keeps going). */
const INLINE_FLUSH_ATTEMPTS = 3;
/** Delay before the alarm retries a fanout (or queue hand-off) that failed in a live object. */
const FANOUT_RETRY_MS = 2000;
/**
 * The alarm armed with every commit that leaves pending rows, for the case where this object stops
 * (eviction, crash, deploy) before it handed them to every inbox. A live object arms the short
 * FANOUT_RETRY_MS itself when a call fails, so this only bounds the wait after a restart; arming it
 * with FANOUT_RETRY_MS instead made every busy chat run its alarm every two seconds.
 */
export const FANOUT_BACKSTOP_MS = 30_000;
/** How often old idempotency records are pruned. */
const PRUNE_INTERVAL_MS = 24 * 3600 * 1000;
/** How long the members' device lists are trusted without asking D1 (see memberDevices). */
const DEVICE_CACHE_TTL_MS = 60_000;
/** Queue messages are limited to 128 KB: larger entries stay in fanout_payloads for the consumer. */
const MAX_INLINE_JOB_ENTRY_CHARS = 100_000;
/** sendBatch takes at most 100 messages and 256 KB; stay under both. */
const QUEUE_SEND_BATCH_MESSAGES = 100;
const QUEUE_SEND_BATCH_CHARS = 200_000;
/** A receipt names at most this many of the sender's msg_ids (up_to_seq is authoritative). */
const MAX_RECEIPT_MSG_IDS = 100;
/**
 * How long a receipt position may wait in memory for this object's next write before it is
 * written on its own (see unsavedPositions). Under local workerd's eviction of an idle object
 * (10 s after its last request; the pending timer counts as one, as waitUntil work).
 */
const RECEIPT_POSITION_SAVE_MS = 5000;

type Address = { account_id: string; device_id: number };
type RegisteredDevice = Address & { registration_id: number; suspended: number };
/** `blocks`: who among the members blocks whom ("blocker>blocked", src/db/blocks.ts). */
type DeviceSnapshot = { devices: RegisteredDevice[]; blocks: Set<string>; fromCache: boolean };
type SubmitInputParsed = ReturnType<typeof SubmitInput.parse>;

/** Expected failures cross the RPC boundary as values (thrown errors lose their type on the way). */
export type RoomResult<T> = { ok: true; value: T } | { ok: false; code: "forbidden" | "not_found" | "conflict"; message: string };
const NOT_A_MEMBER = { ok: false, code: "forbidden", message: "not a member of this chat" } as const;

export interface MessageReceiptState {
  chat_seq: number;
  msg_id: string;
  sender: Address;
  recipients: { account_id: string; device_id: number; delivered: boolean; read: boolean }[];
}
type RecipientList = [string, number][];

function deviceKey(a: Address): string {
  return `${a.account_id}.${a.device_id}`;
}

export class ChatRoom extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly tables: TablesOnDemand<keyof typeof TABLES_ON_DEMAND>;
  /** When the alarm is armed (null: not armed; undefined: not read since this wake). */
  private alarmAt: number | null | undefined = undefined;
  private readonly flusher = new SingleFlight(() => this.flushRound());
  private readonly jobSender = new SingleFlight(() => this.sendJobsRound());
  /** The group snapshot (null: not a group; undefined: not read since this wake). */
  private group: GroupState | null | undefined = undefined;
  /** Group changes run one at a time (each awaits D1 between its check and its apply). */
  private groupChanges: Promise<unknown> = Promise.resolve();
  /** Active devices of the member accounts, with when they were read from D1 (memory only). */
  /** Sends per sender device in the current window (takeSendAllowance; memory only). */
  private sendCounts: { windowStart: number; counts: Map<string, number> } = { windowStart: 0, counts: new Map() };
  private deviceCache: { key: string; devices: RegisteredDevice[]; blocks: Set<string>; fetchedAt: number } | null = null;
  /** Failed inbox calls of the fanout so far (memory only): deliverUpTo checks storage only after one. */
  private fanoutFailures = 0;
  /**
   * Pending rows an inbox has taken, per device (the highest row id), not yet deleted: they go with
   * this object's next write (dropDelivered) instead of a commit of their own after every fanout
   * round, which was one of a message's two commits here. Memory only: after a restart they are
   * sent again, and the inbox skips messages it already took (highest seq per 1:1 chat, positions
   * per group); a receipt sent again only repeats an up_to_seq the device already had.
   */
  private readonly delivered = new Map<string, { address: Address; maxId: number }>();
  /** `meta` rows as last read or written (see meta()); memory only, rebuilt from storage after a restart. */
  private readonly metaCache = new Map<string, string | null>();
  /** `receipts` rows read or written since this wake, by reader device (the room is their only writer). */
  private readonly receiptPositions = new Map<string, { delivered_up_to: number; read_up_to: number }>();
  /**
   * Reader devices whose position in `receiptPositions` is newer than their `receipts` row. A receipt
   * is not a commit of its own here: its entries go straight to the senders' inboxes (which commit
   * them) and the position goes with this object's next write, or after RECEIPT_POSITION_SAVE_MS
   * (savePositionsSoon). What a crash in that window costs: the per-message receipt state
   * (messageReceipts) goes back to the last written position until the device's next receipt in
   * this chat, which covers the same messages again; the senders' devices already have the receipts.
   */
  private readonly unsavedPositions = new Map<string, Address>();
  /** The deferred position write waiting (savePositionsSoon), cancelled when a write takes them first. */
  private positionSave: { timer: ReturnType<typeof setTimeout>; done: () => void } | null = null;
  /** RECEIPT_POSITION_SAVE_MS; a field so that a test can widen it. */
  private readonly positionSaveMs = RECEIPT_POSITION_SAVE_MS;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    for (const statement of SCHEMA) this.sql.exec(statement);
    this.tables = new TablesOnDemand(this.sql, TABLES_ON_DEMAND);
  }

  /**
   * The room is the only writer of `meta`, so each key is read from storage once per wake and then
   * served from memory (last_seq, members and chat_id were 3-4 reads per submit and per receipt).
   */
  private meta(key: string): string | null {
    if (this.metaCache.has(key)) return this.metaCache.get(key)!;
    const row = this.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = ?`, key).toArray()[0];
    const value = row ? row.value : null;
    this.metaCache.set(key, value);
    return value;
  }

  private setMeta(key: string, value: string): void {
    this.sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, key, value);
    this.metaCache.set(key, value);
  }

  private deleteMeta(key: string): void {
    this.sql.exec(`DELETE FROM meta WHERE key = ?`, key);
    this.metaCache.set(key, null);
  }

  /**
   * transactionSync that also writes what waits for this object's next write (writeDeferred), forgets
   * the meta cache and the tables created if it rolls back (the caches may hold its writes), and then
   * remembers again the taken rows and receipt positions whose writes rolled back with it.
   */
  private transaction(run: () => void): void {
    const taken = this.delivered.size === 0 ? null : new Map(this.delivered);
    const unsaved = this.unsavedPositions.size === 0 ? null : new Map(this.unsavedPositions);
    try {
      this.ctx.storage.transactionSync(() => {
        this.writeDeferred();
        run();
      });
    } catch (err) {
      this.metaCache.clear();
      this.tables.forget();
      for (const [device, rows] of taken ?? []) if (!this.delivered.has(device)) this.delivered.set(device, rows);
      for (const [device, reader] of unsaved ?? []) this.unsavedPositions.set(device, reader);
      if (unsaved) this.savePositionsSoon();
      throw err;
    }
  }

  private members(): string[] {
    const group = this.groupState();
    if (group) return [...group.members.keys()];
    const raw = this.meta("members");
    return raw ? (JSON.parse(raw) as string[]) : [];
  }

  /** Highest assigned chat_seq (0 before the first message). */
  private lastSeq(): number {
    return Number(this.meta("last_seq") ?? "0");
  }

  /**
   * Accepts one message: idempotency, device-set check, seq assignment and durable fanout.
   * The ack (or the original ack, for a repeated msg_id) returns once every inbox has the message.
   */
  async submit(raw: SubmitInputBody): Promise<SubmitResult> {
    const input = parseSubmitInput(raw);
    const chatId = input.chat_id;

    const existing = this.findMessage(input.sender, input.msg_id);
    if (existing) return this.duplicateAck(chatId, input.msg_id, existing);
    const throttled = input.send_limit ? this.takeSendAllowance(input.sender, input.send_limit) : null;
    if (throttled) return throttled;

    // The device set is checked against the cached device lists first (no D1 read on the steady
    // path); anything that does not match is re-checked against D1 before it is refused.
    const cached = this.cachedMemberDevices(input.members);
    let verdict = this.checkSend(input, cached ?? (await this.memberDevices(input.members, true)));
    let awaited = cached === null;
    if (verdict.problem && verdict.fromCache) {
      verdict = this.checkSend(input, await this.memberDevices(input.members, true));
      awaited = true;
    }
    if (verdict.problem) return verdict.problem;
    // Blocks (issue 11): the sender encrypted for every device as usual and is not told; the
    // envelopes for an account that blocks the sender are simply never queued.
    const delivered = input.envelopes.filter((e) => !verdict.blocks.has(blockKey(e.account_id, input.sender.account_id)));

    // From here to the insert nothing awaits, so no other event can interleave. On the steady path
    // (cached device lists) nothing awaited since the first lookup either; after a D1 read, a
    // concurrent submit of the same msg_id may have been accepted meanwhile: look again.
    const raced = awaited ? this.findMessage(input.sender, input.msg_id) : undefined;
    if (raced) return this.duplicateAck(chatId, input.msg_id, raced);

    if (this.meta("members") === null) this.setMeta("members", JSON.stringify([...new Set(input.members)].sort()));
    const seq = this.lastSeq() + 1;
    const serverTs = Date.now();
    const recipients: RecipientList = input.envelopes.map((e) => [e.account_id, e.device_id]);
    this.transaction(() => {
      this.setMeta("last_seq", String(seq));
      this.sql.exec(
        `INSERT INTO messages (seq, msg_id, sender_account, sender_device, server_ts, recipients) VALUES (?, ?, ?, ?, ?, ?)`,
        seq,
        input.msg_id,
        input.sender.account_id,
        input.sender.device_id,
        serverTs,
        JSON.stringify(recipients),
      );
      for (const envelope of delivered) {
        const entry: InboxEntryInputBody = {
          kind: "message",
          chat_id: chatId,
          chat_seq: seq,
          msg_id: input.msg_id,
          sender: input.sender,
          server_ts: serverTs,
          type: envelope.type,
          content: envelope.content,
        };
        this.sql.exec(
          `INSERT INTO pending (seq, account_id, device_id, entry) VALUES (?, ?, ?, ?)`,
          seq,
          envelope.account_id,
          envelope.device_id,
          JSON.stringify(entry),
        );
      }
      if (!this.meta("chat_id")) this.setMeta("chat_id", chatId);
    });
    await this.ensureAlarm(Date.now() + FANOUT_BACKSTOP_MS);

    if (!(await this.deliverUpTo(seq))) return { ok: false, code: "delivery_pending" };
    return { ok: true, ack: { chat_id: chatId, msg_id: input.msg_id, chat_seq: seq, server_ts: serverTs, duplicate: false } };
  }

  /**
   * The per-chat send limit (issue 11): messages per sender device in a fixed window, counted in
   * memory (one writer per chat, so exact while the object lives; a restart forgets, erring on the
   * lenient side). Retries of an accepted msg_id never reach this. A refused send costs nothing.
   */
  private takeSendAllowance(sender: Address, allowance: { limit: number; window_ms: number }): SubmitResult | null {
    const now = Date.now();
    const windowStart = now - (now % allowance.window_ms);
    if (this.sendCounts.windowStart !== windowStart) this.sendCounts = { windowStart, counts: new Map() };
    const key = deviceKey(sender);
    const used = this.sendCounts.counts.get(key) ?? 0;
    if (used >= allowance.limit) return { ok: false, code: "rate_limited", retry_after_ms: windowStart + allowance.window_ms - now };
    this.sendCounts.counts.set(key, used + 1);
    return null;
  }

  private findMessage(sender: Address, msgId: string): { seq: number; server_ts: number } | undefined {
    return this.sql
      .exec<{ seq: number; server_ts: number }>(
        `SELECT seq, server_ts FROM messages WHERE sender_account = ? AND sender_device = ? AND msg_id = ?`,
        sender.account_id,
        sender.device_id,
        msgId,
      )
      .toArray()[0];
  }

  /** The original ack of a repeated msg_id, once its fanout is complete. */
  private async duplicateAck(chatId: string, msgId: string, existing: { seq: number; server_ts: number }): Promise<SubmitResult> {
    if (!(await this.deliverUpTo(existing.seq))) return { ok: false, code: "delivery_pending" };
    return { ok: true, ack: { chat_id: chatId, msg_id: msgId, chat_seq: existing.seq, server_ts: existing.server_ts, duplicate: true } };
  }

  /** Checks sender, recipient and the envelope set against a snapshot of the members' devices. */
  private checkSend(input: SubmitInputParsed, snapshot: DeviceSnapshot): { problem: SubmitResult | null; fromCache: boolean; blocks: Set<string> } {
    const { devices } = snapshot;
    const problem = (result: SubmitResult) => ({ problem: result, fromCache: snapshot.fromCache, blocks: snapshot.blocks });
    const isSender = (d: RegisteredDevice) => d.account_id === input.sender.account_id && d.device_id === input.sender.device_id;
    const sender = devices.find(isSender);
    if (!sender) return problem({ ok: false, code: "sender_removed" });
    if (sender.suspended) return problem({ ok: false, code: "sender_suspended" });
    const others = input.members.filter((m) => m !== input.sender.account_id);
    if (others.some((account) => !devices.some((d) => d.account_id === account))) return problem({ ok: false, code: "unknown_recipient" });
    const expected = devices.filter((d) => !isSender(d));
    if (expected.length === 0) return problem({ ok: false, code: "no_recipient_devices" });
    const mismatch = checkDeviceSet(input.envelopes, expected);
    return mismatch ? problem(mismatch) : { problem: null, fromCache: snapshot.fromCache, blocks: snapshot.blocks };
  }

  /**
   * The active devices of the chat's member accounts: from memory while younger than
   * DEVICE_CACHE_TTL_MS, else (or when `fresh`) one D1 query. A stale cache can only let a send
   * through to a device removed moments ago, whose inbox then discards it; a device added since is
   * caught because a non-matching send is always re-checked fresh.
   */
  private async memberDevices(members: string[], fresh: boolean): Promise<DeviceSnapshot> {
    const key = memberCacheKey(members);
    const now = Date.now();
    if (!fresh) {
      const cached = this.cachedMemberDevices(members);
      if (cached) return cached;
    }
    const placeholders = members.map(() => "?").join(", ");
    // One D1 round trip: the devices (with their account's suspension) and the blocks among members.
    const [deviceRows, blockRows] = await this.env.DB.batch([
      this.env.DB.prepare(
        `SELECT d.account_id, d.device_id, d.registration_id, a.suspended_at IS NOT NULL AS suspended
         FROM devices d JOIN accounts a ON a.id = d.account_id WHERE d.account_id IN (${placeholders}) AND d.removed_at IS NULL`,
      ).bind(...members),
      blocksAmongStatement(this.env.DB, members),
    ]);
    const devices = (deviceRows?.results ?? []) as RegisteredDevice[];
    const blocks = toBlockSet((blockRows?.results ?? []) as { blocker: string; blocked: string }[]);
    this.deviceCache = { key, devices, blocks, fetchedAt: now };
    return { devices, blocks, fromCache: false };
  }

  /** The cached device lists of these members while fresh (synchronous: the steady path never awaits), else null. */
  private cachedMemberDevices(members: string[]): DeviceSnapshot | null {
    const cache = this.deviceCache;
    if (cache?.key !== memberCacheKey(members) || Date.now() - cache.fetchedAt >= DEVICE_CACHE_TTL_MS) return null;
    return { devices: cache.devices, blocks: cache.blocks, fromCache: true };
  }

  /**
   * Drops the cached device lists and blocks: the Worker calls this after a block, unblock or
   * suspension involving a member, so the next send sees it at once rather than within
   * DEVICE_CACHE_TTL_MS.
   */
  forgetCachedMembers(): void {
    this.deviceCache = null;
  }

  /** Whether `accountId` sent a message with this msg_id here (within the retention window); for reports. */
  hasMessageFrom(accountId: string, msgId: string): boolean {
    return this.sql.exec(`SELECT 1 FROM messages WHERE sender_account = ? AND msg_id = ? LIMIT 1`, accountId, msgId).toArray().length > 0;
  }

  /**
   * Records that a device received ("delivered", from its inbox ACK) or read everything up to a
   * seq, and queues receipts to the senders' devices of the messages newly covered. Read implies
   * delivered. Idempotent: a lower or equal seq than already recorded changes nothing.
   */
  async recordReceipt(raw: ReceiptInputBody): Promise<RoomResult<null>> {
    const input = parseReceiptInput(raw);
    // A group's device snapshot first (cached; D1 at most once per cache period): from here to
    // sendReceipts nothing awaits. Two receipts of one reader in flight together both send what
    // they cover (the inbox merges repeats); the position then takes the higher of them.
    const group = this.groupState();
    const groupSnapshot = group && group.members.has(input.reader.account_id) ? await this.groupDevices(group, false) : null;
    const chatId = this.meta("chat_id");
    if (!chatId || !this.members().includes(input.reader.account_id)) return NOT_A_MEMBER;
    const upTo = Math.min(input.up_to_seq, this.lastSeq());
    const current = this.receiptPosition(input.reader);
    const previous = input.status === "read" ? current.read_up_to : current.delivered_up_to;
    if (upTo <= previous) return { ok: true, value: null };

    const covered = this.sql
      .exec<StoredMessage>(
        `SELECT seq, msg_id, sender_account, sender_device, recipients FROM messages WHERE seq > ? AND seq <= ? AND sender_account != ? ORDER BY seq`,
        previous,
        upTo,
        input.reader.account_id,
      )
      .toArray();
    const currentGroup = this.groupState();
    const receiptTargets =
      currentGroup && groupSnapshot
        ? (m: StoredMessage) => groupReceiptTargets(currentGroup, groupSnapshot, m, input.reader)
        : (m: StoredMessage) => directReceiptTargets(m, input.reader);
    // Per sender account: the msg_ids newly covered, and every device of that account that took
    // part (the sending device and the account's other devices).
    const bySender = new Map<string, { msgIds: string[]; devices: Map<string, Address> }>();
    for (const m of covered) {
      const targets = receiptTargets(m);
      if (!targets) continue;
      let group = bySender.get(m.sender_account);
      if (!group) bySender.set(m.sender_account, (group = { msgIds: [], devices: new Map() }));
      if (group.msgIds.length < MAX_RECEIPT_MSG_IDS) group.msgIds.push(m.msg_id);
      for (const device of targets) group.devices.set(deviceKey(device), device);
    }

    const serverTs = Date.now();
    const batches = new Map<string, { address: Address; entries: InboxEntryInputBody[] }>();
    for (const group of bySender.values()) {
      const entry: InboxEntryInputBody = {
        kind: "receipt",
        chat_id: chatId,
        status: input.status,
        reader: input.reader,
        up_to_seq: upTo,
        msg_ids: group.msgIds,
        server_ts: serverTs,
      };
      for (const device of group.devices.values()) {
        const key = deviceKey(device);
        const batch = batches.get(key);
        if (batch) batch.entries.push(entry);
        else batches.set(key, { address: device, entries: [entry] });
      }
    }
    const refused = await this.sendReceipts([...batches.values()]);

    // The position moves only now that every receipt is durable (in its inbox, or below in
    // `pending`): a receipt repeated meanwhile (a retry, the inbox's alarm) is sent again and merged
    // by the inbox, never answered as already recorded while this one could still fail.
    const position = this.positionAfter(input.reader, input.status, upTo);
    const readerKey = deviceKey(input.reader);
    if (refused.length === 0) {
      this.receiptPositions.set(readerKey, position);
      this.unsavedPositions.set(readerKey, input.reader);
      this.savePositionsSoon();
      return { ok: true, value: null };
    }
    this.fanoutFailures++;
    this.transaction(() => {
      for (const { address, entries } of refused) {
        for (const entry of entries) {
          this.sql.exec(
            `INSERT INTO pending (seq, account_id, device_id, entry) VALUES (NULL, ?, ?, ?)`,
            address.account_id,
            address.device_id,
            JSON.stringify(entry),
          );
        }
      }
      this.writePosition(input.reader, position);
    });
    this.receiptPositions.set(readerKey, position);
    await this.armRetry();
    return { ok: true, value: null };
  }

  /**
   * Hands receipt entries straight to the senders' inboxes: their commit makes a receipt durable, so
   * it needs no `pending` row here (that outbox's commit, and its flush, were one of the four
   * commits a message with its receipt cost). Returns the batches whose inbox call failed: the
   * caller stores them in `pending`, and the alarm retries them like any fanout. Receipts are facts
   * ("delivered up to"), so one retried later may arrive after a newer one: the inbox merges them
   * while both are queued, and the SDK reports each as it comes.
   */
  private async sendReceipts(batches: { address: Address; entries: InboxEntryInputBody[] }[]): Promise<{ address: Address; entries: InboxEntryInputBody[] }[]> {
    const results = await Promise.allSettled(
      batches.map((b) => inboxStub(this.env, { accountId: b.address.account_id, deviceId: b.address.device_id }).enqueue(b.entries, b.address)),
    );
    return batches.filter((batch, i) => {
      const result = results[i]!;
      if (result.status === "fulfilled") return false;
      logEvent("warn", "fanout_failed", { device: deviceKey(batch.address), error: describeError(result.reason) });
      return true;
    });
  }

  /** A reader's position after its receipt up to `upTo` (never lower than it was; read implies delivered). */
  private positionAfter(reader: Address, status: "delivered" | "read", upTo: number): { delivered_up_to: number; read_up_to: number } {
    const current = this.receiptPosition(reader);
    return {
      delivered_up_to: Math.max(current.delivered_up_to, upTo),
      read_up_to: status === "read" ? Math.max(current.read_up_to, upTo) : current.read_up_to,
    };
  }

  /** What a reader device has received and read up to (0 before its first receipt). */
  private receiptPosition(reader: Address): { delivered_up_to: number; read_up_to: number } {
    const key = deviceKey(reader);
    let position = this.receiptPositions.get(key);
    if (!position) {
      position =
        this.sql
          .exec<{ delivered_up_to: number; read_up_to: number }>(
            `SELECT delivered_up_to, read_up_to FROM receipts WHERE account_id = ? AND device_id = ?`,
            reader.account_id,
            reader.device_id,
          )
          .toArray()[0] ?? { delivered_up_to: 0, read_up_to: 0 };
      this.receiptPositions.set(key, position);
    }
    return position;
  }

  /**
   * A member account linked or unlinked a device: forget the cached device lists, so the next send
   * is checked against D1 (a peer's send then gets 409 for a new device instead of missing it).
   * Memory only; false for a non-member (nothing happens).
   */
  forgetMemberDevices(accountId: string): boolean {
    if (!this.members().includes(accountId)) return false;
    this.deviceCache = null;
    return true;
  }

  /** Whether an account is a member (for 1:1 chats: the chat exists and it is one of the two). */
  isMember(accountId: string): boolean {
    return this.members().includes(accountId);
  }

  /** The member accounts (empty before the first message). */
  memberList(): string[] {
    return this.members();
  }

  /**
   * Per-message receipt state, for members of the chat. A group message's recipients are the
   * devices of the members who had joined before it (and do not block its sender), as they are now.
   */
  async messageReceipts(requesterAccount: string, seq: number): Promise<RoomResult<MessageReceiptState>> {
    const group = this.groupState();
    const groupSnapshot = group && group.members.has(requesterAccount) ? await this.groupDevices(group, false) : null;
    if (!this.members().includes(requesterAccount)) return NOT_A_MEMBER;
    const message = this.sql
      .exec<StoredMessage>(`SELECT seq, msg_id, sender_account, sender_device, recipients FROM messages WHERE seq = ?`, seq)
      .toArray()[0];
    if (!message) return { ok: false, code: "not_found", message: "no such message (never sent, or older than the retention window)" };
    const state = new Map<string, { delivered_up_to: number; read_up_to: number }>();
    for (const r of this.sql.exec<{ account_id: string; device_id: number; delivered_up_to: number; read_up_to: number }>(`SELECT * FROM receipts`)) {
      state.set(deviceKey(r), r);
    }
    // Positions recorded since this wake are at least as new as their rows (unsavedPositions).
    for (const [key, position] of this.receiptPositions) state.set(key, position);
    const currentGroup = this.groupState();
    const sender = { account_id: message.sender_account, device_id: message.sender_device };
    const recipientDevices: Address[] =
      currentGroup && groupSnapshot
        ? groupFanoutRecipients(currentGroup, groupSnapshot.devices, sender).filter((d) => receivedGroupMessage(currentGroup, groupSnapshot, message, d))
        : (JSON.parse(message.recipients) as RecipientList).map(([account_id, device_id]) => ({ account_id, device_id }));
    const recipients = recipientDevices.map(({ account_id, device_id }) => {
      const r = state.get(`${account_id}.${device_id}`);
      return { account_id, device_id, delivered: (r?.delivered_up_to ?? 0) >= seq, read: (r?.read_up_to ?? 0) >= seq };
    });
    return { ok: true, value: { chat_seq: seq, msg_id: message.msg_id, sender, recipients } };
  }

  // ---- groups -------------------------------------------------------------------------------------

  /** The group snapshot, read from storage once per wake (null: this chat is not a group). */
  private groupState(): GroupState | null {
    if (this.group !== undefined) return this.group;
    const raw = this.meta("group");
    if (!raw) return (this.group = null);
    const stored = JSON.parse(raw) as Omit<StoredGroupState, "members">;
    const rows = this.tables.exists("group_members")
      ? this.sql.exec<{ account_id: string; role: "admin" | "member"; joined_seq: number }>(`SELECT account_id, role, joined_seq FROM group_members`).toArray()
      : [];
    const members = rows.map((m) => [m.account_id, { role: m.role, joined_seq: m.joined_seq }] as [string, { role: "admin" | "member"; joined_seq: number }]);
    this.group = loadGroupState({ ...stored, members });
    return this.group;
  }

  /** Runs group changes (and their recovery) one at a time, in arrival order. */
  private serializeGroupChange<T>(run: () => Promise<T>): Promise<T> {
    const next = this.groupChanges.then(run);
    this.groupChanges = next.catch(() => undefined);
    return next;
  }

  /**
   * Creates the group or changes its membership, roles or settings, as `actor`. The rules are in
   * src/groups/membership.ts. The change is written as an intent first, then to D1 (idempotent
   * statements), then applied here with its event in one transaction; an intent left by a crash
   * is finished by the next change or the alarm, so D1 and the snapshot cannot drift apart.
   */
  async changeGroup(raw: GroupChangeInputBody): Promise<RoomResult<GroupInfoBody>> {
    const input = GroupChangeInput.parse(raw);
    return this.serializeGroupChange(async () => {
      await this.finishGroupIntent();
      if (input.change.op === "create" && this.meta("chat_id") !== null && this.groupState() === null) {
        return { ok: false, code: "conflict", message: "the chat already exists" } as const;
      }
      const planned = planGroupChange(this.groupState(), input, 0, Date.now());
      if (!planned.ok) return { ok: false, ...planned.error };
      if (planned.plan) {
        const intent: GroupIntent = { actor: input.actor, now: Date.now(), plan: { ...planned.plan, after: storeGroupState(planned.plan.after) } };
        this.setMeta("group_intent", JSON.stringify(intent));
        await this.ensureAlarm(Date.now() + FANOUT_RETRY_MS);
        const seq = await this.completeGroupIntent(intent);
        // The change is committed; its event reaches every inbox now or through the alarm.
        await this.deliverUpTo(seq);
      }
      return { ok: true, value: this.groupInfoOf(this.groupState()!) };
    });
  }

  /** Finishes a change whose intent was written but not applied (a crash or a failed D1 write). */
  private async finishGroupIntent(): Promise<void> {
    const raw = this.meta("group_intent");
    if (raw) await this.completeGroupIntent(JSON.parse(raw) as GroupIntent);
  }

  /** D1 first, then the snapshot, the event and its fanout in one transaction; returns the event's seq. */
  private async completeGroupIntent(intent: GroupIntent): Promise<number> {
    const after = loadGroupState(intent.plan.after);
    const plan: GroupChangePlan = { ...intent.plan, after };
    const db = database(this.env.DB);
    await runStatements(db, groupChangeStatements(db, plan, intent.now));
    // The event goes to every device of the members after the change and of those it removed.
    const { devices: memberDevices, blocks } = await this.groupDevicesFromD1(after);
    const devices = [...memberDevices, ...(await this.devicesOf(plan.removed))];

    const seq = this.lastSeq() + 1;
    const serverTs = Date.now();
    const joined = plan.event.type === "created" ? [...after.members.keys()] : plan.event.type === "members_added" ? plan.event.account_ids : [];
    for (const account of joined) after.members.set(account, { ...after.members.get(account)!, joined_seq: seq });
    const entry: InboxEntryInputBody = {
      kind: "group_event",
      chat_id: after.chat_id,
      chat_seq: seq,
      actor: intent.actor,
      version: after.version,
      event: plan.event,
      server_ts: serverTs,
    };
    this.transaction(() => {
      this.setMeta("last_seq", String(seq));
      if (!this.meta("chat_id")) this.setMeta("chat_id", after.chat_id);
      const { members, ...rest } = storeGroupState(after);
      this.setMeta("group", JSON.stringify(rest));
      this.tables.create("group_members");
      this.sql.exec(`DELETE FROM group_members`);
      for (const [account, m] of members) {
        this.sql.exec(`INSERT INTO group_members (account_id, role, joined_seq) VALUES (?, ?, ?)`, account, m.role, m.joined_seq);
      }
      this.scheduleFanout(entry, devices, new Map());
      this.deleteMeta("group_intent");
    });
    this.group = after;
    // Just read: the first send after the change needs no D1 query.
    this.deviceCache = { key: groupDeviceCacheKey(after), devices: memberDevices, blocks, fetchedAt: Date.now() };
    return seq;
  }

  /** The group as its members see it (GET /v1/groups/{chat_id}). */
  groupInfo(requesterAccount: string): RoomResult<GroupInfoBody> {
    const group = this.groupState();
    if (!group) return { ok: false, code: "not_found", message: "no such group" };
    if (!group.members.has(requesterAccount)) return { ok: false, code: "forbidden", message: "not a member of this group" };
    return { ok: true, value: this.groupInfoOf(group) };
  }

  private groupInfoOf(group: GroupState): GroupInfoBody {
    return {
      chat_id: group.chat_id,
      ...group.settings,
      created_by: group.created_by,
      created_at: group.created_at,
      version: group.version,
      members: [...group.members].map(([account_id, m]) => ({ account_id, role: m.role, joined_seq: m.joined_seq })),
    };
  }

  /**
   * Accepts one group message: membership, idempotency, the device-set check (every recipient
   * device appears once, as a holder of the sender's current key or with a distribution), seq
   * assignment, and fanout of the one ciphertext. The ack returns once the fanout is durably accepted.
   */
  async submitGroup(raw: GroupSubmitInputBody): Promise<SubmitResult> {
    const input = GroupSubmitInput.parse(raw);
    const group = this.groupState();
    if (!group || group.chat_id !== input.chat_id) return { ok: false, code: "no_such_group" };
    if (!group.members.has(input.sender.account_id)) return { ok: false, code: "not_a_member" };

    const existing = this.findMessage(input.sender, input.msg_id);
    if (existing) return this.duplicateAck(input.chat_id, input.msg_id, existing);

    const version = group.version;
    let snapshot = await this.groupDevices(group, false);
    let problem = this.checkGroupSend(group, input, snapshot.devices);
    if (problem && snapshot.fromCache) {
      snapshot = await this.groupDevices(group, true);
      problem = this.checkGroupSend(group, input, snapshot.devices);
    }
    if (problem) return problem;
    // A suspended sender is refused; a cached "not suspended" is trusted for DEVICE_CACHE_TTL_MS as in 1:1 chats.
    if (snapshot.devices.some((d) => d.account_id === input.sender.account_id && d.suspended)) return { ok: false, code: "sender_suspended" };
    // Membership changed while D1 was asked: check again against the new snapshot, so a member
    // removed meanwhile never receives this message.
    if (this.groupState()?.version !== version) return this.submitGroup(raw);

    // No await from here to the insert (see submit).
    const raced = this.findMessage(input.sender, input.msg_id);
    if (raced) return this.duplicateAck(input.chat_id, input.msg_id, raced);

    const seq = this.lastSeq() + 1;
    const serverTs = Date.now();
    // Members who block the sender simply receive nothing: the device-set check above covered every
    // member's devices, so the sender cannot tell (as in 1:1 chats).
    const recipients = groupFanoutRecipients(group, snapshot.devices, input.sender).filter(
      (r) => !snapshot.blocks.has(blockKey(r.account_id, input.sender.account_id)),
    );
    const distributions = new Map(input.distributions.map((d) => [deviceKey(d), { type: d.type, content: d.content }]));
    const entry: InboxEntryInputBody = {
      kind: "message",
      chat_id: input.chat_id,
      chat_seq: seq,
      msg_id: input.msg_id,
      sender: input.sender,
      server_ts: serverTs,
      type: "sender_key",
      content: input.content,
    };
    this.transaction(() => {
      this.setMeta("last_seq", String(seq));
      // Group messages keep no per-device recipient list (1,024 members would make every row large).
      this.sql.exec(
        `INSERT INTO messages (seq, msg_id, sender_account, sender_device, server_ts, recipients) VALUES (?, ?, ?, ?, ?, '[]')`,
        seq,
        input.msg_id,
        input.sender.account_id,
        input.sender.device_id,
        serverTs,
      );
      this.scheduleFanout(entry, recipients, distributions);
    });
    await this.ensureAlarm(Date.now() + FANOUT_BACKSTOP_MS);

    if (!(await this.deliverUpTo(seq))) return { ok: false, code: "delivery_pending" };
    return { ok: true, ack: { chat_id: input.chat_id, msg_id: input.msg_id, chat_seq: seq, server_ts: serverTs, duplicate: false } };
  }

  /** The device-set check of a group send: key holders and distributions together must be exactly the recipients. */
  private checkGroupSend(group: GroupState, input: ReturnType<typeof GroupSubmitInput.parse>, devices: RegisteredDevice[]): SubmitResult | null {
    const isSender = (d: Address) => d.account_id === input.sender.account_id && d.device_id === input.sender.device_id;
    if (!devices.some(isSender)) return { ok: false, code: "sender_removed" };
    const expected = groupFanoutRecipients(group, devices, input.sender);
    return checkDeviceSet([...input.key_holders, ...input.distributions], expected);
  }

  /**
   * The active devices of the current members (with their account's suspension) and the blocks
   * among them, cached per membership version like memberDevices.
   */
  private async groupDevices(group: GroupState, fresh: boolean): Promise<DeviceSnapshot> {
    const key = groupDeviceCacheKey(group);
    const now = Date.now();
    if (!fresh && this.deviceCache?.key === key && now - this.deviceCache.fetchedAt < DEVICE_CACHE_TTL_MS) {
      return { devices: this.deviceCache.devices, blocks: this.deviceCache.blocks, fromCache: true };
    }
    const { devices, blocks } = await this.groupDevicesFromD1(group);
    this.deviceCache = { key, devices, blocks, fetchedAt: now };
    return { devices, blocks, fromCache: false };
  }

  /** One D1 round trip of joins (not 1,024-parameter IN lists: D1 binds at most 100), kept to the snapshot's members. */
  private async groupDevicesFromD1(group: GroupState): Promise<{ devices: RegisteredDevice[]; blocks: Set<string> }> {
    const [deviceRows, blockRows] = await this.env.DB.batch([
      this.env.DB.prepare(
        `SELECT d.account_id, d.device_id, d.registration_id, a.suspended_at IS NOT NULL AS suspended FROM devices d
         JOIN group_members m ON m.account_id = d.account_id
         JOIN accounts a ON a.id = d.account_id
         WHERE m.group_id = ? AND d.removed_at IS NULL`,
      ).bind(group.chat_id),
      this.env.DB.prepare(
        `SELECT b.blocker, b.blocked FROM blocks b
         JOIN group_members m1 ON m1.account_id = b.blocker AND m1.group_id = ?1
         JOIN group_members m2 ON m2.account_id = b.blocked AND m2.group_id = ?1`,
      ).bind(group.chat_id),
    ]);
    const devices = ((deviceRows?.results ?? []) as RegisteredDevice[]).filter((d) => group.members.has(d.account_id));
    return { devices, blocks: toBlockSet((blockRows?.results ?? []) as { blocker: string; blocked: string }[]) };
  }

  /** Active devices of a few accounts (members just removed). */
  private async devicesOf(accounts: string[]): Promise<RegisteredDevice[]> {
    if (accounts.length === 0) return [];
    const { results } = await this.env.DB.prepare(
      `SELECT account_id, device_id, registration_id FROM devices WHERE account_id IN (${accounts.map(() => "?").join(", ")}) AND removed_at IS NULL`,
    )
      .bind(...accounts)
      .all<RegisteredDevice>();
    return results;
  }

  /**
   * Queues one group entry for `recipients` (call inside the transaction that assigns its seq).
   * Devices with a distribution, and every device of a small group, get pending rows (inline
   * fanout, in seq order); above the threshold the rest become fanout queue jobs.
   */
  private scheduleFanout(entry: Extract<InboxEntryInputBody, { chat_seq: number }>, recipients: Address[], distributions: Map<string, { type: "prekey" | "message"; content: string }>): void {
    const { groupQueueFanoutThreshold, groupFanoutBatchDevices } = loadConfig(this.env);
    const viaQueue = recipients.length > groupQueueFanoutThreshold;
    recordMetric(this.env, { name: "fanout", path: viaQueue ? "queue" : "inline", devices: recipients.length });
    const queued: [string, number][] = [];
    const entryJson = JSON.stringify(entry);
    for (const r of recipients) {
      const distribution = distributions.get(deviceKey(r));
      if (viaQueue && !distribution) {
        queued.push([r.account_id, r.device_id]);
        continue;
      }
      this.sql.exec(
        `INSERT INTO pending (seq, account_id, device_id, entry) VALUES (?, ?, ?, ?)`,
        entry.chat_seq,
        r.account_id,
        r.device_id,
        distribution ? JSON.stringify({ ...entry, distribution }) : entryJson,
      );
    }
    if (queued.length === 0) return;
    this.tables.create("fanout_jobs");
    const inline = entryJson.length <= MAX_INLINE_JOB_ENTRY_CHARS;
    if (!inline) this.sql.exec(`INSERT OR REPLACE INTO fanout_payloads (seq, entry) VALUES (?, ?)`, entry.chat_seq, entryJson);
    for (let i = 0; i < queued.length; i += groupFanoutBatchDevices) {
      const job: FanoutJobBody = { chat_id: entry.chat_id as FanoutJobBody["chat_id"], chat_seq: entry.chat_seq, devices: queued.slice(i, i + groupFanoutBatchDevices), entry: inline ? entry : null };
      this.sql.exec(`INSERT INTO fanout_jobs (seq, body) VALUES (?, ?)`, entry.chat_seq, JSON.stringify(job));
    }
  }

  /** A group entry too large for a queue message, for the fanout consumer (null once pruned). */
  fanoutEntry(seq: number): InboxEntryInputBody | null {
    if (!this.tables.exists("fanout_jobs")) return null;
    const row = this.sql.exec<{ entry: string }>(`SELECT entry FROM fanout_payloads WHERE seq = ?`, seq).toArray()[0];
    return row ? InboxEntryInput.parse(JSON.parse(row.entry)) : null;
  }

  private sendJobs(): Promise<void> {
    return this.jobSender.run();
  }

  /** Hands waiting fanout jobs to the queue; rows go only once the queue accepted them. */
  private async sendJobsRound(): Promise<void> {
    if (!this.tables.exists("fanout_jobs")) return;
    const rows = this.sql.exec<{ id: number; body: string }>(`SELECT id, body FROM fanout_jobs ORDER BY id LIMIT 500`).toArray();
    if (rows.length === 0) return;
    const chunks: { id: number; body: string }[][] = [];
    let chars = 0;
    for (const row of rows) {
      const last = chunks.at(-1);
      if (!last || last.length >= QUEUE_SEND_BATCH_MESSAGES || chars + row.body.length > QUEUE_SEND_BATCH_CHARS) {
        chunks.push([row]);
        chars = row.body.length;
      } else {
        last.push(row);
        chars += row.body.length;
      }
    }
    let failed = false;
    await Promise.all(
      chunks.map(async (chunk) => {
        try {
          await this.env.FANOUT_QUEUE.sendBatch(chunk.map((r) => ({ body: JSON.parse(r.body) as FanoutJobBody })));
          for (const r of chunk) this.sql.exec(`DELETE FROM fanout_jobs WHERE id = ?`, r.id);
        } catch (err) {
          failed = true;
          logEvent("warn", "fanout_enqueue_failed", { jobs: chunk.length, error: describeError(err) });
        }
      }),
    );
    if (failed) await this.armRetry();
    // Another round only after progress: rows the queue refused wait for the retry alarm, not a loop.
    else if (rows.length === 500) this.jobSender.runAgain();
  }

  /** Retries fanout that failed, and prunes idempotency records older than the retention window. */
  override async alarm(): Promise<void> {
    this.alarmAt = null; // This alarm has fired; whatever is needed next is armed below.
    const intentLeft = await this.serializeGroupChange(() => this.finishGroupIntent()).then(
      () => false,
      (err: unknown) => {
        logEvent("warn", "group_change_retry_failed", { error: describeError(err) });
        return true;
      },
    );
    await this.flush();
    await this.sendJobs();
    this.writeDeferred();
    const retentionMs = loadConfig(this.env).inboxRetentionDays * 24 * 3600 * 1000;
    this.sql.exec(`DELETE FROM messages WHERE server_ts < ? AND seq NOT IN (SELECT seq FROM pending WHERE seq IS NOT NULL)`, Date.now() - retentionMs);
    const jobs = this.tables.exists("fanout_jobs");
    if (jobs) this.sql.exec(`DELETE FROM fanout_payloads WHERE seq NOT IN (SELECT seq FROM messages) AND seq NOT IN (SELECT seq FROM fanout_jobs)`);
    // Rows still pending were either refused just now (the failed round armed FANOUT_RETRY_MS) or
    // committed by sends in flight meanwhile (their own calls deliver them): the backstop suffices.
    const pendingLeft =
      this.sql.exec(`SELECT 1 FROM pending LIMIT 1`).toArray().length > 0 || (jobs && this.sql.exec(`SELECT 1 FROM fanout_jobs LIMIT 1`).toArray().length > 0);
    const messagesLeft = this.sql.exec(`SELECT 1 FROM messages LIMIT 1`).toArray().length > 0;
    if (intentLeft) await this.ensureAlarm(Date.now() + FANOUT_RETRY_MS);
    else if (pendingLeft) await this.ensureAlarm(Date.now() + FANOUT_BACKSTOP_MS);
    else if (messagesLeft) await this.ensureAlarm(Date.now() + PRUNE_INTERVAL_MS);
  }

  /**
   * Arms the alarm for `at` unless it is already due earlier. The armed time is cached in memory
   * (read once per wake) so the hot path costs no storage round trip; setAlarm is not awaited
   * because storage operations are ordered and the output gate holds replies until it is durable.
   */
  private async ensureAlarm(at: number): Promise<void> {
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    if (this.alarmAt === null || this.alarmAt > at) {
      this.alarmAt = at;
      // A failure means the object is being reset (its output gate breaks): forget what was armed.
      this.ctx.storage.setAlarm(at).catch(() => {
        this.alarmAt = undefined;
      });
    }
  }

  /**
   * Flushes until no pending row (and, in a group, no fanout job) of any entry with seq <= `seq`
   * remains; false if that failed.
   */
  private async deliverUpTo(seq: number): Promise<boolean> {
    const group = this.groupState() !== null;
    for (let attempt = 0; attempt < INLINE_FLUSH_ATTEMPTS; attempt++) {
      const failuresBefore = this.fanoutFailures;
      await (group ? Promise.all([this.flush(), this.sendJobs()]) : this.flush());
      // The flush attempted every row stored before it was called (SingleFlight); if no inbox call
      // failed meanwhile, they all landed (and wait in `delivered` for deletion): no need to look.
      if (!group && this.fanoutFailures === failuresBefore) return true;
      this.dropDelivered();
      let left = this.sql.exec(`SELECT 1 FROM pending WHERE seq IS NOT NULL AND seq <= ? LIMIT 1`, seq).toArray().length;
      if (group && this.tables.exists("fanout_jobs")) left += this.sql.exec(`SELECT 1 FROM fanout_jobs WHERE seq <= ? LIMIT 1`, seq).toArray().length;
      if (left === 0) return true;
      await new Promise((resolve) => setTimeout(resolve, 50 * (attempt + 1)));
    }
    return false;
  }

  /** Single-flight (src/single-flight.ts): callers share a round, and those arriving during one get another. */
  private flush(): Promise<void> {
    return this.flusher.run();
  }

  private async flushRound(): Promise<void> {
    const stored = this.sql
      .exec<{ id: number; account_id: string; device_id: number; entry: string }>(
        // A literal: a bound LIMIT would recompile the statement on every run (test/node/sql-statements.test.ts).
        `SELECT id, account_id, device_id, entry FROM pending ORDER BY id LIMIT ${FLUSH_BATCH_ROWS}`,
      )
      .toArray();
    // Rows an inbox already took are only waiting to be deleted with the next write.
    const rows = this.delivered.size === 0 ? stored : stored.filter((row) => row.id > (this.delivered.get(`${row.account_id}.${row.device_id}`)?.maxId ?? 0));
    if (stored.length === FLUSH_BATCH_ROWS && rows.length < stored.length) this.dropDelivered();
    if (rows.length === 0) {
      if (stored.length === FLUSH_BATCH_ROWS) this.flusher.runAgain();
      return;
    }
    const byDevice = new Map<string, { address: Address; maxId: number; entries: InboxEntryInputBody[] }>();
    for (const row of rows) {
      const key = `${row.account_id}.${row.device_id}`;
      let batch = byDevice.get(key);
      if (!batch) byDevice.set(key, (batch = { address: { account_id: row.account_id, device_id: row.device_id }, maxId: 0, entries: [] }));
      batch.entries.push(JSON.parse(row.entry) as InboxEntryInputBody);
      batch.maxId = row.id;
    }
    const batches = [...byDevice.values()];
    const results = await Promise.allSettled(
      batches.map((b) => inboxStub(this.env, { accountId: b.address.account_id, deviceId: b.address.device_id }).enqueue(b.entries, b.address)),
    );
    let failed = false;
    results.forEach((result, i) => {
      const batch = batches[i]!;
      if (result.status === "fulfilled") {
        // Rows of this device with id <= maxId were all in this round or taken before (ids only grow).
        this.delivered.set(deviceKey(batch.address), { address: batch.address, maxId: batch.maxId });
      } else {
        this.fanoutFailures++;
        failed = true;
        logEvent("warn", "fanout_failed", { device: deviceKey(batch.address), error: describeError(result.reason) });
      }
    });
    if (failed) await this.armRetry();
    // Another round only if this one delivered something: with every call failing, the same full
    // batch would be read and refused again at once, in a loop; the retry alarm takes over instead.
    if (stored.length === FLUSH_BATCH_ROWS && results.some((r) => r.status === "fulfilled")) this.flusher.runAgain();
  }

  /**
   * After a failed inbox call or queue hand-off: retry in FANOUT_RETRY_MS. Best effort: a failure
   * here means the object is being reset, and the backstop armed with the commit still stands.
   */
  private async armRetry(): Promise<void> {
    await this.ensureAlarm(Date.now() + FANOUT_RETRY_MS).catch(() => undefined);
  }

  /** Writes what waits for this object's next write: taken pending rows and receipt positions. */
  private writeDeferred(): void {
    this.dropDelivered();
    this.savePositions();
  }

  /** Writes the receipt positions newer than their rows (see unsavedPositions). */
  private savePositions(): void {
    if (this.unsavedPositions.size === 0) return;
    for (const [key, reader] of this.unsavedPositions) this.writePosition(reader, this.receiptPositions.get(key)!);
    this.unsavedPositions.clear();
    this.cancelPositionSave();
  }

  private writePosition(reader: Address, position: { delivered_up_to: number; read_up_to: number }): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO receipts (account_id, device_id, delivered_up_to, read_up_to) VALUES (?, ?, ?, ?)`,
      reader.account_id,
      reader.device_id,
      position.delivered_up_to,
      position.read_up_to,
    );
  }

  /**
   * Writes the unsaved receipt positions after RECEIPT_POSITION_SAVE_MS unless a write of this
   * object takes them first (in a busy chat, the next send's), which cancels the timer: a timer
   * that fires is one more event, so only a quiet chat pays for one. One timer at a time.
   */
  private savePositionsSoon(): void {
    if (this.positionSave) return;
    this.ctx.waitUntil(
      new Promise<void>((done) => {
        const timer = setTimeout(() => {
          this.positionSave = null;
          done();
          try {
            if (this.unsavedPositions.size > 0) this.transaction(() => undefined);
          } catch (err) {
            logEvent("warn", "receipt_positions_save_failed", { error: describeError(err) });
          }
        }, this.positionSaveMs);
        this.positionSave = { timer, done };
      }),
    );
  }

  /** The unsaved positions were written: the deferred write has nothing left to do. */
  private cancelPositionSave(): void {
    if (!this.positionSave) return;
    clearTimeout(this.positionSave.timer);
    this.positionSave.done();
    this.positionSave = null;
  }

  /** Deletes the pending rows inboxes have taken (see `delivered`); call where this object writes anyway. */
  private dropDelivered(): void {
    for (const { address, maxId } of this.delivered.values()) {
      this.sql.exec(`DELETE FROM pending WHERE account_id = ? AND device_id = ? AND id <= ?`, address.account_id, address.device_id, maxId);
    }
    this.delivered.clear();
  }
}

/**
 * The device-set check (as Signal-Server's): the envelopes must address exactly the expected
 * devices, with the registration ids the server knows. 409 lists missing and extra devices;
 * 410 lists devices whose registration id changed (re-registered: the sender's session is stale).
 */
function checkDeviceSet(envelopes: { account_id: string; device_id: number; registration_id: number }[], expected: { account_id: string; device_id: number; registration_id: number }[]): SubmitResult | null {
  const expectedByKey = new Map(expected.map((d) => [deviceKey(d), d]));
  const given = new Map<string, { account_id: string; device_id: number; registration_id: number }>();
  const extra: Address[] = [];
  for (const e of envelopes) {
    const key = deviceKey(e);
    if (given.has(key) || !expectedByKey.has(key)) extra.push({ account_id: e.account_id, device_id: e.device_id });
    given.set(key, e);
  }
  const missing = expected.filter((d) => !given.has(deviceKey(d))).map((d) => ({ account_id: d.account_id, device_id: d.device_id }));
  if (missing.length > 0 || extra.length > 0) return { ok: false, code: "device_mismatch", missing, extra };
  const stale = envelopes
    .filter((e) => expectedByKey.get(deviceKey(e))!.registration_id !== e.registration_id)
    .map((e) => ({ account_id: e.account_id, device_id: e.device_id }));
  if (stale.length > 0) return { ok: false, code: "stale_devices", stale };
  return null;
}

/** A message row as receipts read it. */
type StoredMessage = {
  seq: number;
  msg_id: string;
  sender_account: string;
  sender_device: number;
  recipients: string;
};

/**
 * Which devices of a 1:1 message's sender get a receipt from `reader`: the sending device and the
 * sender's other devices it encrypted for; null if the reader's device was not a recipient.
 */
function directReceiptTargets(m: StoredMessage, reader: Address): Address[] | null {
  const recipients = JSON.parse(m.recipients) as RecipientList;
  if (!recipients.some(([a, d]) => a === reader.account_id && d === reader.device_id)) return null;
  const targets: Address[] = [{ account_id: m.sender_account, device_id: m.sender_device }];
  for (const [account_id, device_id] of recipients) if (account_id === m.sender_account) targets.push({ account_id, device_id });
  return targets;
}

/** Whether a member device got a group message: its account had joined before it, and does not block the sender. */
function receivedGroupMessage(group: GroupState, snapshot: DeviceSnapshot, m: StoredMessage, device: Address): boolean {
  const member = group.members.get(device.account_id);
  return member !== undefined && member.joined_seq < m.seq && !snapshot.blocks.has(blockKey(device.account_id, m.sender_account));
}

/**
 * Which devices of a group message's sender get a receipt from `reader`: every active device of the
 * sender's account (group messages keep no recipient list); null if the reader did not get the
 * message, or the sender has left the group (a former member learns nothing more about it).
 */
function groupReceiptTargets(group: GroupState, snapshot: DeviceSnapshot, m: StoredMessage, reader: Address): Address[] | null {
  if (!group.members.has(m.sender_account) || !receivedGroupMessage(group, snapshot, m, reader)) return null;
  const targets: Address[] = [{ account_id: m.sender_account, device_id: m.sender_device }];
  for (const d of snapshot.devices) if (d.account_id === m.sender_account) targets.push({ account_id: d.account_id, device_id: d.device_id });
  return targets;
}

/**
 * Who receives a group entry sent by `sender`: every active device of every current member, except
 * the sending device itself. The one place recipient filters belong (e.g. blocked accounts).
 */
export function groupFanoutRecipients(group: GroupState, devices: RegisteredDevice[], sender: Address): RegisteredDevice[] {
  return devices.filter((d) => group.members.has(d.account_id) && !(d.account_id === sender.account_id && d.device_id === sender.device_id));
}

function memberCacheKey(members: string[]): string {
  return [...members].sort().join(",");
}

function groupDeviceCacheKey(group: GroupState): string {
  return `group:${group.version}`;
}

/** A group change between its check and its apply (meta "group_intent"); see changeGroup. */
interface GroupIntent {
  actor: string;
  now: number;
  plan: Omit<GroupChangePlan, "after"> & { after: StoredGroupState };
}
