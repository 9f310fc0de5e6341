/**
 * Test helpers for presence: a chat's presence socket, and typed views of its frames.
 */
import type { PresenceServerFrameBody } from "../../src/protocol/presence";
import { TestSocket } from "./messaging";

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
