/**
 * @module D1 access for groups. Writes come only from the group's ChatRoom, as idempotent
 * statements (absolute values, insert-or-ignore, upserts) so that a change interrupted between D1
 * and the ChatRoom can simply be written again. Reads: my groups, and which accounts exist.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { GroupChangePlan } from "../groups/membership";
import { chunkRows, type Db } from "./client";
import { accounts, groupMembers, groups } from "./schema";

/** The statements that make D1 match a planned change (safe to run more than once). */
export function groupChangeStatements(db: Db, plan: Pick<GroupChangePlan, "after" | "removed" | "upserts" | "created">, now: number): BatchItem<"sqlite">[] {
  const { after } = plan;
  const row = {
    name: after.settings.name,
    description: after.settings.description,
    avatarRef: after.settings.avatar_ref,
    whoCanAdd: after.settings.who_can_add,
    version: after.version,
  };
  const statements: BatchItem<"sqlite">[] = [
    db
      .insert(groups)
      .values({ id: after.chat_id, createdBy: after.created_by, createdAt: after.created_at, ...row })
      .onConflictDoUpdate({ target: groups.id, set: row }),
  ];
  if (plan.removed.length > 0) {
    statements.push(db.delete(groupMembers).where(and(eq(groupMembers.groupId, after.chat_id), inArray(groupMembers.accountId, plan.removed))));
  }
  const rows = plan.upserts.map((u) => ({ groupId: after.chat_id, accountId: u.account_id, role: u.role, joinedAt: now }));
  for (const chunk of chunkRows(rows, 4)) {
    statements.push(
      db
        .insert(groupMembers)
        .values(chunk)
        .onConflictDoUpdate({ target: [groupMembers.groupId, groupMembers.accountId], set: { role: sql`excluded.role` } }),
    );
  }
  return statements;
}

export async function runStatements(db: Db, statements: BatchItem<"sqlite">[]): Promise<void> {
  const [first, ...rest] = statements;
  if (first) await db.batch([first, ...rest]);
}

/** The groups an account belongs to, with its role and the member count. */
export async function listGroupsOf(db: Db, accountId: string) {
  return db
    .select({
      chat_id: groups.id,
      name: groups.name,
      role: groupMembers.role,
      member_count: sql<number>`(SELECT COUNT(*) FROM group_members m WHERE m.group_id = ${groups.id})`,
    })
    .from(groupMembers)
    .innerJoin(groups, eq(groups.id, groupMembers.groupId))
    .where(eq(groupMembers.accountId, accountId))
    .orderBy(groups.createdAt);
}

/** Which of `accountIds` do not exist (checked in chunks: D1 binds at most 100 parameters). */
export async function unknownAccounts(db: Db, accountIds: string[]): Promise<string[]> {
  const wanted = [...new Set(accountIds)];
  const found = new Set<string>();
  for (const chunk of chunkRows(wanted.map((id) => ({ id })), 1)) {
    const rows = await db.select({ id: accounts.id }).from(accounts).where(inArray(accounts.id, chunk.map((c) => c.id)));
    for (const r of rows) found.add(r.id);
  }
  return wanted.filter((id) => !found.has(id));
}
