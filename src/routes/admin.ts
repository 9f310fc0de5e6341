/**
 * @module The moderation API (issue 11), for operators only: list reports, suspend and unsuspend
 * accounts. Protected by ADMIN_API_SECRET (src/middleware/admin-auth.ts), never by device tokens.
 * A suspended account cannot send (its ChatRooms refuse it, at once in a chat whose cached
 * view is cold and within a minute everywhere) nor register new devices; it can still receive.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { database } from "../db/client";
import { listReports, setSuspended } from "../db/moderation";
import { ApiError } from "../errors";
import { logEvent } from "../log";
import { requireAdmin } from "../middleware/admin-auth";
import { AccountId } from "../protocol/common";
import { ReportList, ReportQuery, Suspension } from "../protocol/moderation";
import { commonErrors, errorResponse, jsonResponse } from "./openapi-helpers";

const adminSecurity = [{ adminSecret: [] as string[] }];
const adminErrors = {
  ...commonErrors,
  401: errorResponse("unauthorized: missing or wrong admin secret"),
  403: errorResponse("forbidden: the admin API is disabled (ADMIN_API_SECRET not set)"),
};
const adminRoute = { security: adminSecurity, middleware: [requireAdmin], tags: ["admin"] };

const listReportsRoute = createRoute({
  ...adminRoute,
  method: "get",
  path: "/admin/reports",
  summary: "Reports, newest first (optionally about one account)",
  request: { query: ReportQuery },
  responses: { ...adminErrors, 200: jsonResponse(ReportList, "A page of reports") },
});

const suspensionParams = z.object({ account_id: AccountId });

const suspendRoute = createRoute({
  ...adminRoute,
  method: "put",
  path: "/admin/accounts/{account_id}/suspension",
  summary: "Suspend an account: it can no longer send or register devices",
  request: { params: suspensionParams },
  responses: { ...adminErrors, 200: jsonResponse(Suspension, "Suspended"), 404: errorResponse("not_found: no such account") },
});

const unsuspendRoute = createRoute({
  ...adminRoute,
  method: "delete",
  path: "/admin/accounts/{account_id}/suspension",
  summary: "Lift an account's suspension",
  request: { params: suspensionParams },
  responses: { ...adminErrors, 200: jsonResponse(Suspension, "Not suspended"), 404: errorResponse("not_found: no such account") },
});

const DEFAULT_PAGE = 50;

export const adminRoutes = new OpenAPIHono<AppEnv>()
  .openapi(listReportsRoute, async (c) => {
    const query = c.req.valid("query");
    const limit = query.limit ?? DEFAULT_PAGE;
    const rows = await listReports(database(c.env.DB), { reportedAccount: query.reported_account_id, before: query.before, limit });
    return c.json(
      {
        reports: rows.map((r) => ({
          report_id: r.id,
          reporter_account_id: r.reporter,
          reported_account_id: r.reportedAccount,
          chat_id: r.chatId,
          msg_id: r.msgId,
          content: r.content,
          created_at: r.createdAt,
        })),
        next_before: rows.length === limit ? rows[rows.length - 1]!.createdAt : null,
      },
      200,
    );
  })
  .openapi(suspendRoute, async (c) => {
    const { account_id } = c.req.valid("param");
    const row = await setSuspended(database(c.env.DB), account_id, Date.now());
    if (!row) throw new ApiError("not_found", "no such account");
    logEvent("info", "account_suspended", { account_id });
    return c.json({ account_id, suspended: true, suspended_at: row.suspendedAt }, 200);
  })
  .openapi(unsuspendRoute, async (c) => {
    const { account_id } = c.req.valid("param");
    const row = await setSuspended(database(c.env.DB), account_id, null);
    if (!row) throw new ApiError("not_found", "no such account");
    logEvent("info", "account_unsuspended", { account_id });
    return c.json({ account_id, suspended: false, suspended_at: null }, 200);
  });
