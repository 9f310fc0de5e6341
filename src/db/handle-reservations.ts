/**
 * @module D1 access for handle reservations: a deleted account's handle is held back for the
 * cooling-off period (HANDLE_COOLING_OFF_DAYS). Expired rows are ignored on read and replaced on the
 * next reservation of the same handle; they hold no account id.
 */
import { and, eq, gt, sql } from "drizzle-orm";
import type { Db } from "./client";
import { handleReservations } from "./schema";

export async function findHandleReservation(db: Db, handle: string, now: number) {
  return db.query.handleReservations.findFirst({ where: and(eq(handleReservations.handle, handle), gt(handleReservations.availableAt, now)) });
}

export function reserveHandleStatement(db: Db, handle: string, availableAt: number) {
  return db
    .insert(handleReservations)
    .values({ handle, availableAt })
    .onConflictDoUpdate({ target: handleReservations.handle, set: { availableAt: sql`excluded.available_at` } });
}
