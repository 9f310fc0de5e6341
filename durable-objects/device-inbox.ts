/**
 * DeviceInbox: one Durable Object per device ("<account_id>.<device_id>"), the single writer of the
 * device's durable queue.
 *
 * Owns: the queue (SQLite `entries`, each with an inbox `seq` that only grows), the device's one
 * hibernated WebSocket, cursor ACKs (acknowledged entries become "delivered" receipts for their
 * senders and are deleted with the inbox's next write: see ackedUpTo), retention (expired or
 * overflowing entries become gap markers), the record of used authentication challenges, whether
 * the device is still active, and whether it is online for presence (a live socket with the app in
 * the foreground; reported to PresenceRoom).
 * Does not own: accounts, keys or chat order (D1 and ChatRoom). It never reads the ciphertext.
 *
 * Push (src/push/): when a message arrives and no socket is open, the inbox puts one job on the
 * `push` queue, at most one per PUSH_COALESCE_WINDOW_MS while the device stays offline; the queue
 * consumer asks back (pushDecision) before it wakes the device and records what it pushed.
 *
 * Socket protocol (docs/API.md): the client connects with its last acknowledged cursor; the inbox
 * replays everything after it in batches (at most WINDOW_ENTRIES un-acknowledged at a time), sends
 * `queue_empty`, then streams new entries live. All per-socket state is in the socket attachment so
 * the object can hibernate between frames; "ping" is answered by the runtime without waking it.
 */
import { DurableObject } from "cloudflare:workers";
import { loadConfig } from "../src/config";
import { describeError, logEvent } from "../src/log";
import type { Env } from "../src/env";
import { ApiError, errorBody, toApiError } from "../src/errors";
import { recordRead, sendDirectMessage, sendGroupMessage } from "../src/messaging/send";
import { recordMetric } from "../src/metrics";
import { SingleFlight } from "../src/single-flight";
import { TablesOnDemand } from "../src/tables-on-demand";
import { ClientFrame, MAX_FRAME_BYTES, PING_FRAME, PONG_FRAME, type ServerFrameBody } from "../src/protocol/frames";
import { PUSH_COALESCE_WINDOW_MS } from "../src/limits";
import { chatRoomStub, presenceRoomStub } from "../src/placement";
import {
  Address as AddressSchema,
  parseEnqueueInput,
  QuotaInput,
  type InboxEntryInputBody,
  type QuotaInputBody,
  type QuotaResult,
} from "../src/protocol/internal";
import { PushJob, type PushJobBody } from "../src/protocol/push";
import { isGroupChat } from "../src/protocol/chat-ids";

/** Why the push consumer should (or should not) wake the device for a job. */
export type PushDecision = "push" | "removed" | "online" | "acknowledged" | "already_pushed";

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  // AUTOINCREMENT: a seq is never reused, even after the newest entries are deleted, so a cursor
  // always means the same position.
  `CREATE TABLE IF NOT EXISTS entries (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     kind TEXT NOT NULL,
     dedupe_key TEXT UNIQUE,
     coalesce_key TEXT,
     chat_id TEXT NOT NULL,
     chat_seq INTEGER,
     sender_account TEXT,
     sender_device INTEGER,
     body TEXT NOT NULL,
     bytes INTEGER NOT NULL,
     expires_at INTEGER)`,
  `CREATE INDEX IF NOT EXISTS entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS entries_coalesce ON entries (coalesce_key) WHERE coalesce_key IS NOT NULL`,
  // The highest position of each 1:1 chat this inbox has taken. A ChatRoom hands a device its
  // entries in seq order and deletes what an inbox took only with its next write, so after a
  // restart it sends some again, possibly after the device ACKed (and so deleted) them.
  `CREATE TABLE IF NOT EXISTS direct_seen (chat_id TEXT PRIMARY KEY, up_to_seq INTEGER NOT NULL) WITHOUT ROWID`,
  // "delivered" receipts owed to chats, kept until their ChatRoom has them.
  `CREATE TABLE IF NOT EXISTS outgoing_receipts (chat_id TEXT PRIMARY KEY, up_to_seq INTEGER NOT NULL)`,
];

/** Tables only some devices use, created when first written (src/tables-on-demand.ts). */
const TABLES_ON_DEMAND = {
  // Auth challenge nonces seen (consumeAuthNonce).
  auth_nonces: [`CREATE TABLE IF NOT EXISTS auth_nonces (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)`],
  // Group chat positions this inbox has ever taken (until retention ends): a fanout batch redelivered
  // after the device ACKed (and so deleted) the entry must not queue it again.
  group_seen: [
    `CREATE TABLE IF NOT EXISTS group_seen (
       chat_id TEXT NOT NULL,
       chat_seq INTEGER NOT NULL,
       expires_at INTEGER NOT NULL,
       PRIMARY KEY (chat_id, chat_seq)) WITHOUT ROWID`,
    `CREATE INDEX IF NOT EXISTS group_seen_expiry ON group_seen (expires_at)`,
  ],
  // Exact per-device abuse counters (consumeQuota): one fixed window per quota, and for distinct
  // counting the targets seen in the current window.
  quotas: [
    `CREATE TABLE IF NOT EXISTS quotas (name TEXT PRIMARY KEY, window_start INTEGER NOT NULL, used INTEGER NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS quota_targets (name TEXT NOT NULL, target TEXT NOT NULL, PRIMARY KEY (name, target))`,
  ],
} as const;

/** Close codes: 4000 replaced by a newer connection of the same device; 4403 device removed. */
export const CLOSE_REPLACED = 4000;
export const CLOSE_DEVICE_REMOVED = 4403;

/** Entries sent but not yet acknowledged, at most: bounds memory on both ends during replay. */
const WINDOW_ENTRIES = 1000;
/** Entries per frame, and bytes per frame (framing overhead vs. head-of-line blocking). */
const BATCH_ENTRIES = 200;
const BATCH_BYTES = 512 * 1024;
/** Retry delay for delivered receipts a ChatRoom did not take. */
const RECEIPT_RETRY_MS = 5000;
/**
 * The alarm armed when receipts become owed, for the case where this object stops before its
 * DELIVERED_RECEIPT_DELAY_MS timer fires. A live object flushes on its timer and arms
 * RECEIPT_RETRY_MS itself when a ChatRoom refuses; a backstop of a few seconds made every busy
 * inbox run its alarm that often.
 */
export const RECEIPT_BACKSTOP_MS = 30_000;
/**
 * Presence liveness: a foreground socket whose last ping (runtime auto-response timestamp) or frame
 * is older than DEAD_AFTER_MS is closed as dead. Checked every LIVENESS_CHECK_MS while a foreground
 * socket exists, so a silently dead connection turns offline within DEAD_AFTER_MS + LIVENESS_CHECK_MS
 * (90 s; clients ping every 25 s).
 */
export const LIVENESS_CHECK_MS = 30_000;
export const DEAD_AFTER_MS = 60_000;
export const CLOSE_DEAD = 4408;

/** Who is connected and how far the stream has got; survives hibernation with the socket. */
interface SocketState {
  account_id: string;
  device_id: number;
  /** Highest seq the device has acknowledged on this connection. */
  acked: number;
  /** Highest seq sent on this connection. */
  sent: number;
  /** When the last entries frame went out (ack latency metric); absent on connections older than it. */
  sent_at?: number;
  /** false while replaying the backlog; true once `queue_empty` was sent. */
  live: boolean;
  /** The app says it is in the foreground: the device counts as online (presence). */
  foreground: boolean;
  /** When the last frame (not counting auto-answered pings) arrived, or the connection opened. */
  heard_at: number;
}

interface Address {
  account_id: string;
  device_id: number;
}

export class DeviceInbox extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly tables: TablesOnDemand<keyof typeof TABLES_ON_DEMAND>;
  /** When the alarm is armed (null: not armed; undefined: not read since this wake). */
  private alarmAt: number | null | undefined = undefined;
  /** Entry count and byte total, rebuilt from storage on every wake. */
  private count: number;
  private bytes: number;
  /** Whether the device was removed (undefined: not read since this wake). Only deactivate() sets it. */
  private removedFlag: boolean | undefined = undefined;
  private readonly receiptFlush = new SingleFlight(() => this.flushReceiptsRound());
  /** meta "address" (read by every receipt flush; written only through setMeta): undefined until read. */
  private addressCache: string | null | undefined = undefined;
  /** Owed receipts (chat -> up_to_seq) their ChatRoom took, whose rows are not deleted yet; memory only. */
  private readonly confirmedReceipts = new Map<string, number>();
  /** A delayed receipt flush is waiting (scheduleReceiptFlush); memory only. */
  private receiptFlushScheduled = false;
  /**
   * The highest cursor the device ACKed whose entries are not deleted yet. An ACK writes nothing:
   * its own commit was one of a message's three to four, and local workerd fsyncs every commit,
   * stopping the whole process. The receipts it owes are kept in `owedReceipts` and sent from
   * there; the entries are deleted with this inbox's next write (settleAcks: the next enqueue, the
   * socket's close, a new connection, the alarm), which also writes down any owed receipt no
   * ChatRoom has taken yet. Memory only: after a restart the entries are still stored and the
   * socket's attachment (or the device's connect cursor) still says what was ACKed, so they are
   * settled then and their receipts sent again (a ChatRoom ignores an up_to_seq it has). What a
   * restart can cost: a replay of ACKed entries to a device that connects without its cursor (the
   * SDK always sends it; clients deduplicate); and if the restart also dropped the socket, until
   * the device reconnects its ACKed entries count toward the caps and retention as unACKed ones (an
   * overflow or expiry before then reports them as a gap and their receipt is not sent). Never a
   * lost entry.
   */
  private ackedUpTo = 0;
  /** "delivered" receipts owed by ACKs not settled yet (chat -> up_to_seq), until a ChatRoom takes them; memory only. */
  private readonly owedReceipts = new Map<string, number>();
  /** The highest up_to_seq per chat a ChatRoom took from this inbox since this wake (owedReceipts need not repeat it). */
  private readonly receiptsTaken = new Map<string, number>();
  /**
   * At least the seq of every stored entry (seqs only grow), so the pump after an ACK, which
   * usually finds nothing new, knows so without a statement: the highest assigned, read once per
   * wake and raised by each insert. A rolled-back insert leaves it too high, which costs the pumps
   * a SELECT each until an insert reaches it again; it is never too low.
   */
  private seqBound: number | undefined = undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    for (const statement of SCHEMA) this.sql.exec(statement);
    this.tables = new TablesOnDemand(this.sql, TABLES_ON_DEMAND);
    const totals = this.sql.exec<{ n: number; b: number }>(`SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b FROM entries`).one();
    this.count = totals.n;
    this.bytes = totals.b;
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  // ---- device state -------------------------------------------------------------------------

  private meta(key: string): string | null {
    if (key === "address" && this.addressCache !== undefined) return this.addressCache;
    const value = this.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = ?`, key).toArray()[0]?.value ?? null;
    if (key === "address") this.addressCache = value;
    return value;
  }

  private setMeta(key: string, value: string): void {
    this.sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, key, value);
    if (key === "address") this.addressCache = value;
  }

  /** Read once per wake: every enqueue asks, and it profiled at ~3% of the isolate under load. */
  private get removed(): boolean {
    this.removedFlag ??= this.meta("removed") !== null;
    return this.removedFlag;
  }

  /** Records an auth challenge nonce; false if seen before (replay) or the device was removed. */
  consumeAuthNonce(nonce: string, expiresAt: number): boolean {
    if (this.removed) return false;
    this.tables.create("auth_nonces");
    this.sql.exec(`DELETE FROM auth_nonces WHERE expires_at <= ?`, Date.now());
    return this.sql.exec(`INSERT OR IGNORE INTO auth_nonces (nonce, expires_at) VALUES (?, ?)`, nonce, expiresAt).rowsWritten > 0;
  }

  /** The device was removed: close its socket, drop everything stored, refuse it from now on. */
  async deactivate(): Promise<void> {
    for (const ws of this.ctx.getWebSockets()) this.closeSocket(ws, CLOSE_DEVICE_REMOVED, "device removed", false);
    this.ctx.storage.transactionSync(() => {
      this.sql.exec(`DELETE FROM entries`);
      if (this.tables.exists("auth_nonces")) this.sql.exec(`DELETE FROM auth_nonces`);
      this.sql.exec(`DELETE FROM outgoing_receipts`);
      if (this.tables.exists("group_seen")) this.sql.exec(`DELETE FROM group_seen`);
      this.sql.exec(`DELETE FROM direct_seen`);
      this.sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('removed', ?)`, String(Date.now()));
    });
    this.removedFlag = true;
    this.count = 0;
    this.bytes = 0;
    this.ackedUpTo = 0;
    this.owedReceipts.clear();
    await this.ctx.storage.deleteAlarm();
    this.alarmAt = null;
  }

  /** The push-token routes keep this in step with D1: whether this device can be woken by a push. */
  setPushRegistered(registered: boolean): void {
    if (registered) this.setMeta("push_token", "1");
    else this.sql.exec(`DELETE FROM meta WHERE key = 'push_token'`);
  }

  isActive(): boolean {
    return !this.removed;
  }

  /**
   * The account was deleted: close the socket and delete every byte this object stored (tables,
   * alarm). The instance answers as a removed device from then on; nothing re-creates storage
   * unless a fanout queued before the deletion still arrives (see docs/OPERATIONS.md).
   */
  async purge(): Promise<void> {
    for (const ws of this.ctx.getWebSockets()) this.closeSocket(ws, CLOSE_DEVICE_REMOVED, "account deleted", false);
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.tables.forget();
    this.addressCache = null;
    this.confirmedReceipts.clear();
    this.ackedUpTo = 0;
    this.owedReceipts.clear();
    this.removedFlag = true;
    this.alarmAt = null;
    this.count = 0;
    this.bytes = 0;
  }

  // ---- exact per-device quotas (issue 11) ---------------------------------------------------------

  /**
   * Counts one use of a quota against this device, in a fixed window; refuses (with the time until
   * the window ends) once `limit` is reached. Synchronous SQL only, so two concurrent calls can
   * never both take the last unit. A refused use costs nothing.
   */
  consumeQuota(raw: QuotaInputBody): QuotaResult {
    const input = QuotaInput.parse(raw);
    if (this.removed) return { ok: false, removed: true };
    const now = Date.now();
    const windowStart = now - (now % input.window_ms);
    const retryAfterMs = windowStart + input.window_ms - now;
    this.tables.create("quotas");
    const row = this.sql.exec<{ window_start: number; used: number }>(`SELECT window_start, used FROM quotas WHERE name = ?`, input.name).toArray()[0];
    let used = row && row.window_start === windowStart ? row.used : 0;
    if (row && row.window_start !== windowStart) this.sql.exec(`DELETE FROM quota_targets WHERE name = ?`, input.name);
    if (input.target !== undefined) {
      const seen = this.sql.exec(`SELECT 1 FROM quota_targets WHERE name = ? AND target = ?`, input.name, input.target).toArray().length > 0;
      if (seen) return { ok: true, remaining: Math.max(0, input.limit - used) };
    }
    if (used + input.cost > input.limit) return { ok: false, retry_after_ms: retryAfterMs };
    used += input.cost;
    this.sql.exec(`INSERT OR REPLACE INTO quotas (name, window_start, used) VALUES (?, ?, ?)`, input.name, windowStart, used);
    if (input.target !== undefined) this.sql.exec(`INSERT INTO quota_targets (name, target) VALUES (?, ?)`, input.name, input.target);
    return { ok: true, remaining: input.limit - used };
  }

  // ---- the queue ------------------------------------------------------------------------------

  /**
   * Appends entries (from a ChatRoom's fanout). Idempotent: a message already queued (same chat and
   * chat_seq) is not queued twice. Returns once the entries are durable (the output gate holds the
   * RPC reply until the write is committed), then pushes them to a live socket, or schedules a push
   * notification when there is none. `address` is this device's own address (the inbox otherwise
   * only learns it from the socket), needed to address the push job.
   */
  async enqueue(raw: InboxEntryInputBody[], rawAddress?: Address): Promise<void> {
    if (this.removed) return; // A removed device's messages have nowhere to go.
    const entries = parseEnqueueInput(raw);
    const address = rawAddress === undefined ? undefined : AddressSchema.parse(rawAddress);
    const now = Date.now();
    const retentionMs = loadConfig(this.env).inboxRetentionDays * 24 * 3600 * 1000;
    let messageAdded = false;
    // Before the transaction: a CREATE that rolled back with it would leave `tables` wrong.
    if (entries.some((e) => e.kind !== "receipt" && isGroupChat(e.chat_id))) this.tables.create("group_seen");
    this.ctx.storage.transactionSync(() => {
      // The socket's record too: after a restart it is the only one of what was ACKed, and the
      // caps below must not drop ACKed entries as overflow.
      this.settleAcks(this.highestOnSocket("acked"));
      for (const entry of entries) {
        if (entry.kind === "receipt") {
          this.insertReceipt(entry, now + retentionMs);
          continue;
        }
        if (isGroupChat(entry.chat_id) ? !this.firstSightOfGroupEntry(entry.chat_id, entry.chat_seq, now + retentionMs) : !this.firstSightOfDirectEntry(entry.chat_id, entry.chat_seq)) continue;
        const added = this.insertEntry(entry, {
          dedupeKey: `m:${entry.chat_id}:${entry.chat_seq}`,
          chatSeq: entry.chat_seq,
          ...(entry.kind === "message" ? { sender: entry.sender } : {}),
          expiresAt: now + retentionMs,
        });
        if (entry.kind === "message") messageAdded = added || messageAdded;
      }
      this.enforceCaps(now);
    });
    recordMetric(this.env, { name: "inbox_depth", entries: this.count, bytes: this.bytes });
    await this.ensureAlarm(now + retentionMs);
    this.pumpAll();
    // Receipts alone never wake a phone: they can wait until the app next opens.
    if (messageAdded) await this.schedulePush(now, address);
  }

  private insertEntry(
    entry: InboxEntryInputBody | GapEntry,
    opts: { dedupeKey?: string; coalesceKey?: string; chatSeq?: number; sender?: Address; expiresAt: number | null },
  ): boolean {
    const body = JSON.stringify(entry);
    const inserted = this.sql.exec<{ seq: number }>(
      `INSERT OR IGNORE INTO entries (kind, dedupe_key, coalesce_key, chat_id, chat_seq, sender_account, sender_device, body, bytes, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
      entry.kind,
      opts.dedupeKey ?? null,
      opts.coalesceKey ?? null,
      entry.chat_id,
      opts.chatSeq ?? null,
      opts.sender?.account_id ?? null,
      opts.sender?.device_id ?? null,
      body,
      body.length,
      opts.expiresAt,
    ).toArray()[0];
    if (!inserted) return false;
    this.count++;
    this.bytes += body.length;
    if (this.seqBound !== undefined) this.seqBound = Math.max(this.seqBound, inserted.seq);
    return true;
  }

  /**
   * Records that this inbox took a group chat position; false if it already had (the entry may
   * since have been ACKed and deleted). Group fanout comes through a retried queue, so entries
   * can arrive twice long after the first copy left; 1:1 fanout is ordered and deduped by `entries`.
   */
  private firstSightOfGroupEntry(chatId: string, chatSeq: number, expiresAt: number): boolean {
    return this.sql.exec(`INSERT OR IGNORE INTO group_seen (chat_id, chat_seq, expires_at) VALUES (?, ?, ?)`, chatId, chatSeq, expiresAt).rowsWritten > 0;
  }

  /** Whether a 1:1 chat position is new to this inbox (see direct_seen); records it if so. */
  private firstSightOfDirectEntry(chatId: string, chatSeq: number): boolean {
    return (
      this.sql.exec(
        `INSERT INTO direct_seen (chat_id, up_to_seq) VALUES (?, ?)
         ON CONFLICT (chat_id) DO UPDATE SET up_to_seq = excluded.up_to_seq WHERE excluded.up_to_seq > direct_seen.up_to_seq`,
        chatId,
        chatSeq,
      ).rowsWritten > 0
    );
  }

  /** Receipts coalesce: a newer receipt for the same chat, reader and status replaces older ones. */
  private insertReceipt(entry: Extract<InboxEntryInputBody, { kind: "receipt" }>, expiresAt: number): void {
    const coalesceKey = `r:${entry.chat_id}:${entry.reader.account_id}.${entry.reader.device_id}:${entry.status}`;
    const older = this.sql
      .exec<{ seq: number; body: string; bytes: number }>(`SELECT seq, body, bytes FROM entries WHERE coalesce_key = ?`, coalesceKey)
      .toArray();
    let merged = entry;
    for (const old of older) {
      const previous = JSON.parse(old.body) as typeof entry;
      if (previous.up_to_seq > merged.up_to_seq) merged = { ...merged, up_to_seq: previous.up_to_seq };
      merged = { ...merged, msg_ids: [...new Set([...previous.msg_ids, ...merged.msg_ids])].slice(-100) };
      this.deleteEntry(old.seq, old.bytes);
    }
    this.insertEntry(merged, { coalesceKey, expiresAt });
  }

  private deleteEntry(seq: number, bytes: number): void {
    this.sql.exec(`DELETE FROM entries WHERE seq = ?`, seq);
    this.count--;
    this.bytes -= bytes;
  }

  /**
   * Overflow policy: past the entry or byte cap, the oldest message entries are dropped and
   * reported to the device as gap markers (reason "overflow"), so it knows what it missed.
   */
  private enforceCaps(now: number): void {
    const { inboxMaxEntries, inboxMaxBytes } = loadConfig(this.env);
    if (this.count <= inboxMaxEntries && this.bytes <= inboxMaxBytes) return;
    const victims: { seq: number; chat_id: string; sender_account: string; sender_device: number; bytes: number }[] = [];
    let count = this.count;
    let bytes = this.bytes;
    // Each distinct chat and sender among the victims becomes one gap marker: leave room for them.
    const markers = new Set<string>();
    for (const row of this.sql.exec<(typeof victims)[number]>(
      `SELECT seq, chat_id, sender_account, sender_device, bytes FROM entries WHERE kind = 'message' ORDER BY seq`,
    )) {
      if (count + markers.size <= inboxMaxEntries && bytes <= inboxMaxBytes) break;
      victims.push(row);
      markers.add(`${row.chat_id}:${row.sender_account}.${row.sender_device}`);
      count--;
      bytes -= row.bytes;
    }
    this.dropAsGaps(victims, "overflow", now);
  }

  /** Deletes message entries and queues one gap marker per chat and sender for them. */
  private dropAsGaps(
    victims: { seq: number; chat_id: string; sender_account: string; sender_device: number; bytes: number }[],
    reason: "expired" | "overflow",
    now: number,
  ): void {
    const gaps = new Map<string, GapEntry>();
    for (const v of victims) {
      this.deleteEntry(v.seq, v.bytes);
      const key = `g:${v.chat_id}:${v.sender_account}.${v.sender_device}:${reason}`;
      const gap = gaps.get(key);
      if (gap) gap.count++;
      else {
        gaps.set(key, {
          kind: "gap",
          chat_id: v.chat_id,
          sender: { account_id: v.sender_account, device_id: v.sender_device },
          count: 1,
          reason,
          server_ts: now,
        });
      }
    }
    const sent = this.highestOnSocket("sent");
    for (const [coalesceKey, gap] of gaps) {
      // Merge into an earlier marker for the same chat and sender if the device has not seen it yet.
      const unsent = this.sql
        .exec<{ seq: number; body: string; bytes: number }>(`SELECT seq, body, bytes FROM entries WHERE coalesce_key = ? AND seq > ?`, coalesceKey, sent)
        .toArray();
      for (const old of unsent) {
        gap.count += (JSON.parse(old.body) as GapEntry).count;
        this.deleteEntry(old.seq, old.bytes);
      }
      // Gap markers do not expire: they are the record that something did.
      this.insertEntry(gap, { coalesceKey, expiresAt: null });
    }
  }

  // ---- push notifications ---------------------------------------------------------------------------

  /**
   * Whether a socket can take the entries now (foreground or background: either way it receives
   * them). A socket that stopped pinging is half-open (the phone lost coverage): it does not count,
   * so the device still gets its push.
   */
  private hasLiveSocket(): boolean {
    const now = Date.now();
    return this.ctx.getWebSockets().some((ws) => {
      const state = ws.deserializeAttachment() as SocketState | null;
      return state !== null && this.socketAlive(ws, state, now);
    });
  }

  /**
   * Puts a push job on the queue unless the device is online or one was scheduled within the
   * coalescing window. A failed send is logged and frees the window, so the next message retries:
   * a push is best effort and must never fail the delivery that triggered it.
   */
  private async schedulePush(now: number, given: Address | undefined): Promise<void> {
    if (this.hasLiveSocket()) return;
    // A device that registered no push token has nothing to wake (a web client without push, a
    // CLI): no job, rather than a queue message and a D1 lookup per delivery burst.
    if (this.meta("push_token") === null) return;
    const stored = this.meta("address");
    if (given && stored !== JSON.stringify(given)) this.setMeta("address", JSON.stringify(given));
    const address = given ?? (stored ? AddressSchema.parse(JSON.parse(stored)) : null);
    if (!address) {
      logEvent("warn", "push_no_address");
      return;
    }
    const last = Number(this.meta("push_scheduled_at") ?? 0);
    if (now - last < PUSH_COALESCE_WINDOW_MS) return;
    // Check-and-set before the await: sending to the queue opens the input gate, and an enqueue
    // running meanwhile must already see the window as taken.
    const stamp = String(now);
    this.setMeta("push_scheduled_at", stamp);
    const job: PushJobBody = { ...address, up_to_seq: this.lastAssignedSeq() };
    try {
      await this.env.PUSH_QUEUE.send(job);
    } catch (err) {
      logEvent("warn", "push_schedule_failed", { error: describeError(err) });
      if (this.meta("push_scheduled_at") === stamp) this.sql.exec(`DELETE FROM meta WHERE key = 'push_scheduled_at'`);
    }
  }

  /**
   * Asked by the push consumer before it wakes the device for a job: not if the device was
   * removed or is online, not if everything up to the job's seq was ACKed (the app already pulled),
   * not if a push at or beyond that seq was already sent (a redelivered or retried job).
   */
  pushDecision(rawUpToSeq: number): PushDecision {
    const upToSeq = PushJob.shape.up_to_seq.parse(rawUpToSeq);
    if (this.removed) return "removed";
    if (this.hasLiveSocket()) return "online";
    if (Number(this.meta("pushed_seq") ?? 0) >= upToSeq) return "already_pushed";
    const pending = this.sql.exec(`SELECT 1 FROM entries WHERE seq > ? AND seq <= ? AND kind = 'message' LIMIT 1`, this.ackedUpTo, upToSeq).toArray().length > 0;
    return pending ? "push" : "acknowledged";
  }

  /** Records that the device was woken for everything up to `upToSeq` (idempotence of retries). */
  recordPushed(rawUpToSeq: number): void {
    const upToSeq = PushJob.shape.up_to_seq.parse(rawUpToSeq);
    if (Number(this.meta("pushed_seq") ?? 0) < upToSeq) this.setMeta("pushed_seq", String(upToSeq));
  }

  // ---- alarm: expiry and receipt retries ---------------------------------------------------------

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

  override async alarm(): Promise<void> {
    this.alarmAt = null; // This alarm has fired; whatever is needed next is armed below.
    const now = Date.now();
    // ACKed entries first, so none of them expires into a gap marker for what the device has.
    this.ctx.storage.transactionSync(() => this.settleAcks(this.highestOnSocket("acked")));
    const expired = this.sql
      .exec<{ seq: number; kind: string; chat_id: string; sender_account: string; sender_device: number; bytes: number }>(
        `SELECT seq, kind, chat_id, sender_account, sender_device, bytes FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY seq`,
        now,
      )
      .toArray();
    if (expired.length > 0) {
      this.ctx.storage.transactionSync(() => {
        for (const e of expired) if (e.kind !== "message") this.deleteEntry(e.seq, e.bytes);
        this.dropAsGaps(expired.filter((e) => e.kind === "message"), "expired", now);
      });
      this.pumpAll();
    }
    const groupSeen = this.tables.exists("group_seen");
    if (groupSeen) this.sql.exec(`DELETE FROM group_seen WHERE expires_at <= ?`, now);
    await this.flushReceipts();
    const foreground = this.checkLiveness(now);
    const nextEntry = this.sql.exec<{ t: number | null }>(`SELECT MIN(expires_at) AS t FROM entries WHERE expires_at IS NOT NULL`).one().t;
    const nextSeen = groupSeen ? this.sql.exec<{ t: number | null }>(`SELECT MIN(expires_at) AS t FROM group_seen`).one().t : null;
    const next = Math.min(nextEntry ?? Infinity, nextSeen ?? Infinity);
    this.dropConfirmedReceipts();
    const receiptsOwed = this.owedReceipts.size > 0 || this.sql.exec(`SELECT 1 FROM outgoing_receipts LIMIT 1`).toArray().length > 0;
    const at = Math.min(next, receiptsOwed ? now + RECEIPT_BACKSTOP_MS : Infinity, foreground ? now + LIVENESS_CHECK_MS : Infinity);
    if (at !== Infinity) await this.ensureAlarm(at);
  }

  // ---- the socket ----------------------------------------------------------------------------------

  /**
   * WebSocket upgrade, forwarded by the Worker after it authenticated the token; the Worker sets
   * x-parley-account / x-parley-device (clients cannot reach this object directly).
   */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return errorJson(new ApiError("upgrade_required", "expected a WebSocket upgrade"));
    if (this.removed) return errorJson(new ApiError("device_removed", "this device was removed"));
    const account = request.headers.get("x-parley-account");
    const device = Number(request.headers.get("x-parley-device"));
    if (!account || !Number.isInteger(device)) return errorJson(new ApiError("unauthorized", "missing device identity"));
    this.setMeta("address", JSON.stringify({ account_id: account, device_id: device }));
    // The device is pulling now: the next message after it goes offline again deserves a push.
    this.sql.exec(`DELETE FROM meta WHERE key = 'push_scheduled_at'`);

    const cursorParam = new URL(request.url).searchParams.get("cursor") ?? "0";
    if (!/^[0-9]{1,15}$/.test(cursorParam)) return errorJson(new ApiError("invalid_request", "cursor must be a non-negative integer"));
    const cursor = Math.min(Number(cursorParam), this.lastAssignedSeq());

    // One connection per device: a new one replaces the old (which stops counting as online).
    for (const ws of this.ctx.getWebSockets()) this.closeSocket(ws, CLOSE_REPLACED, "replaced by a newer connection");

    const address = { account_id: account, device_id: device };
    // This upgrade writes anyway (the address above): the cursor's ACK is settled in the same commit.
    this.acknowledge(cursor, address);
    this.ctx.storage.transactionSync(() => this.settleAcks());
    const pair = new WebSocketPair();
    const server = pair[1];
    this.ctx.acceptWebSocket(server);
    const state: SocketState = { ...address, acked: cursor, sent: cursor, live: false, foreground: false, heard_at: Date.now() };
    server.serializeAttachment(state);
    this.pump(server, state);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const state = ws.deserializeAttachment() as SocketState | null;
    if (!state) return closeQuietly(ws, 1011, "lost state");
    if (typeof message !== "string") return this.sendError(ws, new ApiError("invalid_request", "frames are JSON text"));
    if (message.length > MAX_FRAME_BYTES) return this.sendError(ws, new ApiError("payload_too_large", `frames are at most ${MAX_FRAME_BYTES} bytes`));
    let json: unknown;
    try {
      json = JSON.parse(message);
    } catch {
      return this.sendError(ws, new ApiError("malformed_json", "frame is not valid JSON"));
    }
    const parsed = ClientFrame.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return this.sendError(ws, new ApiError("invalid_request", `invalid frame: ${issue ? `${issue.path.join(".") || "(root)"}: ${issue.message}` : "unknown"}`));
    }
    const frame = parsed.data;
    const principal = { accountId: state.account_id, deviceId: state.device_id };
    state.heard_at = Date.now();
    ws.serializeAttachment(state);
    switch (frame.type) {
      case "app_state": {
        const foreground = frame.state === "foreground";
        if (foreground === state.foreground) return;
        state.foreground = foreground;
        ws.serializeAttachment(state);
        this.announce(state, foreground);
        if (foreground) await this.ensureAlarm(Date.now() + LIVENESS_CHECK_MS);
        return;
      }
      case "ack": {
        const cursor = Math.min(frame.cursor, state.sent);
        if (cursor > state.acked) {
          if (cursor === state.sent && state.sent_at !== undefined) {
            recordMetric(this.env, { name: "ack", latencyMs: Date.now() - state.sent_at, entries: cursor - state.acked });
          }
          this.acknowledge(cursor, state);
          state.acked = cursor;
          ws.serializeAttachment(state);
        }
        this.pump(ws, state);
        return;
      }
      case "send":
        return this.answer(ws, frame.req_id, async () => [200, await sendDirectMessage(this.env, principal, frame.message, `socket:${frame.req_id}`)]);
      case "group_send":
        return this.answer(ws, frame.req_id, async () => [200, await sendGroupMessage(this.env, principal, frame.chat_id, frame.message, `socket:${frame.req_id}`)]);
      case "read":
        return this.answer(ws, frame.req_id, async () => {
          await recordRead(this.env, principal, frame.chat_id, frame.up_to_seq);
          return [200, {}];
        });
    }
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.closeSocket(ws, code === 1005 ? 1000 : code, reason);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.closeSocket(ws, 1011, "socket error");
  }

  /**
   * Closes a socket, settling what it ACKed (its attachment is the one record of that which
   * outlives a restart) unless everything stored is about to go (`settle` false: removal, purge);
   * if it made the device online, tells the account's presence object.
   */
  private closeSocket(ws: WebSocket, code: number, reason: string, settle = true): void {
    const state = ws.deserializeAttachment() as SocketState | null;
    if (settle && state && state.acked > 0 && !this.removed) this.ctx.storage.transactionSync(() => this.settleAcks(state.acked));
    if (state?.foreground) {
      state.foreground = false;
      ws.serializeAttachment(state);
      this.announce(state, false);
    }
    closeQuietly(ws, code, reason);
  }

  /** Reports this device online/offline to its account's PresenceRoom (best effort, not awaited). */
  private announce(device: Address, online: boolean): void {
    this.ctx.waitUntil(
      presenceRoomStub(this.env, `a:${device.account_id}`)
        .setDeviceOnline(device.account_id, device.device_id, online)
        .catch((err) => logEvent("warn", "presence_update_failed", { error: describeError(err) })),
    );
  }

  private socketAlive(ws: WebSocket, state: SocketState, now: number): boolean {
    const pinged = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
    return ws.readyState === WebSocket.OPEN && now - Math.max(pinged, state.heard_at) <= DEAD_AFTER_MS;
  }

  /** Whether the device is online now: a live socket with the app in the foreground. */
  isOnline(): boolean {
    const now = Date.now();
    return this.ctx.getWebSockets().some((ws) => {
      const state = ws.deserializeAttachment() as SocketState | null;
      return state !== null && state.foreground && this.socketAlive(ws, state, now);
    });
  }

  /** Closes foreground sockets that stopped pinging; true if a live foreground socket remains. */
  private checkLiveness(now: number): boolean {
    let foreground = false;
    for (const ws of this.ctx.getWebSockets()) {
      const state = ws.deserializeAttachment() as SocketState | null;
      if (!state?.foreground) continue;
      if (this.socketAlive(ws, state, now)) foreground = true;
      else this.closeSocket(ws, CLOSE_DEAD, "no keep-alive");
    }
    return foreground;
  }

  /** Runs a request made over the socket and answers with the status/body HTTP would give. */
  private async answer(ws: WebSocket, reqId: string, run: () => Promise<[number, ResultBody]>): Promise<void> {
    let frame: ServerFrameBody;
    try {
      const [status, body] = await run();
      frame = { type: "result", req_id: reqId, status, body };
    } catch (err) {
      const apiError = toApiError(err);
      frame = { type: "result", req_id: reqId, status: apiError.status, body: errorBody(apiError) };
    }
    sendQuietly(ws, JSON.stringify(frame));
  }

  private sendError(ws: WebSocket, error: ApiError): void {
    sendQuietly(ws, JSON.stringify({ type: "error", error: errorBody(error).error } satisfies ServerFrameBody));
  }

  /**
   * The device has every entry up to `cursor`: remembered (ackedUpTo), and each chat whose messages
   * from other accounts were among them owes a "delivered" receipt, kept in memory and sent after
   * DELIVERED_RECEIPT_DELAY_MS. Reads only: the entries go with the next write (settleAcks).
   */
  private acknowledge(cursor: number, self: Address): void {
    if (cursor <= this.ackedUpTo) return;
    const from = this.ackedUpTo;
    this.ackedUpTo = cursor;
    let owed = false;
    const covered = this.sql.exec<{ chat_id: string; up_to: number }>(
      `SELECT chat_id, MAX(chat_seq) AS up_to FROM entries
       WHERE seq > ? AND seq <= ? AND kind = 'message' AND chat_seq IS NOT NULL AND sender_account <> ? GROUP BY chat_id`,
      from,
      cursor,
      self.account_id,
    );
    for (const { chat_id, up_to } of covered) {
      if (up_to <= Math.max(this.owedReceipts.get(chat_id) ?? 0, this.receiptsTaken.get(chat_id) ?? 0)) continue;
      this.owedReceipts.set(chat_id, up_to);
      owed = true;
    }
    if (owed) this.scheduleReceiptFlush();
  }

  /**
   * Deletes the entries ACKed up to `ackedUpTo` (or `alsoUpTo`, a socket's own record) and writes
   * down the "delivered" receipts they owe that no ChatRoom has taken yet, so deleting never loses
   * one. Call inside a transaction this inbox commits anyway. The taken owed receipts whose rows
   * the ChatRoom confirmed go too (dropConfirmedReceipts).
   */
  private settleAcks(alsoUpTo = 0): void {
    this.dropConfirmedReceipts();
    const upTo = Math.max(this.ackedUpTo, alsoUpTo);
    if (upTo <= 0) return;
    const rawAddress = this.meta("address");
    const self = rawAddress ? (JSON.parse(rawAddress) as Address).account_id : null;
    const owed = new Map(this.owedReceipts);
    const removed = this.sql.exec<{ kind: string; chat_id: string; chat_seq: number | null; sender_account: string | null; bytes: number }>(
      `DELETE FROM entries WHERE seq <= ? RETURNING kind, chat_id, chat_seq, sender_account, bytes`,
      upTo,
    );
    for (const row of removed) {
      this.count--;
      this.bytes -= row.bytes;
      if (row.kind !== "message" || row.sender_account === self || row.chat_seq === null) continue;
      owed.set(row.chat_id, Math.max(owed.get(row.chat_id) ?? 0, row.chat_seq));
    }
    let written = false;
    for (const [chatId, upToSeq] of owed) {
      if (upToSeq <= (this.receiptsTaken.get(chatId) ?? 0)) continue;
      this.sql.exec(
        `INSERT INTO outgoing_receipts (chat_id, up_to_seq) VALUES (?, ?)
         ON CONFLICT (chat_id) DO UPDATE SET up_to_seq = MAX(up_to_seq, excluded.up_to_seq)`,
        chatId,
        upToSeq,
      );
      written = true;
    }
    this.ackedUpTo = 0;
    this.owedReceipts.clear();
    if (written) this.scheduleReceiptFlush();
  }

  /**
   * Hands the owed receipts over after DELIVERED_RECEIPT_DELAY_MS, so the ACKs of that window share
   * one round (one RPC per chat instead of one per ACK). The alarm is armed as a backstop in case
   * this object restarts before the timer fires: it sends the rows written down, and settles what
   * an open socket's attachment says was ACKed (which writes down the receipts it owes).
   */
  private scheduleReceiptFlush(): void {
    const delayMs = loadConfig(this.env).deliveredReceiptDelayMs;
    if (delayMs === 0) {
      this.ctx.waitUntil(this.flushReceipts());
      return;
    }
    if (this.receiptFlushScheduled) return;
    this.receiptFlushScheduled = true;
    const flushed = new Promise<void>((resolve) => setTimeout(resolve, delayMs)).then(() => {
      this.receiptFlushScheduled = false;
      return this.flushReceipts();
    });
    this.ctx.waitUntil(Promise.all([flushed, this.ensureAlarm(Date.now() + RECEIPT_BACKSTOP_MS)]));
  }

  /**
   * Hands owed "delivered" receipts to their ChatRooms; what fails stays for the alarm. Single-flight:
   * ACKs that arrive while a round is in flight (one per entries frame under load) make it run once
   * more, instead of each sending every owed receipt again while the first calls are still out.
   */
  private flushReceipts(): Promise<void> {
    return this.receiptFlush.run();
  }

  private async flushReceiptsRound(): Promise<void> {
    const rawAddress = this.meta("address");
    if (!rawAddress) return;
    const reader = JSON.parse(rawAddress) as Address;
    // Per chat, the highest receipt owed: written down (a row, `stored`) or only in memory.
    const owed = new Map<string, { upTo: number; stored: number | null }>();
    for (const row of this.sql.exec<{ chat_id: string; up_to_seq: number }>(`SELECT chat_id, up_to_seq FROM outgoing_receipts`)) {
      if (this.confirmedReceipts.get(row.chat_id) === row.up_to_seq) continue;
      // Written down while the same receipt was on its way from memory: already taken.
      if (row.up_to_seq <= (this.receiptsTaken.get(row.chat_id) ?? 0)) this.confirmedReceipts.set(row.chat_id, row.up_to_seq);
      else owed.set(row.chat_id, { upTo: row.up_to_seq, stored: row.up_to_seq });
    }
    for (const [chatId, upTo] of this.owedReceipts) {
      const known = owed.get(chatId);
      if (known) known.upTo = Math.max(known.upTo, upTo);
      else owed.set(chatId, { upTo, stored: null });
    }
    let failed = false;
    await Promise.all(
      [...owed].map(async ([chat_id, { upTo: up_to_seq, stored }]) => {
        try {
          await chatRoomStub(this.env, chat_id).recordReceipt({ reader, status: "delivered", up_to_seq });
          // A row goes with the next write (dropConfirmedReceipts), not in a commit of its own: if
          // this object restarts first, the receipt is sent again and the ChatRoom ignores it.
          if (stored !== null) this.confirmedReceipts.set(chat_id, stored);
          this.receiptsTaken.set(chat_id, Math.max(this.receiptsTaken.get(chat_id) ?? 0, up_to_seq));
          if ((this.owedReceipts.get(chat_id) ?? Infinity) <= up_to_seq) this.owedReceipts.delete(chat_id);
        } catch (err) {
          failed = true;
          logEvent("warn", "receipt_flush_failed", { chat_id, error: describeError(err) });
        }
      }),
    );
    if (failed) await this.ensureAlarm(Date.now() + RECEIPT_RETRY_MS);
  }

  /** Deletes the owed receipts their ChatRoom has taken (call where the inbox writes anyway). */
  private dropConfirmedReceipts(): void {
    for (const [chatId, upToSeq] of this.confirmedReceipts) {
      this.sql.exec(`DELETE FROM outgoing_receipts WHERE chat_id = ? AND up_to_seq = ?`, chatId, upToSeq);
    }
    this.confirmedReceipts.clear();
  }

  private lastAssignedSeq(): number {
    return this.sql.exec<{ seq: number }>(`SELECT seq FROM sqlite_sequence WHERE name = 'entries'`).toArray()[0]?.seq ?? 0;
  }

  /**
   * The highest seq the live connection was sent, or has ACKed (0 without one). Read from the
   * socket's attachment, which survives a restart of this object.
   */
  private highestOnSocket(position: "sent" | "acked"): number {
    let highest = 0;
    for (const ws of this.ctx.getWebSockets()) {
      const state = ws.deserializeAttachment() as SocketState | null;
      if (state) highest = Math.max(highest, state[position]);
    }
    return highest;
  }

  /** The oldest entry of a frame entered the inbox one retention period before it expires. */
  private recordDeliver(oldestExpiresAt: number | null, entries: number, now: number): void {
    if (oldestExpiresAt === null) return; // Gap markers never expire and say nothing about waiting.
    const enqueuedAt = oldestExpiresAt - loadConfig(this.env).inboxRetentionDays * 24 * 3600 * 1000;
    recordMetric(this.env, { name: "deliver", waitMs: Math.max(0, now - enqueuedAt), entries });
  }

  private pumpAll(): void {
    for (const ws of this.ctx.getWebSockets()) {
      const state = ws.deserializeAttachment() as SocketState | null;
      if (state) this.pump(ws, state);
    }
  }

  /**
   * Sends entries after `state.sent` while fewer than WINDOW_ENTRIES are unacknowledged; when the
   * backlog is exhausted for the first time, sends `queue_empty`. Synchronous: reads are consumed
   * before any other event can run, and sends are ordered.
   */
  private pump(ws: WebSocket, state: SocketState): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    let changed = false;
    let exhausted = false;
    while (!exhausted) {
      // seq numbers only grow, so sent - acked bounds the entries in flight: count them only when
      // the bound could shrink this round's room (a live stream never gets near the window).
      const inFlightBound = state.sent - state.acked;
      const inFlight =
        inFlightBound <= WINDOW_ENTRIES - BATCH_ENTRIES
          ? 0
          : this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM entries WHERE seq > ? AND seq <= ?`, state.acked, state.sent).one().n;
      const room = Math.min(WINDOW_ENTRIES - inFlight, BATCH_ENTRIES);
      if (room <= 0) break;
      this.seqBound ??= this.lastAssignedSeq();
      const rows =
        state.sent >= this.seqBound
          ? []
          : this.sql
              // `+?`: a bare bound LIMIT would recompile the statement on every run (test/node/sql-statements.test.ts).
              .exec<{ seq: number; body: string; expires_at: number | null }>(`SELECT seq, body, expires_at FROM entries WHERE seq > ? ORDER BY seq LIMIT +?`, state.sent, room)
              .toArray();
      // Fewer rows than asked for: nothing more is queued (no await in this loop), so no second,
      // empty SELECT is needed to learn that the backlog is exhausted.
      exhausted = rows.length < room;
      let frameBytes = 0;
      const parts: string[] = [];
      for (const row of rows) {
        if (parts.length > 0 && frameBytes + row.body.length > BATCH_BYTES) {
          exhausted = false; // The rest of these rows goes in the next frame.
          break;
        }
        // Splice the seq into the stored JSON instead of parsing and re-serialising the envelope.
        parts.push(`{"seq":${row.seq},${row.body.slice(1)}`);
        frameBytes += row.body.length;
        state.sent = row.seq;
      }
      if (parts.length > 0) {
        changed = true;
        sendQuietly(ws, `{"type":"entries","entries":[${parts.join(",")}]}`);
        state.sent_at = Date.now();
        this.recordDeliver(rows[0]!.expires_at, parts.length, state.sent_at);
      }
      if (exhausted && !state.live) {
        state.live = true;
        changed = true;
        sendQuietly(ws, JSON.stringify({ type: "queue_empty", cursor: state.sent } satisfies ServerFrameBody));
      }
    }
    if (changed) ws.serializeAttachment(state);
  }
}

type ResultBody = Extract<ServerFrameBody, { type: "result" }>["body"];

type GapEntry = {
  kind: "gap";
  chat_id: string;
  sender: Address;
  count: number;
  reason: "expired" | "overflow";
  server_ts: number;
};

function errorJson(error: ApiError): Response {
  return Response.json(errorBody(error), { status: error.status });
}

function sendQuietly(ws: WebSocket, data: string): void {
  try {
    ws.send(data);
  } catch {
    // The peer went away; the entries stay queued and are replayed on the next connection.
  }
}

function closeQuietly(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // Already closing or closed.
  }
}
