/**
 * Tables created on demand (src/tables-on-demand.ts): a ChatRoom or DeviceInbox that only ever
 * carries 1:1 traffic never creates the group tables, and keeps working (sends, receipts, alarms,
 * restarts) without them; a group creates them where it needs them; a creation that rolled back
 * with its transaction is looked up again.
 */
import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { TablesOnDemand } from "../../src/tables-on-demand";
import { createGroup } from "../support/groups";
import { register } from "../support/identity";
import { asRecipient, inboxOf, InboxSocket, send } from "../support/messaging";

type Stub = DurableObjectStub<Rpc.DurableObjectBranded>;

function tablesOf(stub: Stub): Promise<string[]> {
  return runInDurableObject(stub, (_instance, state) =>
    state.storage.sql
      .exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
      .toArray()
      .map((r) => r.name),
  );
}

describe("tables created on demand", () => {
  it("a 1:1 chat's room and inboxes never create the group tables, and work without them across alarms and a restart", async () => {
    const alice = await register();
    const bob = await register();
    const first = await send(alice, bob.accountId, [asRecipient(bob)]);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const chatId = first.body.chat_id as string;
    const room = env.CHAT_ROOM.getByName(chatId);

    // The delivered receipt travels room -> alice's inbox: every 1:1 path has run once.
    const aliceSocket = await InboxSocket.open(alice);
    await aliceSocket.drain();
    const bobSocket = await InboxSocket.open(bob);
    bobSocket.ack((await bobSocket.drain()).at(-1)!.seq);
    await aliceSocket.until(() => aliceSocket.receipts().some((r) => r.status === "delivered"), "delivered receipt");

    // Their alarms (retention, backstops) read the group tables only where they exist. An alarm
    // that already fired on its own ran the same code, so whether this call ran it is not asserted.
    for (const stub of [room, inboxOf(alice), inboxOf(bob)]) await runDurableObjectAlarm(stub);
    const roomTables = await tablesOf(room);
    expect(roomTables).toContain("messages");
    for (const table of ["group_members", "fanout_jobs", "fanout_payloads"]) expect(roomTables).not.toContain(table);
    for (const inbox of [inboxOf(alice), inboxOf(bob)]) {
      const tables = await tablesOf(inbox);
      expect(tables).toContain("entries");
      expect(tables).not.toContain("group_seen");
    }
    aliceSocket.close();
    bobSocket.close();

    // A fresh instance looks the tables up again, finds them absent, and still delivers.
    await abortAllDurableObjects();
    const second = await send(alice, bob.accountId, [asRecipient(bob)]);
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect(second.body.chat_seq).toBe(2);
    const again = await InboxSocket.open(bob);
    expect((await again.drain()).map((e) => e.kind === "message" && e.chat_seq)).toEqual([2]);
    again.close();
    // Stubs from before the restart are broken: a new one.
    expect(await tablesOf(env.CHAT_ROOM.getByName(chatId))).not.toContain("group_members");
  });

  it("a group creates its tables in its room and its members' inboxes", async () => {
    const admin = await register();
    const member = await register();
    const created = await createGroup(admin, [member.accountId]);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(await tablesOf(env.CHAT_ROOM.getByName(created.body.chat_id as string))).toContain("group_members");
    expect(await tablesOf(inboxOf(member))).toContain("group_seen");
  });

  it("a ChatRoom forgets a table created in a transaction that rolled back", async () => {
    const room = env.CHAT_ROOM.getByName(`d_${crypto.randomUUID().replaceAll("-", "")}`);
    await runInDurableObject(room, (instance) => {
      // The room's own transaction wrapper, as a group change or group send uses it.
      const internals = instance as unknown as { transaction(run: () => void): void; tables: TablesOnDemand<"group_members"> };
      expect(() =>
        internals.transaction(() => {
          internals.tables.create("group_members");
          throw new Error("rolled back");
        }),
      ).toThrow("rolled back");
      expect(internals.tables.exists("group_members")).toBe(false);
    });
  });

  it("a creation rolled back with its transaction is looked up again after forget()", async () => {
    const stub = env.DEVICE_INBOX.getByName(`tables-on-demand-${crypto.randomUUID()}`);
    await runInDurableObject(stub, (_instance, state) => {
      const tables = new TablesOnDemand(state.storage.sql, { scratch: [`CREATE TABLE IF NOT EXISTS scratch (x INTEGER)`] });
      expect(() =>
        state.storage.transactionSync(() => {
          tables.create("scratch");
          throw new Error("rolled back");
        }),
      ).toThrow("rolled back");
      // What the caller must do after a rollback; without it `exists` would still say true.
      tables.forget();
      expect(tables.exists("scratch")).toBe(false);
      tables.create("scratch");
      state.storage.sql.exec(`INSERT INTO scratch (x) VALUES (1)`);
      expect(tables.exists("scratch")).toBe(true);
    });
  });
});
