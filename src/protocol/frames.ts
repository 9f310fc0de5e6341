/**
 * @module Every WebSocket frame between a device and its inbox, both directions, as zod schemas.
 * Frames are JSON text; the literal text "ping" is answered "pong" by the runtime without waking
 * the inbox (keep-alive). docs/API.md describes the protocol around them.
 */
import { z } from "zod";
import { ErrorBodySchema } from "./common";
import { GroupId } from "./group-events";
import { GroupSendMessage } from "./groups";
import { ChatId, ChatSeq, InboxEntry, SendAck, SendMessage } from "./messages";
import { AppStateFrame } from "./presence";

/** Frames larger than this are refused: a send of 16 envelopes of 96 KiB in base64, plus framing. */
export const MAX_FRAME_BYTES = 2 * 1024 * 1024 + 512 * 1024;

export const PING_FRAME = "ping";
export const PONG_FRAME = "pong";

const ReqId = z.string().min(1).max(64);

export const ClientFrame = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("ack"),
    cursor: z.number().int().min(0).meta({ description: "Every entry with seq <= cursor is processed and may be deleted" }),
  }),
  z.strictObject({ type: z.literal("send"), req_id: ReqId, message: SendMessage }),
  z.strictObject({ type: z.literal("group_send"), req_id: ReqId, chat_id: GroupId, message: GroupSendMessage }),
  z.strictObject({ type: z.literal("read"), req_id: ReqId, chat_id: ChatId, up_to_seq: ChatSeq }),
  AppStateFrame,
]);

export const ServerFrame = z.discriminatedUnion("type", [
  z.object({ type: z.literal("entries"), entries: z.array(InboxEntry) }),
  z.object({
    type: z.literal("queue_empty"),
    cursor: z.number().int().meta({ description: "Highest seq sent so far: the backlog is drained, live entries follow" }),
  }),
  z.object({
    type: z.literal("result"),
    req_id: ReqId,
    status: z.number().int().meta({ description: "The HTTP status the same request would get" }),
    body: z.union([SendAck, z.object({}), ErrorBodySchema]),
  }),
  z.object({ type: z.literal("error"), error: ErrorBodySchema.shape.error }),
]);

export type ClientFrameBody = z.output<typeof ClientFrame>;
export type ServerFrameBody = z.output<typeof ServerFrame>;
