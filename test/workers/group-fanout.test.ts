/**
 * Large-group fanout through the `fanout` queue: a group above the inline threshold (members
 * seeded in D1, see test/support/groups.ts; size below) gets the creation event and a message on every device exactly once, the
 * "sent" ack means every job is on the queue, and a fanout batch retried after partial processing
 * (some inboxes took it, a device even ACKed it) creates no second inbox entry.
 */
import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DeviceInbox } from "../../durable-objects/device-inbox";
import worker from "../../src/index";
import { deliverFanoutJob } from "../../src/groups/fanout-consumer";
import type { FanoutJobBody } from "../../src/protocol/internal";
import { createGroup, fakeGroupCiphertext, groupSend, seedAccounts } from "../support/groups";
import { register } from "../support/identity";
import { ackTakenUpTo, asRecipient, InboxSocket, newMsgId, type Recipient } from "../support/messaging";

/** Entries of one chat position in a device's inbox, by kind. */
async function entriesAt(device: { accountId: string; deviceId: number }, chatId: string, chatSeq: number): Promise<string[]> {
  return runInDurableObject(env.DEVICE_INBOX.getByName(`${device.accountId}.${device.deviceId}`), (_i: DeviceInbox, state) =>
    state.storage.sql
      .exec<{ kind: string }>(`SELECT kind FROM entries WHERE chat_id = ? AND chat_seq = ?`, chatId, chatSeq)
      .toArray()
      .map((r) => r.kind),
  );
}

/** How many of `devices` hold exactly one entry of kind `kind` at the position (and how many hold more). */
async function countDelivered(devices: Recipient[], chatId: string, chatSeq: number, kind: string): Promise<{ once: number; more: number }> {
  let once = 0;
  let more = 0;
  for (const device of devices) {
    const n = (await entriesAt(device, chatId, chatSeq)).filter((k) => k === kind).length;
    if (n === 1) once++;
    if (n > 1) more++;
  }
  return { once, more };
}

/**
 * Enough members for two fanout queue jobs (GROUP_FANOUT_BATCH_DEVICES is 100). The 1,024-member
 * acceptance runs against wrangler dev in test/node/group-fanout-1024.test.ts: this test pool's
 * single process slows down with every Durable Object it creates, so 1,023 inboxes do not fit here.
 */
const LARGE_GROUP_MEMBERS = 150;

describe("queue fanout", () => {
  it(`a ${LARGE_GROUP_MEMBERS}-member group receives the creation event and one message on every device exactly once`, { timeout: 400_000 }, async () => {
    const admin = await register();
    const members = await seedAccounts(LARGE_GROUP_MEMBERS - 1);
    const created = await createGroup(admin, members.map((m) => m.accountId));
    expect(created.status, JSON.stringify(created.body).slice(0, 500)).toBe(201);
    const chatId = created.body.chat_id as string;
    expect(created.body.members).toHaveLength(LARGE_GROUP_MEMBERS);

    const msgId = newMsgId();
    const sent = await groupSend(admin, chatId, { msgId, holders: members });
    expect(sent.status, JSON.stringify(sent.body).slice(0, 500)).toBe(200);
    expect(sent.body.chat_seq).toBe(2);
    // The ack means the fanout was durably accepted: no job is left waiting in the room.
    const waiting = await runInDurableObject(env.CHAT_ROOM.getByName(chatId), (_room, state) => ({
      jobs: state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM fanout_jobs`).one().n,
      pending: state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM pending`).one().n,
    }));
    expect(waiting).toEqual({ jobs: 0, pending: 0 });

    // Inboxes are read one at a time (each read is a Durable Object call in the one test process):
    // a sample first, then every one.
    const sample = members.filter((_, i) => i % 50 === 49);
    await expect.poll(() => countDelivered(sample, chatId, 2, "message"), { timeout: 600_000, interval: 5000 }).toEqual({ once: sample.length, more: 0 });
    expect(await countDelivered(members, chatId, 2, "message")).toEqual({ once: members.length, more: 0 });
    expect(await countDelivered(members, chatId, 1, "group_event")).toEqual({ once: members.length, more: 0 });

    // What a member's device holds is the one ciphertext, unchanged.
    const someone = members[members.length >> 1]!;
    const stored = await runInDurableObject(env.DEVICE_INBOX.getByName(`${someone.accountId}.1`), (_i: DeviceInbox, state) =>
      JSON.parse(state.storage.sql.exec<{ body: string }>(`SELECT body FROM entries WHERE chat_seq = 2`).one().body),
    );
    expect(stored).toMatchObject({ kind: "message", chat_id: chatId, msg_id: msgId, type: "sender_key", content: fakeGroupCiphertext(msgId) });

  });

  it("a fanout batch retried after partial processing creates no duplicates, even after the device ACKed", async () => {
    const admin = await register();
    const bob = await register();
    const carol = await register();
    const dave = await register();
    const chatId = (await createGroup(admin, [bob.accountId, carol.accountId, dave.accountId])).body.chat_id as string;
    const recipients = [bob, carol, dave].map(asRecipient);
    const msgId = newMsgId();
    // A job as the ChatRoom writes it (the chat_seq is one the room never fanned out inline).
    const job: FanoutJobBody = {
      chat_id: chatId as FanoutJobBody["chat_id"],
      chat_seq: 7,
      devices: recipients.map((r) => [r.accountId, r.deviceId]),
      entry: {
        kind: "message",
        chat_id: chatId,
        chat_seq: 7,
        msg_id: msgId,
        sender: { account_id: admin.accountId, device_id: 1 },
        server_ts: Date.now(),
        type: "sender_key",
        content: fakeGroupCiphertext(msgId),
      },
    };

    // Bob is online; the first attempt reached only bob's inbox before it failed.
    const bobSocket = await InboxSocket.open(bob);
    await bobSocket.drain();
    expect(await deliverFanoutJob(env, { ...job, devices: [job.devices[0]!] })).toBe(0);
    await bobSocket.until(() => bobSocket.messages().length === 1, "bob's first copy");
    const acked = bobSocket.messages()[0]!.seq;
    bobSocket.ack(acked);
    // The inbox has the ACK; the entry goes with its next write (the redelivery below).
    await expect.poll(() => ackTakenUpTo(bob)).toBe(acked);

    // The queue redelivers the whole batch, twice (a retry, then a duplicate delivery).
    for (let attempt = 1; attempt <= 2; attempt++) {
      const batch = createMessageBatch("parley-fanout", [{ id: crypto.randomUUID(), timestamp: new Date(), attempts: attempt, body: job }]);
      const ctx = createExecutionContext();
      await worker.queue(batch, env);
      const result = await getQueueResult(batch, ctx);
      expect(result.explicitAcks).toHaveLength(1);
      expect(result.retryMessages).toEqual([]);
    }

    expect(await entriesAt(bob, chatId, 7)).toEqual([]); // ACKed once, never queued again
    expect(await entriesAt(carol, chatId, 7)).toEqual(["message"]);
    expect(await entriesAt(dave, chatId, 7)).toEqual(["message"]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(bobSocket.messages().filter((m) => m.chat_seq === 7)).toHaveLength(1);
    bobSocket.close();

    // A malformed job cannot succeed on a retry: it is acknowledged (and logged), not retried.
    const bad = createMessageBatch("parley-fanout", [{ id: crypto.randomUUID(), timestamp: new Date(), attempts: 1, body: { chat_id: chatId } }]);
    const ctx = createExecutionContext();
    await worker.queue(bad, env);
    expect((await getQueueResult(bad, ctx)).explicitAcks).toHaveLength(1);
  });
});

