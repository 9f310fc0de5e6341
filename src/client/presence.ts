/**
 * @module A chat's presence socket while the chat is open: members' online/last-seen changes and
 * typing arrive as events; `setTyping` sends this device's typing state (the server expires it
 * after a few seconds, so a client refreshes it while the user types). Ephemeral by design: if the
 * connection drops it reconnects with backoff and gets a fresh snapshot; nothing is replayed.
 */
import { PresenceServerFrame, type TypingStateBody } from "../protocol/presence";
import { backoffDelay } from "./backoff";
import type { ClientEvent } from "./events";
import type { WebSocketConstructor, WebSocketLike } from "./socket";

const RECONNECT_MS = { initial: 500, max: 30_000 };

export class PresenceSubscription {
  private ws: WebSocketLike | null = null;
  private closed = false;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private opened: Promise<void>;
  private markOpened!: () => void;

  constructor(
    readonly chatId: string,
    private readonly options: {
      WebSocket: WebSocketConstructor;
      url: () => Promise<string>;
      emit: (event: ClientEvent) => void;
    },
  ) {
    this.opened = new Promise((resolve) => (this.markOpened = resolve));
    void this.open();
  }

  /** Resolves once the socket is open (the snapshot follows right after). */
  ready(): Promise<void> {
    return this.opened;
  }

  setTyping(state: TypingStateBody): boolean {
    if (this.ws?.readyState !== 1) return false;
    this.ws.send(JSON.stringify({ type: "typing", state }));
    return true;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close(1000, "unsubscribed");
    this.ws = null;
  }

  private async open(): Promise<void> {
    if (this.closed) return;
    let ws: WebSocketLike;
    try {
      ws = new this.options.WebSocket(await this.options.url());
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.markOpened();
    };
    ws.onmessage = (event) => {
      let frame;
      try {
        frame = PresenceServerFrame.parse(JSON.parse(String(event.data)));
      } catch {
        return; // Ephemeral: an unreadable frame is skipped, the next status replaces it.
      }
      if (frame.type === "presence") {
        this.options.emit({ type: "presence", account_id: frame.account_id, online: frame.online, last_seen: frame.last_seen });
      } else if (frame.type === "typing") {
        this.options.emit({ type: "typing", chat_id: this.chatId, from: { account_id: frame.account_id, device_id: frame.device_id }, state: frame.state });
      }
    };
    ws.onclose = () => {
      if (this.ws === ws) this.ws = null;
      this.retry();
    };
    ws.onerror = () => {};
  }

  private retry(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.open(), backoffDelay(this.attempt++, RECONNECT_MS.initial, RECONNECT_MS.max));
  }
}
