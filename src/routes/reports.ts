/**
 * @module Reporting a message (issue 11). The reporter names the chat, the message and its sender;
 * the server checks that both are members and that the sender really sent that msg_id there (the
 * ChatRoom's idempotency record, kept for the retention window), then stores the metadata, and the
 * plaintext only if the reporter attached it (the server cannot decrypt). Moderators read reports
 * through the admin API (src/routes/admin.ts). Reporting the same message twice returns the
 * first report.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { database } from "../db/client";
import { findReport, insertReport } from "../db/moderation";
import { ApiError } from "../errors";
import { logEvent } from "../log";
import { chatRoomStub } from "../placement";
import { ReportCreated, ReportRequest } from "../protocol/moderation";
import { authErrors, deviceRoute, errorResponse, jsonBody, jsonResponse } from "./openapi-helpers";

const reportRoute = createRoute({
  ...deviceRoute("reports"),
  method: "post",
  path: "/reports",
  summary: "Report a message to the moderators, optionally with its decrypted content",
  request: { body: jsonBody(ReportRequest) },
  responses: {
    ...authErrors,
    200: jsonResponse(ReportCreated, "Already reported: the first report"),
    201: jsonResponse(ReportCreated, "Report stored"),
    400: errorResponse("invalid_request: bad body, or reporting yourself"),
    403: errorResponse("forbidden: you are not a member of the chat"),
    404: errorResponse("not_found: that account sent no such message in the chat (or it is older than the retention window)"),
  },
});

export const reportRoutes = new OpenAPIHono<AppEnv>().openapi(reportRoute, async (c) => {
  const { accountId } = c.get("principal");
  const body = c.req.valid("json");
  if (body.reported_account_id === accountId) throw new ApiError("invalid_request", "you cannot report your own message");
  const db = database(c.env.DB);
  const existing = await findReport(db, accountId, body.chat_id, body.msg_id);
  if (existing) return c.json({ report_id: existing.id, created_at: existing.createdAt }, 200);
  const room = chatRoomStub(c.env, body.chat_id);
  if (!(await room.isMember(accountId))) throw new ApiError("forbidden", "not a member of this chat");
  if (!(await room.hasMessageFrom(body.reported_account_id, body.msg_id))) {
    throw new ApiError("not_found", "that account sent no such message in this chat (or it is older than the retention window)");
  }
  const report = {
    id: crypto.randomUUID(),
    reporter: accountId,
    reportedAccount: body.reported_account_id,
    chatId: body.chat_id,
    msgId: body.msg_id,
    content: body.content ?? null,
    createdAt: Date.now(),
  };
  await insertReport(db, report);
  logEvent("info", "message_reported", { report_id: report.id, chat_id: report.chatId, with_content: report.content !== null });
  return c.json({ report_id: report.id, created_at: report.createdAt }, 201);
});
