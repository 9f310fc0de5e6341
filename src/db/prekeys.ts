/**
 * @module D1 access for prekeys: storing uploads, counting what is left, rotating the signed and
 * last-resort keys, and taking one one-time prekey per device for a bundle.
 *
 * Taking a one-time prekey is a single `DELETE ... WHERE rowid = (SELECT ... LIMIT 1) RETURNING`
 * statement. D1 executes statements one at a time per database, so two concurrent bundle fetches
 * can never receive the same key: whichever statement runs second sees the row already gone.
 */
import { and, eq, isNull, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { OneTimePrekey, PqPrekey, SignedPrekey } from "../protocol/keys";
import type { z } from "zod";
import { chunkRows, type Db } from "./client";
import { devices, oneTimePrekeys, pqPrekeys } from "./schema";

type OneTimePrekeyBody = z.output<typeof OneTimePrekey>;
type PqPrekeyBody = z.output<typeof PqPrekey>;
type SignedPrekeyBody = z.output<typeof SignedPrekey>;

export interface DeviceRef {
  accountId: string;
  deviceId: number;
}

/** Upserts by key id (a client re-uploading after a lost response must not fail). */
export function prekeyInsertStatements(db: Db, ref: DeviceRef, oneTime: OneTimePrekeyBody[], pq: PqPrekeyBody[]): BatchItem<"sqlite">[] {
  const statements: BatchItem<"sqlite">[] = [];
  const otRows = oneTime.map((k) => ({ ...ref, keyId: k.key_id, publicKey: k.public_key }));
  for (const chunk of chunkRows(otRows, 4)) {
    statements.push(
      db
        .insert(oneTimePrekeys)
        .values(chunk)
        .onConflictDoUpdate({
          target: [oneTimePrekeys.accountId, oneTimePrekeys.deviceId, oneTimePrekeys.keyId],
          set: { publicKey: sql`excluded.public_key` },
        }),
    );
  }
  const pqRows = pq.map((k) => ({ ...ref, keyId: k.key_id, publicKey: k.public_key, signature: k.signature }));
  for (const chunk of chunkRows(pqRows, 5)) {
    statements.push(
      db
        .insert(pqPrekeys)
        .values(chunk)
        .onConflictDoUpdate({
          target: [pqPrekeys.accountId, pqPrekeys.deviceId, pqPrekeys.keyId],
          set: { publicKey: sql`excluded.public_key`, signature: sql`excluded.signature` },
        }),
    );
  }
  return statements;
}

export async function countPrekeys(db: Db, ref: DeviceRef): Promise<{ oneTime: number; pq: number }> {
  const [ot, pq] = await db.batch([
    db
      .select({ n: sql<number>`count(*)` })
      .from(oneTimePrekeys)
      .where(and(eq(oneTimePrekeys.accountId, ref.accountId), eq(oneTimePrekeys.deviceId, ref.deviceId))),
    db
      .select({ n: sql<number>`count(*)` })
      .from(pqPrekeys)
      .where(and(eq(pqPrekeys.accountId, ref.accountId), eq(pqPrekeys.deviceId, ref.deviceId))),
  ]);
  return { oneTime: ot[0]?.n ?? 0, pq: pq[0]?.n ?? 0 };
}

export function rotateSignedPrekeyStatement(db: Db, ref: DeviceRef, key: SignedPrekeyBody) {
  return db
    .update(devices)
    .set({ signedPrekeyId: key.key_id, signedPrekey: key.public_key, signedPrekeySignature: key.signature })
    .where(and(eq(devices.accountId, ref.accountId), eq(devices.deviceId, ref.deviceId), isNull(devices.removedAt)));
}

export function setPqLastResortStatement(db: Db, ref: DeviceRef, key: PqPrekeyBody) {
  return db
    .update(devices)
    .set({ pqLastResortId: key.key_id, pqLastResortKey: key.public_key, pqLastResortSignature: key.signature })
    .where(and(eq(devices.accountId, ref.accountId), eq(devices.deviceId, ref.deviceId), isNull(devices.removedAt)));
}

/**
 * Takes (deletes and returns) one one-time prekey of each kind for every listed device, in one D1
 * batch. Result arrays are index-aligned with `refs`.
 */
export async function takeOneTimePrekeys(
  db: Db,
  refs: DeviceRef[],
): Promise<{ oneTime: (OneTimePrekeyBody | null)[]; pq: (PqPrekeyBody | null)[] }> {
  if (refs.length === 0) return { oneTime: [], pq: [] };
  const statements: BatchItem<"sqlite">[] = [];
  for (const ref of refs) {
    statements.push(
      db
        .delete(oneTimePrekeys)
        .where(
          sql`rowid = (select rowid from ${oneTimePrekeys} where ${oneTimePrekeys.accountId} = ${ref.accountId} and ${oneTimePrekeys.deviceId} = ${ref.deviceId} order by ${oneTimePrekeys.keyId} limit 1)`,
        )
        .returning({ key_id: oneTimePrekeys.keyId, public_key: oneTimePrekeys.publicKey }),
      db
        .delete(pqPrekeys)
        .where(
          sql`rowid = (select rowid from ${pqPrekeys} where ${pqPrekeys.accountId} = ${ref.accountId} and ${pqPrekeys.deviceId} = ${ref.deviceId} order by ${pqPrekeys.keyId} limit 1)`,
        )
        .returning({ key_id: pqPrekeys.keyId, public_key: pqPrekeys.publicKey, signature: pqPrekeys.signature }),
    );
  }
  const results = (await db.batch(statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]])) as unknown[][];
  const oneTime: (OneTimePrekeyBody | null)[] = [];
  const pq: (PqPrekeyBody | null)[] = [];
  for (let i = 0; i < refs.length; i++) {
    oneTime.push((results[2 * i]?.[0] as OneTimePrekeyBody | undefined) ?? null);
    pq.push((results[2 * i + 1]?.[0] as PqPrekeyBody | undefined) ?? null);
  }
  return { oneTime, pq };
}
