/**
 * @module D1 access for blocks (issue 11). Who blocks whom among a set of accounts is what the
 * ChatRoom fanout and the presence code need; one query answers it for any set.
 */
import { and, desc, eq, or } from "drizzle-orm";
import type { Db } from "./client";
import { blocks } from "./schema";

export type BlockRow = typeof blocks.$inferSelect;

/** Idempotent: blocking twice keeps the first time. */
export async function addBlock(db: Db, blocker: string, blocked: string, now: number): Promise<void> {
  await db.insert(blocks).values({ blocker, blocked, createdAt: now }).onConflictDoNothing();
}

/** Idempotent: false when there was no such block. */
export async function removeBlock(db: Db, blocker: string, blocked: string): Promise<boolean> {
  const rows = await db
    .delete(blocks)
    .where(and(eq(blocks.blocker, blocker), eq(blocks.blocked, blocked)))
    .returning({ blocked: blocks.blocked });
  return rows.length > 0;
}

export function listBlocks(db: Db, blocker: string): Promise<BlockRow[]> {
  return db.select().from(blocks).where(eq(blocks.blocker, blocker)).orderBy(desc(blocks.createdAt));
}

/** The blocks among `accounts` (rows of blocker, blocked); a statement so callers can batch it. */
export function blocksAmongStatement(d1: D1Database, accounts: string[]): D1PreparedStatement {
  const placeholders = accounts.map(() => "?").join(", ");
  return d1.prepare(`SELECT blocker, blocked FROM blocks WHERE blocker IN (${placeholders}) AND blocked IN (${placeholders})`).bind(...accounts, ...accounts);
}

/** The blocks among `accounts`, as "blocker>blocked" keys (see blockKey). */
export async function blocksAmong(d1: D1Database, accounts: string[]): Promise<Set<string>> {
  if (accounts.length < 2) return new Set();
  const { results } = await blocksAmongStatement(d1, accounts).all<{ blocker: string; blocked: string }>();
  return toBlockSet(results);
}

/** D1 binds at most 100 parameters per statement. */
const MAX_BOUND_IDS = 90;

/** Which of `candidates` block `blocked` (any number of candidates: queried in chunks). */
export async function blockersOf(d1: D1Database, blocked: string, candidates: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < candidates.length; i += MAX_BOUND_IDS) {
    const chunk = candidates.slice(i, i + MAX_BOUND_IDS);
    const { results } = await d1
      .prepare(`SELECT blocker FROM blocks WHERE blocked = ? AND blocker IN (${chunk.map(() => "?").join(", ")})`)
      .bind(blocked, ...chunk)
      .all<{ blocker: string }>();
    for (const r of results) found.add(r.blocker);
  }
  return found;
}

export function toBlockSet(rows: { blocker: string; blocked: string }[]): Set<string> {
  return new Set(rows.map((r) => blockKey(r.blocker, r.blocked)));
}

export function blockKey(blocker: string, blocked: string): string {
  return `${blocker}>${blocked}`;
}

/** Whether either of two accounts blocks the other (presence is hidden both ways). */
export async function blockedEitherWay(db: Db, a: string, b: string): Promise<boolean> {
  const row = await db
    .select({ blocker: blocks.blocker })
    .from(blocks)
    .where(or(and(eq(blocks.blocker, a), eq(blocks.blocked, b)), and(eq(blocks.blocker, b), eq(blocks.blocked, a))))
    .limit(1);
  return row.length > 0;
}

/** Every block by or of an account (account deletion). */
export function deleteBlocksOfStatement(db: Db, accountId: string) {
  return db.delete(blocks).where(or(eq(blocks.blocker, accountId), eq(blocks.blocked, accountId)));
}
