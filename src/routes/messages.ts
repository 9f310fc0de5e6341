/**
 * @module Messages and receipts over HTTP, and the device socket upgrade. The same operations are
 * available as socket frames (src/protocol/frames.ts); both paths share src/messaging/send.ts.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { ApiError } from "../errors";
import { inboxStub } from "../inbox";
import { authenticateUpgrade, forwardedUpgrade } from "../middleware/socket-upgrade";
import { recordRead, sendDirectMessage } from "../messaging/send";
import { chatRoomStub } from "../placement";
import { ChatId, DeviceMismatch, MessageReceipts, ReadReceipt, SendAck, SendMessage, StaleDevices } from "../protocol/messages";
import { authErrors, bearerSecurity, errorResponse, jsonBody, jsonResponse, deviceRoute } from "./openapi-helpers";

const protectedRoute = deviceRoute("messages");

const sendRoute = createRoute({
  ...protectedRoute,
  method: "post",
  path: "/messages",
  summary: "Send a 1:1 message: one envelope per device of the recipient and of your other devices",
  request: { body: jsonBody(SendMessage) },
  responses: {
    200: jsonResponse(SendAck, "Accepted and durable in every recipient inbox (the 'sent' receipt)"),
    404: errorResponse("not_found: no such recipient"),
    409: jsonResponse(DeviceMismatch, "device_mismatch: fix the envelope set and resend with the same msg_id"),
    410: jsonResponse(StaleDevices, "stale_devices: refresh sessions and resend with the same msg_id"),
    503: errorResponse("delivery_pending: accepted, fanout still in progress; resend with the same msg_id"),
    ...authErrors,
    403: errorResponse("account_suspended: a moderator suspended the sending account"),
    429: errorResponse("rate_limited: sends per device or per chat (details.reason); resend after Retry-After with the same msg_id"),
  },
});

const readRoute = createRoute({
  ...protectedRoute,
  method: "post",
  path: "/receipts/read",
  summary: "Mark a chat read up to a seq (a 'read' receipt to the senders)",
  request: { body: jsonBody(ReadReceipt) },
  responses: { 204: { description: "Recorded" }, 403: errorResponse("forbidden: not a member of the chat"), ...authErrors },
});

const receiptsRoute = createRoute({
  ...protectedRoute,
  method: "get",
  path: "/chats/{chat_id}/messages/{chat_seq}/receipts",
  summary: "Delivery and read state of one message, per recipient device",
  request: {
    params: z.object({
      chat_id: ChatId,
      chat_seq: z.string().regex(/^[1-9][0-9]{0,14}$/, "must be a positive integer").transform(Number),
    }),
  },
  responses: {
    200: jsonResponse(MessageReceipts, "Receipt state"),
    403: errorResponse("forbidden: not a member of the chat"),
    404: errorResponse("not_found: no such message"),
    ...authErrors,
  },
});

const socketRoute = createRoute({
  method: "get",
  path: "/socket",
  tags: ["messages"],
  summary: "The device's WebSocket (inbox replay, live entries, sends, ACKs); see docs/API.md",
  security: bearerSecurity,
  request: {
    query: z.object({
      token: z.string().optional().meta({ description: "Bearer token (browsers cannot set headers on upgrades)" }),
      cursor: z.string().regex(/^[0-9]{1,15}$/).optional().meta({ description: "Last acknowledged inbox seq (default 0)" }),
    }),
  },
  responses: {
    101: { description: "Switching protocols" },
    410: errorResponse("device_removed"),
    426: errorResponse("upgrade_required: not a WebSocket upgrade"),
    ...authErrors,
  },
});

export const messageRoutes = new OpenAPIHono<AppEnv>()
  .openapi(sendRoute, async (c) => c.json(await sendDirectMessage(c.env, c.get("principal"), c.req.valid("json"), c.get("requestId")), 200))
  .openapi(readRoute, async (c) => {
    const { chat_id, up_to_seq } = c.req.valid("json");
    await recordRead(c.env, c.get("principal"), chat_id, up_to_seq);
    return c.body(null, 204);
  })
  .openapi(receiptsRoute, async (c) => {
    const { chat_id, chat_seq } = c.req.valid("param");
    const result = await chatRoomStub(c.env, chat_id).messageReceipts(c.get("principal").accountId, chat_seq);
    if (!result.ok) throw new ApiError(result.code, result.message);
    return c.json({ chat_id, ...result.value }, 200);
  })
  .openapi(socketRoute, async (c) => {
    const principal = await authenticateUpgrade(c.env, c.req.raw);
    return inboxStub(c.env, principal).fetch(forwardedUpgrade(c.req.raw, principal));
  });
