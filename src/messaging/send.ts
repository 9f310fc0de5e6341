/**
 * @module Sending a 1:1 message, shared by POST /v1/messages and the socket's "send" frame:
 * rate limit, resolve both accounts' active devices from D1, derive the chat id, and hand the
 * message to the chat's ChatRoom, which checks the device set, orders, stores and fans out.
 */
import { and, inArray, isNull } from "drizzle-orm";
import type { DevicePrincipal } from "../auth/tokens";
import { database } from "../db/client";
import { devices } from "../db/schema";
import { findAccount } from "../db/accounts";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { enforceRateLimit } from "../middleware/rate-limit";
import { directChatId } from "../protocol/chat-ids";
import type { SendAckBody, SendMessageBody } from "../protocol/messages";

export async function sendDirectMessage(env: Env, sender: DevicePrincipal, message: SendMessageBody): Promise<SendAckBody> {
  const { success } = await env.SEND_RATE_LIMITER.limit({ key: `${sender.accountId}.${sender.deviceId}` });
  if (!success) throw new ApiError("rate_limited", "sending too fast; slow down", undefined, 10);

  const db = database(env.DB);
  const accounts = [...new Set([sender.accountId, message.to])];
  const [recipient, active] = await Promise.all([
    message.to === sender.accountId ? Promise.resolve(true) : findAccount(db, message.to),
    db
      .select({ account_id: devices.accountId, device_id: devices.deviceId, registration_id: devices.registrationId })
      .from(devices)
      .where(and(inArray(devices.accountId, accounts), isNull(devices.removedAt))),
  ]);
  if (!recipient) throw new ApiError("not_found", "no such recipient account");
  if (!active.some((d) => d.account_id === sender.accountId && d.device_id === sender.deviceId)) {
    throw new ApiError("unauthorized", "device removed");
  }
  const expected = active.filter((d) => !(d.account_id === sender.accountId && d.device_id === sender.deviceId));
  if (expected.length === 0) throw new ApiError("invalid_request", "no device to deliver to: the recipient has no active device");

  const chatId = await directChatId(sender.accountId, message.to);
  const result = await env.CHAT_ROOM.getByName(chatId).submit({
    chat_id: chatId,
    members: accounts,
    sender: { account_id: sender.accountId, device_id: sender.deviceId },
    msg_id: message.msg_id,
    envelopes: message.envelopes,
    expected,
  });
  if (result.ok) return result.ack;
  switch (result.code) {
    case "device_mismatch":
      throw new ApiError("device_mismatch", "the envelopes do not match the recipients' devices", { missing: result.missing, extra: result.extra });
    case "stale_devices":
      throw new ApiError("stale_devices", "some devices re-registered; refresh their sessions", { stale: result.stale });
    case "delivery_pending":
      throw new ApiError("delivery_pending", "accepted but not yet in every inbox; retry with the same msg_id", undefined, 2);
  }
}

/** A read receipt from a device for a chat, up to a seq. */
export async function recordRead(env: Env, reader: DevicePrincipal, chatId: string, upToSeq: number): Promise<void> {
  const result = await env.CHAT_ROOM.getByName(chatId).recordReceipt({
    reader: { account_id: reader.accountId, device_id: reader.deviceId },
    status: "read",
    up_to_seq: upToSeq,
  });
  if (!result.ok) throw new ApiError(result.code, result.message);
}
