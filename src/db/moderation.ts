/**
 * @module D1 access for reports and account suspension (issue 11).
 */
import { and, desc, eq, lt, or, type SQL } from "drizzle-orm";
import type { Db } from "./client";
import { accounts, reports } from "./schema";

export type ReportRow = typeof reports.$inferSelect;

/** The report a reporter already filed for a message, if any (reports are idempotent). */
export function findReport(db: Db, reporter: string, chatId: string, msgId: string): Promise<ReportRow | undefined> {
  return db.query.reports.findFirst({ where: and(eq(reports.reporter, reporter), eq(reports.chatId, chatId), eq(reports.msgId, msgId)) });
}

export async function insertReport(db: Db, row: ReportRow): Promise<void> {
  await db.insert(reports).values(row);
}

/** Newest first; `before` pages backwards by creation time. */
export function listReports(db: Db, opts: { reportedAccount?: string; before?: number; limit: number }): Promise<ReportRow[]> {
  const filters: SQL[] = [];
  if (opts.reportedAccount) filters.push(eq(reports.reportedAccount, opts.reportedAccount));
  if (opts.before !== undefined) filters.push(lt(reports.createdAt, opts.before));
  return db
    .select()
    .from(reports)
    .where(filters.length ? and(...filters) : undefined)
    .orderBy(desc(reports.createdAt))
    .limit(opts.limit);
}

/** Sets or clears the suspension; returns the account's new state, or undefined if there is none. */
export async function setSuspended(db: Db, accountId: string, suspendedAt: number | null): Promise<{ suspendedAt: number | null } | undefined> {
  const [row] = await db.update(accounts).set({ suspendedAt }).where(eq(accounts.id, accountId)).returning({ suspendedAt: accounts.suspendedAt });
  return row;
}

/** Reports filed by or about an account (account deletion). */
export function deleteReportsOfStatement(db: Db, accountId: string) {
  return db.delete(reports).where(or(eq(reports.reporter, accountId), eq(reports.reportedAccount, accountId)));
}
