/**
 * Test helpers for presence: two acquainted accounts, a device going online, a chat's presence
 * socket, and typed views of its frames.
 */
import type { PresenceServerFrameBody } from "../../src/protocol/presence";
import { register, type RegisteredDevice } from "./identity";
import { asRecipient, InboxSocket, send, TestSocket } from "./messaging";

/** Two accounts with a 1:1 chat between them (a first message makes the chat exist). */
export async function acquainted(): Promise<{ alice: RegisteredDevice; bob: RegisteredDevice; chatId: string }> {
  const alice = await register();
  const bob = await register();
  const sent = await send(alice, bob.accountId, [asRecipient(bob)]);
  return { alice, bob, chatId: sent.body.chat_id };
}

/** Opens the device's inbox socket, drains it and reports the app in the foreground (online). */
export async function goOnline(device: RegisteredDevice): Promise<InboxSocket> {
  const socket = await InboxSocket.open(device);
  await socket.drain();
  socket.sendFrame({ type: "app_state", state: "foreground" });
  return socket;
}

export class PresenceSocket extends TestSocket<PresenceServerFrameBody> {
  static async open(token: string, chatId: string): Promise<PresenceSocket> {
    const ws = await PresenceSocket.connect(token, chatId);
    if (!(ws instanceof PresenceSocket)) throw new Error(`upgrade refused: ${ws.status} ${JSON.stringify(ws.body)}`);
    return ws;
  }

  static async connect(token: string, chatId: string): Promise<PresenceSocket | { status: number; body: any }> {
    const ws = await TestSocket.upgrade(`/v1/chats/${chatId}/presence`, token);
    return ws instanceof WebSocket ? new PresenceSocket(ws) : ws;
  }

  presence(accountId: string) {
    return this.frames.filter((f): f is Extract<PresenceServerFrameBody, { type: "presence" }> => f.type === "presence" && f.account_id === accountId);
  }

  typing() {
    return this.frames.filter((f): f is Extract<PresenceServerFrameBody, { type: "typing" }> => f.type === "typing");
  }

  setTyping(state: "typing" | "recording" | "stopped"): void {
    this.sendFrame({ type: "typing", state });
  }
}
