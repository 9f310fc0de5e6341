/**
 * @module Sending a message, shared by POST /v1/messages and the socket's "send" frame (1:1), and
 * POST /v1/groups/{chat_id}/messages (groups): rate limit, find the chat, and hand the message to
 * its ChatRoom, which checks the sender and the device set (against its cached device lists),
 * orders, stores and fans out.
 * No D1 query on this path in the steady state: only a send that declares media_ids reads and
 * records them (src/media/references.ts).
 */
import type { DevicePrincipal } from "../auth/tokens";
import { loadConfig } from "../config";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { logEvent } from "../log";
import { recordMetric } from "../metrics";
import { checkReferences, recordReferences } from "../media/references";
import { chatRoomStub } from "../placement";
import { directChatId } from "../protocol/chat-ids";
import type { GroupSendMessageBody } from "../protocol/groups";
import type { SubmitResult } from "../protocol/internal";
import type { SendAckBody, SendMessageBody } from "../protocol/messages";

export async function sendDirectMessage(env: Env, sender: DevicePrincipal, message: SendMessageBody, requestId: string): Promise<SendAckBody> {
  const { success } = await env.SEND_RATE_LIMITER.limit({ key: `${sender.accountId}.${sender.deviceId}` });
  if (!success) throw new ApiError("rate_limited", "sending too fast; slow down", { reason: "sends_per_device" }, 10);

  const chatId = await directChatId(sender.accountId, message.to);
  const mediaIds = message.media_ids ?? [];
  await checkReferences(env, sender, mediaIds, Date.now());
  const config = loadConfig(env);
  const startedAt = Date.now();
  const result = await chatRoomStub(env, chatId).submit({
    chat_id: chatId,
    members: [...new Set([sender.accountId, message.to])],
    sender: { account_id: sender.accountId, device_id: sender.deviceId },
    msg_id: message.msg_id,
    envelopes: message.envelopes,
    send_limit: { limit: config.sendsPerChatPerMinute, window_ms: 60_000 },
  });
  const outcome = outcomeOf(result);
  recordMetric(env, { name: "send", outcome, latencyMs: Date.now() - startedAt, envelopes: message.envelopes.length });
  if (result.ok && !result.ack.duplicate) recordMetric(env, { name: "fanout", path: "inline", devices: message.envelopes.length });
  // Accepted sends are counted by the metric above; a line each only at LOG_LEVEL=debug.
  logEvent(
    result.ok ? "debug" : "info",
    "message_submitted",
    { request_id: requestId, msg_id: message.msg_id, chat_id: chatId, envelopes: message.envelopes.length, outcome, chat_seq: result.ok ? result.ack.chat_seq : null },
    config.logLevel,
  );
  // Also on a duplicate: the first attempt may have been accepted before recording failed.
  if (result.ok) await recordReferences(env, config, chatId, [sender.accountId, message.to], mediaIds, Date.now());
  return ackOrThrow(result);
}

/**
 * A group message (POST /v1/groups/{chat_id}/messages): one Sender Key ciphertext, checked and
 * fanned out by the group's ChatRoom. No D1 query on this path in the steady state either.
 */
export async function sendGroupMessage(env: Env, sender: DevicePrincipal, chatId: string, message: GroupSendMessageBody, requestId: string): Promise<SendAckBody> {
  const { success } = await env.SEND_RATE_LIMITER.limit({ key: `${sender.accountId}.${sender.deviceId}` });
  if (!success) throw new ApiError("rate_limited", "sending too fast; slow down", undefined, 10);
  const mediaIds = message.media_ids ?? [];
  await checkReferences(env, sender, mediaIds, Date.now());
  const startedAt = Date.now();
  const result = await chatRoomStub(env, chatId).submitGroup({
    chat_id: chatId,
    sender: { account_id: sender.accountId, device_id: sender.deviceId },
    msg_id: message.msg_id,
    content: message.content,
    key_holders: message.key_holders,
    distributions: message.distributions,
  });
  const outcome = outcomeOf(result);
  // One Sender Key ciphertext for the group, plus the pairwise distributions it carries.
  recordMetric(env, { name: "send", outcome, latencyMs: Date.now() - startedAt, envelopes: 1 + message.distributions.length });
  const config = loadConfig(env);
  logEvent(
    result.ok ? "debug" : "info",
    "group_message_submitted",
    {
      request_id: requestId,
      msg_id: message.msg_id,
      chat_id: chatId,
      key_holders: message.key_holders.length,
      distributions: message.distributions.length,
      outcome,
      chat_seq: result.ok ? result.ack.chat_seq : null,
    },
    config.logLevel,
  );
  if (result.ok) await recordReferences(env, config, chatId, null, mediaIds, Date.now());
  return ackOrThrow(result);
}

/** A send's outcome as metrics and logs name it: accepted, duplicate, or the refusal's code. */
function outcomeOf(result: SubmitResult): string {
  return result.ok ? (result.ack.duplicate ? "duplicate" : "accepted") : result.code;
}

/** The ack of an accepted send, or the ApiError its refusal means. */
function ackOrThrow(result: SubmitResult): SendAckBody {
  if (result.ok) return result.ack;
  switch (result.code) {
    case "device_mismatch":
      throw new ApiError("device_mismatch", "the envelopes do not match the recipients' devices", { missing: result.missing, extra: result.extra });
    case "stale_devices":
      throw new ApiError("stale_devices", "some devices re-registered; refresh their sessions", { stale: result.stale });
    case "delivery_pending":
      throw new ApiError("delivery_pending", "accepted but not yet in every inbox; retry with the same msg_id", undefined, 2);
    case "sender_removed":
      throw new ApiError("unauthorized", "device removed");
    case "rate_limited": {
      const retryAfter = Math.max(1, Math.ceil(result.retry_after_ms / 1000));
      throw new ApiError("rate_limited", "sending too fast in this chat; slow down", { reason: "sends_per_chat", retry_after_seconds: retryAfter }, retryAfter);
    }
    case "sender_suspended":
      throw new ApiError("account_suspended", "this account is suspended and cannot send messages");
    case "unknown_recipient":
      throw new ApiError("not_found", "no such recipient account");
    case "no_recipient_devices":
      throw new ApiError("invalid_request", "no device to deliver to: the recipient has no other active device");
    case "not_a_member":
      throw new ApiError("forbidden", "not a member of this group");
    case "no_such_group":
      throw new ApiError("not_found", "no such group");
  }
}

/** A read receipt from a device for a chat, up to a seq. */
export async function recordRead(env: Env, reader: DevicePrincipal, chatId: string, upToSeq: number): Promise<void> {
  const result = await chatRoomStub(env, chatId).recordReceipt({
    reader: { account_id: reader.accountId, device_id: reader.deviceId },
    status: "read",
    up_to_seq: upToSeq,
  });
  if (!result.ok) throw new ApiError(result.code, result.message);
}
