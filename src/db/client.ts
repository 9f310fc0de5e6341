/**
 * @module The drizzle handle on D1. D1 has no interactive transactions: `db.batch([...])` is the
 * atomic unit (statements run in order inside one transaction), and a query binds at most 100
 * parameters, so bulk inserts are chunked with `chunkRows`.
 */
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import * as schema from "./schema";

export type Db = DrizzleD1Database<typeof schema>;

const cache = new WeakMap<D1Database, Db>();

export function database(d1: D1Database): Db {
  let db = cache.get(d1);
  if (!db) {
    db = drizzle(d1, { schema });
    cache.set(d1, db);
  }
  return db;
}

const D1_MAX_BOUND_PARAMETERS = 100;

/** Splits rows so that one INSERT binds at most 100 parameters (D1's limit). */
export function chunkRows<T extends object>(rows: T[], columnsPerRow: number): T[][] {
  const size = Math.max(1, Math.floor(D1_MAX_BOUND_PARAMETERS / columnsPerRow));
  const chunks: T[][] = [];
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size));
  return chunks;
}
