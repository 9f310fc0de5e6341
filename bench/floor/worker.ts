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
 *
 * A device is named by its token; `to` in a send names the recipient (one device per account).
 */
import { DurableObject } from "cloudflare:workers";

interface Env {
  HUB: DurableObjectNamespace<Hub>;
  BOX: DurableObjectNamespace<Box>;
}

/** The part of a client `send` frame the floor reads; the rest passes through untouched. */
interface SendFrame {
  type: "send";
  req_id: string;
  message: { to: string; msg_id: string; envelopes: { type: string; content: string }[] };
}

/** Replay frames carry at most this many entries (as DeviceInbox's BATCH_ENTRIES). */
const REPLAY_BATCH = 200;

function entryJson(sender: string, frame: SendFrame, chatSeq: number, now: number): string {
  const envelope = frame.message.envelopes[0]!;
  return JSON.stringify({
    kind: "message",
    chat_id: "floor",
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

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS entries (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)`);
  }

  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const name = url.searchParams.get("token") ?? "";
    const cursor = Number(url.searchParams.get("cursor") ?? "0");
    for (const old of this.ctx.getWebSockets()) old.close(4000, "replaced");
    return upgrade((server) => {
      this.ctx.acceptWebSocket(server, [name]);
      const rows = this.sql.exec<{ seq: number; body: string }>(`SELECT seq, body FROM entries WHERE seq > ? ORDER BY seq`, cursor).toArray();
      for (let i = 0; i < rows.length; i += REPLAY_BATCH) server.send(entriesFrame(rows.slice(i, i + REPLAY_BATCH)));
      server.send(JSON.stringify({ type: "queue_empty", cursor: rows.at(-1)?.seq ?? cursor }));
    });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const frame = JSON.parse(String(message)) as SendFrame | { type: "ack" };
    if (frame.type !== "send") return;
    const sender = this.ctx.getTags(ws)[0] ?? "";
    const now = Date.now();
    const seq = await this.env.BOX.getByName(frame.message.to).deliver(entryJson(sender, frame, 0, now));
    ws.send(resultJson(frame, seq, now));
  }

  /** Stores one entry (one SQLite insert, committed before the reply) and pushes it live. */
  deliver(body: string): number {
    const seq = this.sql.exec<{ seq: number }>(`INSERT INTO entries (body) VALUES (?) RETURNING seq`, body).one().seq;
    for (const ws of this.ctx.getWebSockets()) ws.send(entriesFrame([{ seq, body }]));
    return seq;
  }
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/health") return new Response("ok");
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
    if (url.pathname === "/memory/v1/socket") return env.HUB.getByName("hub").fetch(request);
    if (url.pathname === "/durable/v1/socket") return env.BOX.getByName(url.searchParams.get("token") ?? "").fetch(request);
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<Env>;
