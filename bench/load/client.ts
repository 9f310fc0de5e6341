/**
 * @module The load benchmark's client: devices (registered through the real API, or synthetic for
 * the floor and for idle sockets) and a lean socket that speaks the device-socket protocol of
 * docs/API.md: connect with a cursor, wait for `queue_empty`, send `send` frames, ACK every
 * `entries` frame, and report each result and each received message with a timestamp. Both Parley
 * and the floor Worker are driven by this same code.
 */
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { randomBytes, randomUUID } from "node:crypto";
import WebSocket from "ws";
import { issueToken } from "../../src/auth/tokens";
import { ApiClient } from "../../src/client/api";
import { toBase64 } from "../../src/protocol/encoding";
import { signedPrekeySignedBytes } from "../../src/protocol/key-signatures";

export interface BenchDevice {
  accountId: string;
  registrationId: number;
  token: string;
}

/**
 * Registers one account (primary device) the way a client does: a verification code (the dev
 * sender returns it), then the account with an Ed25519 identity key and a signed X25519 prekey.
 * No one-time prekeys: nobody fetches bundles here, and they would only slow the setup.
 */
export async function registerDevice(baseUrl: string, handle: string): Promise<BenchDevice> {
  const api = new ApiClient(baseUrl);
  const started = await api.startVerification(handle);
  if (!started.dev_code) throw new Error("the server did not return a dev verification code (VERIFICATION_SENDER must be dev)");
  const identitySecret = ed25519.utils.randomSecretKey();
  const prekey = x25519.getPublicKey(x25519.utils.randomSecretKey());
  const registrationId = 1 + Math.floor(Math.random() * 0x3ffe);
  const registered = await api.register({
    verification_id: started.verification_id,
    code: started.dev_code,
    device: {
      identity_key: toBase64(ed25519.getPublicKey(identitySecret)),
      registration_id: registrationId,
      signed_prekey: { key_id: 1, public_key: toBase64(prekey), signature: toBase64(ed25519.sign(signedPrekeySignedBytes(1, prekey), identitySecret)) },
    },
  });
  return { accountId: registered.account_id, registrationId, token: registered.token };
}

/**
 * A device that exists only as a token (idle-socket figures: the inbox needs no D1 row to hold a
 * socket, and minting skips 10,000 registrations). Minted with the secret the bench gave the server.
 */
export async function mintedDevice(secret: string): Promise<BenchDevice> {
  const accountId = randomUUID();
  const { token } = await issueToken(secret, { accountId, deviceId: 1 }, 3600, Date.now());
  return { accountId, registrationId: 1, token };
}

/** The floor names a device by its token. */
export function floorDevice(): BenchDevice {
  const accountId = randomUUID();
  return { accountId, registrationId: 1, token: accountId };
}

/** 256 random bytes in base64, as ciphertext looks to the server; a pool, so making them costs nothing per message. */
const PAYLOADS = Array.from({ length: 64 }, () => randomBytes(256).toString("base64"));
let payloadIndex = 0;

export function sendFrame(msgId: string, to: BenchDevice): string {
  const content = PAYLOADS[payloadIndex++ % PAYLOADS.length]!;
  return JSON.stringify({
    type: "send",
    req_id: msgId,
    message: { to: to.accountId, msg_id: msgId, envelopes: [{ account_id: to.accountId, device_id: 1, registration_id: to.registrationId, type: "message", content }] },
  });
}

export interface SocketEvents {
  /** The `result` frame of a send (status 200 is the ack). */
  result(msgId: string, status: number, at: number): void;
  /** A message entry arrived at this device. */
  message(msgId: string, at: number): void;
  /** Any entry arrived at this device (messages, group events, receipts), for callers that check more than messages. */
  entry?(entry: ReceivedEntry, at: number): void;
}

/** What a socket client sees of an inbox entry. */
export interface ReceivedEntry {
  seq: number;
  kind: string;
  chat_id?: string;
  chat_seq?: number;
  msg_id?: string;
}

interface EntryFrame {
  type: string;
  req_id?: string;
  status?: number;
  entries?: ReceivedEntry[];
}

export class BenchSocket {
  /** Highest inbox seq received: the cursor to ACK and to reconnect with. */
  cursor: number;
  private events: SocketEvents | null = null;
  private closing = false;
  /** When the upgrade completed (performance.now()); the backlog follows on the open socket. */
  openedAt: number | undefined;

  private constructor(
    private readonly ws: WebSocket,
    cursor: number,
  ) {
    this.cursor = cursor;
  }

  /** Opens the device's socket and resolves once the backlog is drained (`queue_empty`). */
  static open(socketBase: string, device: BenchDevice, cursor: number, events: SocketEvents | null = null): Promise<BenchSocket> {
    const url = `${socketBase.replace(/^http/, "ws")}/v1/socket?token=${encodeURIComponent(device.token)}&cursor=${cursor}`;
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const socket = new BenchSocket(ws, cursor);
    socket.events = events;
    ws.once("open", () => (socket.openedAt = performance.now()));
    return new Promise((resolve, reject) => {
      // `on`, not `once`: ws may emit a second error (a refused upgrade), which would crash the run.
      ws.on("error", reject);
      // A refused upgrade: say what the server answered (status and error body), not just "Unexpected server response".
      ws.on("unexpected-response", (req, res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk.slice(0, 2000 - body.length)));
        res.on("end", () => {
          reject(new Error(`upgrade refused: HTTP ${res.statusCode} ${body.trim().slice(0, 500)}`));
          req.destroy();
        });
      });
      ws.on("message", (data: Buffer) => {
        if (socket.onFrame(data.toString())) resolve(socket);
      });
      ws.once("close", (code) => {
        reject(new Error(`socket closed (${code}) before queue_empty`));
        // A phase waiting on this socket would otherwise only end at its timeout.
        if (!socket.closing) console.error(`socket of ${device.accountId} closed by the server (${code})`);
      });
    });
  }

  setEvents(events: SocketEvents | null): void {
    this.events = events;
  }

  send(frame: string): void {
    this.ws.send(frame);
  }

  ping(): Promise<void> {
    return new Promise((resolve) => {
      const onMessage = (data: Buffer) => {
        if (data.toString() !== "pong") return;
        this.ws.off("message", onMessage);
        resolve();
      };
      this.ws.on("message", onMessage);
      this.ws.send("ping");
    });
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    this.closing = true;
    return new Promise((resolve) => {
      this.ws.once("close", () => resolve());
      this.ws.close(1000, "bench done");
    });
  }

  /** Handles one frame; true for `queue_empty`. ACKs every entries frame at once, as a client that persists fast. */
  private onFrame(text: string): boolean {
    if (text === "pong") return false;
    const at = performance.now();
    const frame = JSON.parse(text) as EntryFrame;
    if (frame.type === "result") {
      this.events?.result(frame.req_id!, frame.status!, at);
    } else if (frame.type === "entries") {
      for (const entry of frame.entries!) {
        if (entry.kind === "message") this.events?.message(entry.msg_id!, at);
        this.events?.entry?.(entry, at);
        this.cursor = Math.max(this.cursor, entry.seq);
      }
      this.ws.send(`{"type":"ack","cursor":${this.cursor}}`);
    } else if (frame.type === "queue_empty") {
      return true;
    }
    return false;
  }
}
