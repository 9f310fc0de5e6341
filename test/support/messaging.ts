/**
 * Test helpers for delivery: opaque "ciphertext" envelopes (the server never decrypts, so random
 * bytes are exactly what it sees), sends over HTTP, and a WebSocket client for a device's inbox
 * that collects frames and can wait for them.
 */
import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import type { DeviceInbox } from "../../durable-objects/device-inbox";
import { toBase64 } from "../../src/protocol/encoding";
import type { ServerFrameBody } from "../../src/protocol/frames";
import type { InboxEntryBody } from "../../src/protocol/messages";
import { call, type JsonResponse } from "./identity";

export interface Addressable {
  accountId: string;
  deviceId: number;
  token: string;
  keys?: { registration_id: number };
}

export interface Recipient {
  accountId: string;
  deviceId: number;
  registrationId: number;
}

let msgCounter = 0;
export function newMsgId(): string {
  msgCounter++;
  return `msg-${msgCounter.toString().padStart(6, "0")}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Deterministic per (msg, device) so a test can check each device got its own envelope. */
export function fakeCiphertext(msgId: string, recipient: { accountId: string; deviceId: number }): string {
  return toBase64(new TextEncoder().encode(`ct:${msgId}:${recipient.accountId}.${recipient.deviceId}`));
}

export function envelopesFor(msgId: string, recipients: Recipient[], type: "prekey" | "message" = "message") {
  return recipients.map((r) => ({
    account_id: r.accountId,
    device_id: r.deviceId,
    registration_id: r.registrationId,
    type,
    content: fakeCiphertext(msgId, r),
  }));
}

export function asRecipient(device: { accountId: string; deviceId: number; keys: { registration_id: number } }): Recipient {
  return { accountId: device.accountId, deviceId: device.deviceId, registrationId: device.keys.registration_id };
}

/** `extra`: more fields of the send body (e.g. media_ids). */
export async function send(from: Addressable, to: string, recipients: Recipient[], msgId = newMsgId(), extra: Record<string, unknown> = {}): Promise<JsonResponse> {
  return call("POST", "/v1/messages", { token: from.token, body: { to, msg_id: msgId, envelopes: envelopesFor(msgId, recipients), ...extra } });
}

/**
 * The cursor a device's inbox has taken an ACK for and not settled yet (an ACK writes nothing; its
 * entries go with the inbox's next write: device-inbox.ts `ackedUpTo`), 0 when none is pending.
 */
export function ackTakenUpTo(device: { accountId: string; deviceId: number }): Promise<number> {
  return runInDurableObject(inboxOf(device), (instance: DeviceInbox) => (instance as unknown as InboxAckMemory).ackedUpTo);
}

/** What an inbox keeps of unsettled ACKs in memory only (device-inbox.ts), for tests that play a restart. */
interface InboxAckMemory {
  ackedUpTo: number;
  owedReceipts: Map<string, number>;
}

/**
 * Forgets what the inbox holds in memory about ACKs, as an eviction does, while its socket stays
 * open (abortAllDurableObjects would drop the socket too).
 */
export function forgetInboxAcks(device: { accountId: string; deviceId: number }): Promise<void> {
  return runInDurableObject(inboxOf(device), (instance: DeviceInbox) => {
    const memory = instance as unknown as InboxAckMemory;
    memory.ackedUpTo = 0;
    memory.owedReceipts.clear();
  });
}

/** A device's inbox object (its name as src/inbox.ts gives it). */
export function inboxOf(device: { accountId: string; deviceId: number }) {
  return env.DEVICE_INBOX.getByName(`${device.accountId}.${device.deviceId}`);
}

/**
 * Runs `body` while calls to `device`'s inbox `enqueue` go through `intercept`, which may refuse
 * (throw), hold, or `proceed` with the real call; other inboxes are untouched. RPC finds methods on
 * the class, not the instance, so this patches DeviceInbox's prototype (and restores it).
 */
export async function withInboxEnqueue<T>(
  device: { accountId: string; deviceId: number },
  intercept: (proceed: () => Promise<void>) => Promise<void>,
  body: () => Promise<T>,
): Promise<T> {
  const prototype = await runInDurableObject(inboxOf(device), (instance: DeviceInbox) => Object.getPrototypeOf(instance) as DeviceInbox);
  const enqueue = prototype.enqueue;
  prototype.enqueue = function (this: DeviceInbox, raw, address) {
    const proceed = () => enqueue.call(this, raw, address);
    return address?.account_id === device.accountId && address.device_id === device.deviceId ? intercept(proceed) : proceed();
  };
  try {
    return await body();
  } finally {
    prototype.enqueue = enqueue;
  }
}

/** A WebSocket to the Worker that records every JSON frame it receives and can wait for them. */
export class TestSocket<F> {
  readonly frames: F[] = [];
  closed: { code: number; reason: string } | null = null;
  private listeners: (() => void)[] = [];

  protected constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (event) => {
      const text = typeof event.data === "string" ? event.data : "";
      if (text !== "pong") this.frames.push(JSON.parse(text) as F);
      this.notify();
    });
    ws.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.notify();
    });
  }

  /** Upgrades `path` (token in the query), or returns the refusal (status and JSON body). */
  protected static async upgrade(path: string, token: string | null, params: Record<string, string> = {}): Promise<WebSocket | { status: number; body: any }> {
    const query = new URLSearchParams(params);
    if (token !== null) query.set("token", token);
    const res = await exports.default.fetch(`http://parley.test${path}?${query}`, { headers: { upgrade: "websocket" } });
    if (!res.webSocket) return { status: res.status, body: await res.json() };
    res.webSocket.accept();
    return res.webSocket;
  }

  private notify(): void {
    const listeners = this.listeners;
    this.listeners = [];
    for (const l of listeners) l();
  }

  /** Waits until `predicate` holds over what was received so far. */
  async until(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(this.frames).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        this.listeners.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  sendFrame(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  close(): void {
    try {
      this.ws.close(1000, "test done");
    } catch {
      // already closed
    }
  }
}

/** A device's inbox socket. */
export class InboxSocket extends TestSocket<ServerFrameBody> {
  static async open(device: { token: string }, cursor?: number): Promise<InboxSocket> {
    const socket = await InboxSocket.connect(device.token, cursor);
    if (!(socket instanceof InboxSocket)) throw new Error(`upgrade refused: ${socket.status} ${JSON.stringify(socket.body)}`);
    return socket;
  }

  /** Connects, or returns the refusal (status and JSON body) when the upgrade is not accepted. */
  static async connect(token: string | null, cursor?: number): Promise<InboxSocket | { status: number; body: any }> {
    const ws = await TestSocket.upgrade("/v1/socket", token, cursor === undefined ? {} : { cursor: String(cursor) });
    return ws instanceof WebSocket ? new InboxSocket(ws) : ws;
  }

  entries(): InboxEntryBody[] {
    return this.frames.flatMap((f) => (f.type === "entries" ? f.entries : []));
  }

  messages() {
    return this.entries().filter((e): e is Extract<InboxEntryBody, { kind: "message" }> => e.kind === "message");
  }

  receipts() {
    return this.entries().filter((e): e is Extract<InboxEntryBody, { kind: "receipt" }> => e.kind === "receipt");
  }

  gaps() {
    return this.entries().filter((e): e is Extract<InboxEntryBody, { kind: "gap" }> => e.kind === "gap");
  }

  /** The `error` frames received (malformed frames). */
  errors() {
    return this.frames.flatMap((f) => (f.type === "error" ? [f.error] : []));
  }

  queueEmpty(): boolean {
    return this.frames.some((f) => f.type === "queue_empty");
  }

  /** Waits for the backlog replay to finish (queue_empty) and returns the entries received. */
  async drain(): Promise<InboxEntryBody[]> {
    await this.until(() => this.queueEmpty(), "queue_empty");
    return this.entries();
  }

  ack(cursor: number): void {
    this.sendFrame({ type: "ack", cursor });
  }

  /** Sends a request frame and waits for its result frame. */
  async request(frame: { type: "send" | "group_send" | "read"; [k: string]: unknown }): Promise<Extract<ServerFrameBody, { type: "result" }>> {
    const reqId = `req-${crypto.randomUUID()}`;
    this.sendFrame({ ...frame, req_id: reqId });
    let result: Extract<ServerFrameBody, { type: "result" }> | undefined;
    await this.until(() => {
      result = this.frames.find((f): f is Extract<ServerFrameBody, { type: "result" }> => f.type === "result" && f.req_id === reqId);
      return result !== undefined;
    }, `result of ${reqId}`);
    return result!;
  }

}
