/**
 * @module The events a Client emits, as one discriminated union, and a small typed emitter.
 * `presence` and `typing` come from chats the app subscribed to (Client.subscribePresence).
 */

import type { GroupEventBody } from "../protocol/group-events";
import type { FileAttachment } from "./payload";

export interface DeviceRef {
  account_id: string;
  device_id: number;
}

export type ClientEvent =
  | {
      type: "message";
      chat_id: string;
      chat_seq: number;
      msg_id: string;
      from: DeviceRef;
      /** The 1:1 peer of the chat (for a copy of your own message: the account it was sent to). */
      peer: string;
      /** The text, or a file's caption ("" without one). */
      text: string;
      /** A file message: download it with client.downloadFile(event.file) (or by msg_id). */
      file?: FileAttachment;
      sent_at: number;
      server_ts: number;
      /** Sent by another device of this account (outbox sync). */
      outgoing: boolean;
    }
  /** The server acked a send from the outbox (also one queued before a restart): the "sent" tick. */
  | { type: "sent"; msg_id: string; chat_id: string; chat_seq: number; server_ts: number; to: string }
  | { type: "receipt"; chat_id: string; status: "delivered" | "read"; reader: DeviceRef; up_to_seq: number; msg_ids: string[] }
  | { type: "gap"; chat_id: string; sender: DeviceRef; count: number; reason: "expired" | "overflow" }
  /** A group's membership or settings changed (in the chat's order); see GroupEvent in src/protocol/group-events.ts. */
  | { type: "group"; chat_id: string; chat_seq: number; actor: string; event: GroupEventBody }
  | { type: "typing"; chat_id: string; from: DeviceRef; state: "typing" | "recording" | "stopped" }
  /** online / last_seen are null when privacy settings hide them from you. */
  | { type: "presence"; account_id: string; online: boolean | null; last_seen: number | null }
  | {
      type: "error";
      /** undecryptable: a message could not be decrypted (the session was reset); send_failed; connection. */
      code: "undecryptable" | "unreadable_payload" | "send_failed" | "connection" | "terminated";
      message: string;
      chat_id?: string;
      msg_id?: string;
      from?: DeviceRef;
    }
  | { type: "connection"; state: "connecting" | "open" | "closed" }
  /** A send could not go out now (server unreachable or busy); it stays queued and is retried. */
  | { type: "outbox"; msg_id: string; state: "retrying"; message: string }
  | { type: "queue_empty" }
  /**
   * On the primary: the server removed a device of this account on its own (it logged out, or was
   * unused for the configured period); the signed device list was re-signed without it.
   */
  | { type: "device_removed"; device_id: number; name: string | null; reason: "unlinked" | "logged_out" | "inactive" | null; removed_at: number };

export type ClientEventType = ClientEvent["type"];
export type ClientEventOf<K extends ClientEventType> = Extract<ClientEvent, { type: K }>;

export class Emitter {
  private readonly listeners = new Map<ClientEventType, Set<(event: ClientEvent) => void>>();

  on<K extends ClientEventType>(type: K, listener: (event: ClientEventOf<K>) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    const wrapped = listener as (event: ClientEvent) => void;
    set.add(wrapped);
    return () => set.delete(wrapped);
  }

  emit(event: ClientEvent): void {
    for (const listener of this.listeners.get(event.type) ?? []) {
      try {
        listener(event);
      } catch (err) {
        // A throwing listener must not break delivery; report it on the console only.
        console.error("parley: event listener threw", err);
      }
    }
  }
}
