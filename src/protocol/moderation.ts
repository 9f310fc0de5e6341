/**
 * @module Wire schemas for abuse and safety (issue 11): blocks, message reports, and the admin
 * (moderation) API's report listing and suspension. The server never reads messages: a report's
 * `content` is plaintext only because the reporter chose to attach it.
 */
import { z } from "zod";
import { MAX_REPORT_CONTENT_CHARS } from "../limits";
import { AccountId, TimestampMs } from "./common";
import { ChatId, MsgId } from "./messages";

export const BlockList = z
  .object({ blocked: z.array(z.object({ account_id: AccountId, blocked_at: TimestampMs })) })
  .meta({ id: "BlockList" });

export const ReportRequest = z
  .strictObject({
    chat_id: ChatId,
    msg_id: MsgId,
    reported_account_id: AccountId.meta({ description: "The sender of the reported message" }),
    content: z
      .string()
      .min(1)
      .max(MAX_REPORT_CONTENT_CHARS)
      .optional()
      .meta({ description: "The decrypted message, attached voluntarily; omit to report metadata only" }),
  })
  .meta({ id: "ReportRequest" });

export const ReportCreated = z.object({ report_id: z.uuid(), created_at: TimestampMs }).meta({ id: "ReportCreated" });

export const Report = z
  .object({
    report_id: z.string(),
    reporter_account_id: AccountId,
    reported_account_id: AccountId,
    chat_id: ChatId,
    msg_id: MsgId,
    content: z.string().nullable(),
    created_at: TimestampMs,
  })
  .meta({ id: "Report" });

export const ReportList = z
  .object({
    reports: z.array(Report),
    next_before: TimestampMs.nullable().meta({ description: "Pass as ?before= for the next (older) page; null at the end" }),
  })
  .meta({ id: "ReportList" });

export const ReportQuery = z.object({
  reported_account_id: AccountId.optional(),
  before: z
    .string()
    .regex(/^[0-9]{1,15}$/, "must be a timestamp in ms")
    .transform(Number)
    .optional(),
  limit: z
    .string()
    .regex(/^[0-9]{1,3}$/, "must be 1..100")
    .transform(Number)
    .pipe(z.number().int().min(1).max(100))
    .optional(),
});

export const Suspension = z
  .object({ account_id: AccountId, suspended: z.boolean(), suspended_at: TimestampMs.nullable() })
  .meta({ id: "Suspension" });
