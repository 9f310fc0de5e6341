/**
 * @module The device's one WebSocket to its inbox: connect with the stored cursor, hand each batch
 * of entries to the consumer in order, ACK a batch only after the consumer has processed and
 * persisted it, keep the connection alive, and reconnect with exponential backoff and jitter.
 * Knows nothing about encryption. The WebSocket constructor is injected (browsers and Workers have
 * one; Node 20 passes the `ws` package's).
 */
import { PING_FRAME, PONG_FRAME, ServerFrame } from "../protocol/frames";
import { backoffDelay } from "./backoff";
import type { InboxEntryBody } from "../protocol/messages";

/** The subset of the WebSocket API used here (browser, Workers and `ws` all provide it). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Close codes from the server (durable-objects/device-inbox.ts) after which reconnecting is wrong. */
const CLOSE_REPLACED = 4000;
const CLOSE_DEVICE_REMOVED = 4403;

export interface InboxConnectionOptions {
  WebSocket: WebSocketConstructor;
  /** The socket URL for a cursor, with a fresh token. */
  url(cursor: number): Promise<string>;
  /** The last cursor whose entries were processed and persisted. */
  cursor(): Promise<number>;
  /** Processes and persists entries (in order); the connection ACKs them when this resolves. */
  onEntries(entries: InboxEntryBody[]): Promise<void>;
  onQueueEmpty?(): void;
  /** Called on every (re)connect: frames that set connection state (e.g. app_state) go here. */
  onOpen?(send: (frame: object) => void): void;
  onStateChange?(state: "connecting" | "open" | "closed"): void;
  /** Terminal: replaced by another connection of this device, or the device was removed. */
  onTerminated?(reason: "replaced" | "device_removed"): void;
  onError?(error: Error): void;
  /** Backoff: first delay, cap (ms). */
  backoff?: { initialMs: number; maxMs: number };
  /** Keep-alive ping interval (ms); the connection is presumed dead after two missed pongs. */
  pingIntervalMs?: number;
  random?: () => number;
}

export class InboxConnection {
  private ws: WebSocketLike | null = null;
  private stopped = false;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastHeard = 0;
  /** Frames are processed strictly one after another. */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly options: InboxConnectionOptions) {}

  start(): void {
    this.stopped = false;
    void this.open();
  }

  /** Closes for good (no reconnect); pending processing still finishes. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.stopTimers();
    this.ws?.close(1000, "client closing");
    this.ws = null;
    await this.chain;
  }

  /** Sends a frame now if connected; false if not (state frames are re-sent by onOpen anyway). */
  send(frame: object): boolean {
    if (this.ws?.readyState !== 1) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Resolves when everything received so far has been processed and ACKed. */
  idle(): Promise<void> {
    return this.chain;
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    this.options.onStateChange?.("connecting");
    let ws: WebSocketLike;
    try {
      ws = new this.options.WebSocket(await this.options.url(await this.options.cursor()));
    } catch (err) {
      this.options.onError?.(err instanceof Error ? err : new Error(String(err)));
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.lastHeard = Date.now();
      this.startTimers(ws);
      this.options.onOpen?.((frame) => ws.send(JSON.stringify(frame)));
      this.options.onStateChange?.("open");
    };
    ws.onmessage = (event) => {
      this.lastHeard = Date.now();
      const text = typeof event.data === "string" ? event.data : String(event.data);
      if (text === PONG_FRAME) return;
      this.chain = this.chain.then(() => this.handle(ws, text)).catch((err) => this.fail(ws, err));
    };
    ws.onclose = (event) => {
      if (this.ws === ws) this.ws = null;
      this.stopTimers();
      this.options.onStateChange?.("closed");
      if (event.code === CLOSE_REPLACED || event.code === CLOSE_DEVICE_REMOVED) {
        this.stopped = true;
        this.options.onTerminated?.(event.code === CLOSE_REPLACED ? "replaced" : "device_removed");
        return;
      }
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows and reconnects; nothing else to do here.
    };
  }

  private async handle(ws: WebSocketLike, text: string): Promise<void> {
    // Frames still queued from a connection that failed are dropped: it will all be replayed.
    if (ws !== this.ws) return;
    const parsed = ServerFrame.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error("unexpected frame from the server");
    const frame = parsed.data;
    switch (frame.type) {
      case "entries": {
        if (frame.entries.length === 0) return;
        await this.options.onEntries(frame.entries);
        // ACK only now: the entries are processed and persisted.
        if (ws.readyState === 1) ws.send(JSON.stringify({ type: "ack", cursor: frame.entries[frame.entries.length - 1]!.seq }));
        return;
      }
      case "queue_empty":
        this.attempt = 0;
        this.options.onQueueEmpty?.();
        return;
      case "error":
        this.options.onError?.(new Error(`server: ${frame.error.code}: ${frame.error.message}`));
        return;
      case "result":
        return;
    }
  }

  /** A batch that could not be processed is not ACKed: reconnecting replays it. */
  private fail(ws: WebSocketLike, err: unknown): void {
    this.options.onError?.(err instanceof Error ? err : new Error(String(err)));
    if (this.ws === ws) this.ws = null;
    ws.close(4002, "client could not process a frame");
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const { initialMs, maxMs } = this.options.backoff ?? { initialMs: 250, maxMs: 30_000 };
    const delay = backoffDelay(this.attempt++, initialMs, maxMs, this.options.random);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.open();
    }, delay);
  }

  private startTimers(ws: WebSocketLike): void {
    const interval = this.options.pingIntervalMs ?? 25_000;
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > 2 * interval + 5_000) {
        ws.close(4001, "no pong");
        return;
      }
      if (ws.readyState === 1) ws.send(PING_FRAME);
    }, interval);
  }

  private stopTimers(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }
}
