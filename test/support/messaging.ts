/**
 * Test helpers for delivery: opaque "ciphertext" envelopes (the server never decrypts, so random
 * bytes are exactly what it sees), sends over HTTP, and a WebSocket client for a device's inbox
 * that collects frames and can wait for them.
 */
import { exports } from "cloudflare:workers";
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

export async function send(from: Addressable, to: string, recipients: Recipient[], msgId = newMsgId()): Promise<JsonResponse> {
  return call("POST", "/v1/messages", { token: from.token, body: { to, msg_id: msgId, envelopes: envelopesFor(msgId, recipients) } });
}

/** A device's inbox socket, recording every frame it receives. */
export class InboxSocket {
  readonly frames: ServerFrameBody[] = [];
  readonly raw: string[] = [];
  closed: { code: number; reason: string } | null = null;
  private listeners: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (event) => {
      const text = typeof event.data === "string" ? event.data : "";
      this.raw.push(text);
      if (text !== "pong") this.frames.push(JSON.parse(text) as ServerFrameBody);
      this.notify();
    });
    ws.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.notify();
    });
  }

  static async open(device: { token: string }, cursor?: number): Promise<InboxSocket> {
    const socket = await InboxSocket.connect(device.token, cursor);
    if (!(socket instanceof InboxSocket)) throw new Error(`upgrade refused: ${socket.status} ${JSON.stringify(socket.body)}`);
    return socket;
  }

  /** Connects, or returns the refusal (status and JSON body) when the upgrade is not accepted. */
  static async connect(token: string | null, cursor?: number): Promise<InboxSocket | { status: number; body: any }> {
    const params = new URLSearchParams();
    if (token !== null) params.set("token", token);
    if (cursor !== undefined) params.set("cursor", String(cursor));
    const res = await exports.default.fetch(`http://parley.test/v1/socket?${params}`, { headers: { upgrade: "websocket" } });
    if (!res.webSocket) return { status: res.status, body: await res.json() };
    res.webSocket.accept();
    return new InboxSocket(res.webSocket);
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

  queueEmpty(): boolean {
    return this.frames.some((f) => f.type === "queue_empty");
  }

  /** Waits for the backlog replay to finish (queue_empty) and returns the entries received. */
  async drain(): Promise<InboxEntryBody[]> {
    await this.until(() => this.queueEmpty(), "queue_empty");
    return this.entries();
  }

  sendFrame(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  ack(cursor: number): void {
    this.sendFrame({ type: "ack", cursor });
  }

  /** Sends a request frame and waits for its result frame. */
  async request(frame: { type: "send" | "read"; [k: string]: unknown }): Promise<Extract<ServerFrameBody, { type: "result" }>> {
    const reqId = `req-${crypto.randomUUID()}`;
    this.sendFrame({ ...frame, req_id: reqId });
    let result: Extract<ServerFrameBody, { type: "result" }> | undefined;
    await this.until(() => {
      result = this.frames.find((f): f is Extract<ServerFrameBody, { type: "result" }> => f.type === "result" && f.req_id === reqId);
      return result !== undefined;
    }, `result of ${reqId}`);
    return result!;
  }

  close(): void {
    try {
      this.ws.close(1000, "test done");
    } catch {
      // already closed
    }
  }
}
