/**
 * The load benchmark's floor: what the platform alone costs for Parley's delivery shapes, driven by
 * the same client code as the real server (same socket URL, same `send` / `result` / `entries` /
 * `ack` / `queue_empty` frames). No auth, no validation, no receipts, no idempotency.
 *
 * - `/memory/v1/socket?token=<name>`: one DO (Hub) holds every socket and relays a send to the
 *   recipient's socket from memory: the cost of sockets, JSON and one DO event per frame.
 * - `/durable/v1/socket?token=<name>&cursor=<n>`: one DO (Box) per device, as DeviceInbox; a send
 *   is an RPC from the sender's Box to the recipient's, which inserts one SQLite row, pushes it to
 *   its socket and returns; then the sender gets its result. On connect a Box replays its rows
 *   after the cursor (for the offline-drain figure). Acks are ignored: rows are never deleted.
 * - `/room/v1/socket?token=<name>&cursor=<n>`: the steps Parley's design takes for a 1:1 message and
 *   its "delivered" receipt (docs/API.md "Receipts"), each as cheap as the platform allows: the
 *   sender's Box calls the chat's DO (Chat, one per pair), which inserts one row (the chat's order
 *   and idempotency record) and calls the recipient's Box (one insert, pushed live); the recipient's
 *   ACK owes a receipt, which its Box sends RECEIPT_DELAY_MS later to the Chat, which looks up the
 *   covered messages and hands a receipt entry to the sender's Box (one insert, pushed live). Three
 *   commits and four RPCs, as Parley; no auth, validation, dedupe, caps, alarms or retries.
 *
 * A device is named by its token; `to` in a send names the recipient (one device per account).
 */
import { DurableObject } from "cloudflare:workers";

interface Env {
  HUB: DurableObjectNamespace<Hub>;
  BOX: DurableObjectNamespace<Box>;
  CHAT: DurableObjectNamespace<Chat>;
}

/** The part of a client `send` frame the floor reads; the rest passes through untouched. */
interface SendFrame {
  type: "send";
  req_id: string;
  message: { to: string; msg_id: string; envelopes: { type: string; content: string }[] };
}

/** Replay frames carry at most this many entries (as DeviceInbox's BATCH_ENTRIES). */
const REPLAY_BATCH = 200;
/** How long a Box collects the receipts its device's ACKs owe before sending them (Parley's DELIVERED_RECEIPT_DELAY_MS default). */
const RECEIPT_DELAY_MS = 250;

/** The chat of two devices: the same name whichever of them sends. */
function chatName(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

function entryJson(sender: string, frame: SendFrame, chatSeq: number, now: number, chatId = "floor"): string {
  const envelope = frame.message.envelopes[0]!;
  return JSON.stringify({
    kind: "message",
    chat_id: chatId,
    chat_seq: chatSeq,
    msg_id: frame.message.msg_id,
    sender: { account_id: sender, device_id: 1 },
    server_ts: now,
    type: envelope.type,
    content: envelope.content,
  });
}

function resultJson(frame: SendFrame, chatSeq: number, now: number): string {
  const body = { chat_id: "floor", msg_id: frame.message.msg_id, chat_seq: chatSeq, server_ts: now, duplicate: false };
  return JSON.stringify({ type: "result", req_id: frame.req_id, status: 200, body });
}

/** Entry JSON without its seq -> an `entries` frame of one entry with the seq spliced in. */
function entriesFrame(rows: { seq: number; body: string }[]): string {
  return `{"type":"entries","entries":[${rows.map((r) => `{"seq":${r.seq},${r.body.slice(1)}`).join(",")}]}`;
}

function upgrade(accept: (server: WebSocket) => void): Response {
  const pair = new WebSocketPair();
  accept(pair[1]);
  return new Response(null, { status: 101, webSocket: pair[0] });
}

export class Hub extends DurableObject<Env> {
  private seq = 0;

  override async fetch(request: Request): Promise<Response> {
    const name = new URL(request.url).searchParams.get("token") ?? "";
    for (const old of this.ctx.getWebSockets(name)) old.close(4000, "replaced");
    return upgrade((server) => {
      this.ctx.acceptWebSocket(server, [name]);
      server.send(JSON.stringify({ type: "queue_empty", cursor: 0 }));
    });
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    const frame = JSON.parse(String(message)) as SendFrame | { type: "ack" };
    if (frame.type !== "send") return;
    const sender = this.ctx.getTags(ws)[0] ?? "";
    const now = Date.now();
    const seq = ++this.seq;
    const entry = entryJson(sender, frame, seq, now);
    for (const peer of this.ctx.getWebSockets(frame.message.to)) peer.send(entriesFrame([{ seq, body: entry }]));
    ws.send(resultJson(frame, seq, now));
  }
}

export class Box extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Room mode: the chat message entries pushed and not yet ACKed, by entry seq (memory only). */
  private readonly unacked = new Map<number, { chat: string; chatSeq: number }>();
  /** Room mode: per chat, the highest chat_seq an ACK covered whose receipt is not sent yet. */
  private readonly owedReceipts = new Map<string, number>();
  private receiptTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS entries (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)`);
  }

  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const name = url.searchParams.get("token") ?? "";
    const cursor = Number(url.searchParams.get("cursor") ?? "0");
    const mode = url.pathname.startsWith("/room/") ? "room" : "durable";
    for (const old of this.ctx.getWebSockets()) old.close(4000, "replaced");
    return upgrade((server) => {
      this.ctx.acceptWebSocket(server, [name, mode]);
      const rows = this.sql.exec<{ seq: number; body: string }>(`SELECT seq, body FROM entries WHERE seq > ? ORDER BY seq`, cursor).toArray();
      for (let i = 0; i < rows.length; i += REPLAY_BATCH) server.send(entriesFrame(rows.slice(i, i + REPLAY_BATCH)));
      server.send(JSON.stringify({ type: "queue_empty", cursor: rows.at(-1)?.seq ?? cursor }));
    });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const frame = JSON.parse(String(message)) as SendFrame | { type: "ack"; cursor: number };
    // The two-DO floor ignores ACKs (nothing is ever unacked there), as it did before the room floor.
    if (frame.type === "ack") return this.unacked.size === 0 ? undefined : this.acknowledge(this.ctx.getTags(ws)[0] ?? "", frame.cursor);
    const [sender = "", mode] = this.ctx.getTags(ws);
    const now = Date.now();
    if (mode === "room") {
      const chat = chatName(sender, frame.message.to);
      const chatSeq = await this.env.CHAT.getByName(chat).relay(chat, sender, frame, now);
      ws.send(resultJson(frame, chatSeq, now));
      return;
    }
    const seq = await this.env.BOX.getByName(frame.message.to).deliver(entryJson(sender, frame, 0, now));
    ws.send(resultJson(frame, seq, now));
  }

  /** Stores one entry (one SQLite insert, committed before the reply) and pushes it live; `message` marks a chat message whose ACK owes a receipt. */
  deliver(body: string, message?: { chat: string; chatSeq: number }): number {
    const seq = this.sql.exec<{ seq: number }>(`INSERT INTO entries (body) VALUES (?) RETURNING seq`, body).one().seq;
    if (message) this.unacked.set(seq, message);
    for (const ws of this.ctx.getWebSockets()) ws.send(entriesFrame([{ seq, body }]));
    return seq;
  }

  /** Room mode: the receipts an ACK owes, sent together RECEIPT_DELAY_MS later (rows stay: the floor never deletes). */
  private acknowledge(reader: string, cursor: number): void {
    for (const [seq, { chat, chatSeq }] of this.unacked) {
      if (seq > cursor) continue;
      this.unacked.delete(seq);
      this.owedReceipts.set(chat, Math.max(this.owedReceipts.get(chat) ?? 0, chatSeq));
    }
    if (this.owedReceipts.size === 0 || this.receiptTimer) return;
    this.receiptTimer = setTimeout(() => {
      this.receiptTimer = null;
      const owed = [...this.owedReceipts];
      this.owedReceipts.clear();
      this.ctx.waitUntil(Promise.all(owed.map(([chat, upTo]) => this.env.CHAT.getByName(chat).receipt(chat, reader, upTo))));
    }, RECEIPT_DELAY_MS);
  }
}

/**
 * Room mode's chat: orders the pair's messages (one insert each, the record a receipt needs) and
 * turns a reader's "delivered up to" into receipt entries for the senders. Reader positions in memory.
 */
export class Chat extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private lastSeq: number;
  private readonly delivered = new Map<string, number>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY, msg_id TEXT NOT NULL, sender TEXT NOT NULL)`);
    this.lastSeq = this.sql.exec<{ seq: number | null }>(`SELECT max(seq) AS seq FROM messages`).one().seq ?? 0;
  }

  /** Orders one message, hands it to the recipient's Box and returns its chat_seq once stored there. */
  async relay(chat: string, sender: string, frame: SendFrame, now: number): Promise<number> {
    const chatSeq = ++this.lastSeq;
    this.sql.exec(`INSERT INTO messages (seq, msg_id, sender) VALUES (?, ?, ?)`, chatSeq, frame.message.msg_id, sender);
    await this.env.BOX.getByName(frame.message.to).deliver(entryJson(sender, frame, chatSeq, now, chat), { chat, chatSeq });
    return chatSeq;
  }

  /** A reader has everything up to `upTo`: one receipt entry to each sender of newly covered messages. */
  async receipt(chat: string, reader: string, upTo: number): Promise<void> {
    const from = this.delivered.get(reader) ?? 0;
    if (upTo <= from) return;
    const covered = this.sql
      .exec<{ msg_id: string; sender: string }>(`SELECT msg_id, sender FROM messages WHERE seq > ? AND seq <= ? AND sender != ? ORDER BY seq`, from, upTo, reader)
      .toArray();
    const bySender = new Map<string, string[]>();
    for (const m of covered) bySender.set(m.sender, [...(bySender.get(m.sender) ?? []), m.msg_id]);
    const now = Date.now();
    await Promise.all(
      [...bySender].map(([sender, msgIds]) => {
        const entry = { kind: "receipt", chat_id: chat, status: "delivered", reader: { account_id: reader, device_id: 1 }, up_to_seq: upTo, msg_ids: msgIds, server_ts: now };
        return this.env.BOX.getByName(sender).deliver(JSON.stringify(entry));
      }),
    );
    this.delivered.set(reader, Math.max(this.delivered.get(reader) ?? 0, upTo));
  }
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/health") return new Response("ok");
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
    if (url.pathname === "/memory/v1/socket") return env.HUB.getByName("hub").fetch(request);
    if (url.pathname === "/durable/v1/socket" || url.pathname === "/room/v1/socket") return env.BOX.getByName(url.searchParams.get("token") ?? "").fetch(request);
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<Env>;
