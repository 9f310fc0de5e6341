/**
 * Receipts and socket requests: "delivered" from the recipient's ACK, "read" from the reader,
 * both travelling through the sender's inbox (so an offline sender gets them later), coalesced,
 * and per-message state, in 1:1 chats and groups; sends over the socket; the overflow cap.
 */
import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DeviceInbox } from "../../durable-objects/device-inbox";
import { addCompanionDevice } from "../support/companions";
import { createGroup, groupSend } from "../support/groups";
import { call, login, register } from "../support/identity";
import { ackTakenUpTo, asRecipient, envelopesFor, forgetInboxAcks, InboxSocket, newMsgId, send, withInboxEnqueue } from "../support/messaging";

/** The seqs of the entries a device's inbox still stores. */
function storedSeqs(device: { accountId: string; deviceId: number }): Promise<number[]> {
  return runInDurableObject(env.DEVICE_INBOX.getByName(`${device.accountId}.${device.deviceId}`), (_instance: DeviceInbox, state) =>
    state.storage.sql.exec<{ seq: number }>(`SELECT seq FROM entries ORDER BY seq`).toArray().map((r) => r.seq),
  );
}

describe("receipts", () => {
  it("delivered on ACK and read on request reach an online sender, with per-message state", async () => {
    const alice = await register();
    const bob = await register();
    const aliceSocket = await InboxSocket.open(alice);
    await aliceSocket.drain();

    // Sent over alice's socket: the result frame carries the same ack as HTTP.
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const msgId = newMsgId();
      const result = await aliceSocket.request({
        type: "send",
        message: { to: bob.accountId, msg_id: msgId, envelopes: envelopesFor(msgId, [asRecipient(bob)]) },
      });
      expect(result.status).toBe(200);
      expect(result.body).toMatchObject({ msg_id: msgId, chat_seq: i + 1, duplicate: false });
      ids.push(msgId);
    }
    const chatId = (aliceSocket.frames.find((f) => f.type === "result")!.body as { chat_id: string }).chat_id;

    const bobSocket = await InboxSocket.open(bob);
    await bobSocket.drain();
    bobSocket.ack(bobSocket.messages().at(-1)!.seq);
    await aliceSocket.until(() => aliceSocket.receipts().some((r) => r.status === "delivered"), "delivered receipt");
    expect(aliceSocket.receipts()).toEqual([
      expect.objectContaining({
        kind: "receipt",
        chat_id: chatId,
        status: "delivered",
        reader: { account_id: bob.accountId, device_id: 1 },
        up_to_seq: 3,
        msg_ids: ids,
      }),
    ]);

    const read = await bobSocket.request({ type: "read", chat_id: chatId, up_to_seq: 2 });
    expect(read.status).toBe(200);
    await aliceSocket.until(() => aliceSocket.receipts().some((r) => r.status === "read"), "read receipt");
    expect(aliceSocket.receipts().find((r) => r.status === "read")).toMatchObject({ up_to_seq: 2, msg_ids: ids.slice(0, 2) });

    const first = await call("GET", `/v1/chats/${chatId}/messages/1/receipts`, { token: alice.token });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      chat_id: chatId,
      chat_seq: 1,
      msg_id: ids[0],
      sender: { account_id: alice.accountId, device_id: 1 },
      recipients: [{ account_id: bob.accountId, device_id: 1, delivered: true, read: true }],
    });
    const third = await call("GET", `/v1/chats/${chatId}/messages/3/receipts`, { token: bob.token });
    expect(third.body.recipients).toEqual([{ account_id: bob.accountId, device_id: 1, delivered: true, read: false }]);
    const missing = await call("GET", `/v1/chats/${chatId}/messages/9/receipts`, { token: alice.token });
    expect(missing.status).toBe(404);
    aliceSocket.close();
    bobSocket.close();
  });

  it("an offline sender gets one coalesced receipt when it reconnects", async () => {
    const alice = await register();
    const bob = await register();
    const acks: { chat_id: string; msg_id: string; chat_seq: number }[] = [];
    for (let i = 0; i < 4; i++) acks.push((await send(alice, bob.accountId, [asRecipient(bob)])).body);

    const bobSocket = await InboxSocket.open(bob);
    await bobSocket.drain();
    const messages = bobSocket.messages();
    bobSocket.ack(messages[1]!.seq);
    bobSocket.ack(messages[3]!.seq);
    // A read receipt implies delivery, so wait until the ACK's delivered receipt is recorded first.
    await expect
      .poll(async () => (await call("GET", `/v1/chats/${acks[0]!.chat_id}/messages/4/receipts`, { token: bob.token })).body.recipients[0].delivered, {
        timeout: 30_000,
      })
      .toBe(true);
    const readOverHttp = await call("POST", "/v1/receipts/read", { token: bob.token, body: { chat_id: acks[0]!.chat_id, up_to_seq: 4 } });
    expect(readOverHttp.status).toBe(204);
    bobSocket.close();

    const aliceSocket = await InboxSocket.open(alice);
    await aliceSocket.until(
      () => aliceSocket.receipts().some((r) => r.status === "delivered" && r.up_to_seq === 4),
      "coalesced delivered receipt",
    );
    await aliceSocket.drain();
    const delivered = aliceSocket.receipts().filter((r) => r.status === "delivered");
    const read = aliceSocket.receipts().filter((r) => r.status === "read");
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.msg_ids).toEqual(acks.map((a) => a.msg_id));
    expect(read).toHaveLength(1);
    expect(read[0]).toMatchObject({ up_to_seq: 4, msg_ids: acks.map((a) => a.msg_id) });
    aliceSocket.close();
  });
});

describe("group receipts", () => {
  it("each member's delivered and read reach the sender's devices; later joiners and blockers report nothing for what they never got", async () => {
    const alice = await register();
    const bob = await register();
    const carol = await register();
    const dave = await register();
    const aliceLaptop = await addCompanionDevice(alice.accountId, 2);
    const laptopToken = (await login(aliceLaptop)).body.token as string;
    const laptop = { accountId: alice.accountId, deviceId: 2, registrationId: aliceLaptop.keys.registration_id };
    const chatId = (await createGroup(alice, [bob.accountId, carol.accountId])).body.chat_id as string;
    expect((await call("PUT", `/v1/blocks/${alice.accountId}`, { token: carol.token })).status).toBe(204);

    const aliceSocket = await InboxSocket.open(alice);
    await aliceSocket.drain();
    const laptopSocket = await InboxSocket.open({ token: laptopToken });
    await laptopSocket.drain();
    const first = await groupSend(alice, chatId, { holders: [asRecipient(bob), asRecipient(carol), laptop] });
    expect(first.body.chat_seq).toBe(2);
    // Dave joins after the first message: the add is seq 3, the second message seq 4.
    expect((await call("POST", `/v1/groups/${chatId}/members`, { token: alice.token, body: { account_ids: [dave.accountId] } })).status).toBe(200);
    const second = await groupSend(alice, chatId, { holders: [asRecipient(bob), asRecipient(carol), laptop], distributions: [asRecipient(dave)] });
    expect(second.body.chat_seq).toBe(4);

    // Bob gets both and ACKs them: one delivered receipt for both, on both of alice's devices.
    const bobSocket = await InboxSocket.open(bob);
    await bobSocket.drain();
    bobSocket.ack(bobSocket.entries().at(-1)!.seq);
    for (const socket of [aliceSocket, laptopSocket]) {
      await socket.until(() => socket.receipts().some((r) => r.reader.account_id === bob.accountId), "bob's delivered receipt");
    }
    expect(aliceSocket.receipts()).toEqual([
      expect.objectContaining({ chat_id: chatId, status: "delivered", reader: { account_id: bob.accountId, device_id: 1 }, up_to_seq: 4, msg_ids: [first.body.msg_id, second.body.msg_id] }),
    ]);
    // Dave reads everything up to seq 4: only the second message is his to report.
    const daveSocket = await InboxSocket.open(dave);
    await daveSocket.drain();
    expect((await daveSocket.request({ type: "read", chat_id: chatId, up_to_seq: 4 })).status).toBe(200);
    await aliceSocket.until(() => aliceSocket.receipts().some((r) => r.reader.account_id === dave.accountId), "dave's read receipt");
    expect(aliceSocket.receipts().find((r) => r.reader.account_id === dave.accountId)).toMatchObject({ status: "read", up_to_seq: 4, msg_ids: [second.body.msg_id] });
    // Carol blocks alice: she got nothing, and her read of the whole chat tells alice nothing.
    expect((await call("POST", "/v1/receipts/read", { token: carol.token, body: { chat_id: chatId, up_to_seq: 4 } })).status).toBe(204);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(aliceSocket.receipts().filter((r) => r.reader.account_id === carol.accountId)).toEqual([]);

    // Per-message state: the devices that got the message, with what each reported.
    const state = await call("GET", `/v1/chats/${chatId}/messages/2/receipts`, { token: bob.token });
    expect(state.status).toBe(200);
    const byDevice = (state.body.recipients as { account_id: string; device_id: number; delivered: boolean; read: boolean }[]).map(
      (r) => `${r.account_id === bob.accountId ? "bob" : r.account_id === alice.accountId ? "laptop" : "other"}:${r.delivered}:${r.read}`,
    );
    expect(byDevice.sort()).toEqual(["bob:true:false", "laptop:false:false"]);
    const later = await call("GET", `/v1/chats/${chatId}/messages/4/receipts`, { token: dave.token });
    expect(later.body.recipients).toContainEqual({ account_id: dave.accountId, device_id: 1, delivered: true, read: true });
    expect(later.body.recipients).toHaveLength(3); // bob, dave and alice's laptop; not carol, who blocks alice
    for (const socket of [aliceSocket, laptopSocket, bobSocket, daveSocket]) socket.close();
  });
});

describe("delivered receipts window (DELIVERED_RECEIPT_DELAY_MS)", () => {
  it("ACKs within the window share one receipt, and a receipt owed when the inbox restarts arrives once the device reconnects", async () => {
    const alice = await register();
    const bob = await register();
    const acks: { chat_id: string; msg_id: string; chat_seq: number }[] = [];
    for (let i = 0; i < 3; i++) acks.push((await send(alice, bob.accountId, [asRecipient(bob)])).body);
    const aliceSocket = await InboxSocket.open(alice);
    await aliceSocket.drain();
    const bobSocket = await InboxSocket.open(bob);
    await bobSocket.drain();
    const bobInbox = env.DEVICE_INBOX.getByName(`${bob.accountId}.1`);
    // A wide window for this one inbox, so that "within the window" holds however loaded the machine is.
    const withDelay = (ms: number) => runInDurableObject(bobInbox, (instance: DeviceInbox) => void Object.assign(instance, { env: { ...env, DELIVERED_RECEIPT_DELAY_MS: String(ms) } }));
    await withDelay(2000);

    const messages = bobSocket.messages();
    bobSocket.ack(messages[0]!.seq);
    bobSocket.ack(messages[2]!.seq);
    await aliceSocket.until(() => aliceSocket.receipts().some((r) => r.status === "delivered" && r.up_to_seq === 3), "delivered receipt");
    // Without the window the first ACK's receipt (up to 1) would travel, and reach alice, on its own.
    expect(aliceSocket.receipts().filter((r) => r.status === "delivered")).toEqual([
      expect.objectContaining({ up_to_seq: 3, msg_ids: acks.map((a) => a.msg_id) }),
    ]);

    // The ACK of a fourth message owes a receipt, held in memory (an ACK writes nothing), and the
    // inbox restarts before the window ends. The entry is still stored, so connecting with the
    // cursor owes the receipt again; the entry itself is not sent again.
    await send(alice, bob.accountId, [asRecipient(bob)]);
    await bobSocket.until(() => bobSocket.messages().length === 4, "fourth message");
    await withDelay(5000);
    const fourth = bobSocket.messages()[3]!.seq;
    bobSocket.ack(fourth);
    await expect.poll(() => ackTakenUpTo(bob), { timeout: 30_000 }).toBe(fourth);
    aliceSocket.close();
    await abortAllDurableObjects();
    const bobAgain = await InboxSocket.open(bob, fourth);
    await bobAgain.drain();
    expect(bobAgain.messages()).toEqual([]);
    const again = await InboxSocket.open(alice);
    await again.until(() => again.receipts().some((r) => r.status === "delivered" && r.up_to_seq === 4), "delivered receipt after the restart");
    again.close();
    bobAgain.close();
  });

  it("an ACK writes nothing: its receipt goes from memory and its entries with the inbox's next write, never to be replayed", async () => {
    const alice = await register();
    const bob = await register();
    const stored = () => storedSeqs(bob);
    const aliceSocket = await InboxSocket.open(alice);
    await aliceSocket.drain();
    await send(alice, bob.accountId, [asRecipient(bob)]);
    const bobSocket = await InboxSocket.open(bob);
    await bobSocket.drain();
    const first = bobSocket.messages()[0]!.seq;
    bobSocket.ack(first);
    // The receipt reaches alice while the ACKed entry is still stored: nothing was written for it.
    await aliceSocket.until(() => aliceSocket.receipts().some((r) => r.status === "delivered" && r.up_to_seq === 1), "delivered receipt");
    expect(await stored()).toEqual([first]);

    // The next message is the inbox's next write, and the ACKed entry goes with it.
    await send(alice, bob.accountId, [asRecipient(bob)]);
    await bobSocket.until(() => bobSocket.messages().length === 2, "second message");
    const second = bobSocket.messages()[1]!.seq;
    expect(await stored()).toEqual([second]);

    // Closing settles what the socket ACKed: a reconnect without a cursor gets nothing again. (The
    // close only once the inbox has the ACK: a close that overtook it would settle less, by design.)
    bobSocket.ack(second);
    await expect.poll(() => ackTakenUpTo(bob), { timeout: 30_000 }).toBe(second);
    bobSocket.close();
    await expect.poll(stored, { timeout: 30_000 }).toEqual([]);
    const fresh = await InboxSocket.open(bob);
    await fresh.drain();
    expect(fresh.entries()).toEqual([]);
    await aliceSocket.until(() => aliceSocket.receipts().some((r) => r.status === "delivered" && r.up_to_seq === 2), "second delivered receipt");
    fresh.close();
    aliceSocket.close();
  });

  it("an ACK the inbox forgot (a restart that kept the socket) is settled from the socket's record with the next write", async () => {
    const alice = await register();
    const bob = await register();
    const stored = () => storedSeqs(bob);
    await send(alice, bob.accountId, [asRecipient(bob)]);
    await send(alice, bob.accountId, [asRecipient(bob)]);
    const bobSocket = await InboxSocket.open(bob);
    await bobSocket.drain();
    const acked = bobSocket.messages()[1]!.seq;
    bobSocket.ack(acked);
    await expect.poll(() => ackTakenUpTo(bob), { timeout: 30_000 }).toBe(acked);
    await forgetInboxAcks(bob);

    // The next message is the next write: the socket's attachment says what was ACKed.
    const aliceSocket = await InboxSocket.open(alice);
    await aliceSocket.drain();
    await send(alice, bob.accountId, [asRecipient(bob)]);
    await bobSocket.until(() => bobSocket.messages().length === 3, "third message");
    expect(await stored()).toEqual([bobSocket.messages()[2]!.seq]);
    await aliceSocket.until(() => aliceSocket.receipts().some((r) => r.status === "delivered" && r.up_to_seq === 2), "delivered receipt");
    bobSocket.close();
    aliceSocket.close();
  });
});

describe("receipts through the ChatRoom", () => {
  /** The room's stored receipt positions and outbox rows (what its commits wrote). */
  const roomRows = (chatId: string) =>
    runInDurableObject(env.CHAT_ROOM.getByName(chatId), (_instance, state) => ({
      positions: state.storage.sql.exec<{ account_id: string; delivered_up_to: number }>(`SELECT account_id, delivered_up_to FROM receipts`).toArray(),
      pending: state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM pending`).one().n,
    }));

  it("a receipt is not a commit of the room: it goes straight to the sender's inbox, and its position with the room's next write", async () => {
    const alice = await register();
    const bob = await register();
    const first = (await send(alice, bob.accountId, [asRecipient(bob)])).body;
    // However slow the machine, the room's own deferred write must not come first in this test.
    await runInDurableObject(env.CHAT_ROOM.getByName(first.chat_id), (instance) => void Object.assign(instance, { positionSaveMs: 120_000 }));
    const aliceSocket = await InboxSocket.open(alice);
    await aliceSocket.drain();
    const bobSocket = await InboxSocket.open(bob);
    await bobSocket.drain();
    bobSocket.ack(bobSocket.messages()[0]!.seq);
    await aliceSocket.until(() => aliceSocket.receipts().some((r) => r.status === "delivered" && r.up_to_seq === 1), "delivered receipt");

    // The room wrote neither the position nor an outbox row, yet reports the receipt from memory.
    // (Its first send's rows are deleted only with its next write, so none of alice's are pending.)
    expect(await roomRows(first.chat_id)).toMatchObject({ positions: [] });
    const state = await call("GET", `/v1/chats/${first.chat_id}/messages/1/receipts`, { token: alice.token });
    expect(state.body.recipients).toEqual([{ account_id: bob.accountId, device_id: 1, delivered: true, read: false }]);

    // The room's next write takes the position with it: it survives a restart from then on.
    await send(alice, bob.accountId, [asRecipient(bob)]);
    expect(await roomRows(first.chat_id)).toMatchObject({ positions: [{ account_id: bob.accountId, delivered_up_to: 1 }] });
    await abortAllDurableObjects();
    const after = await call("GET", `/v1/chats/${first.chat_id}/messages/1/receipts`, { token: alice.token });
    expect(after.body.recipients).toEqual([{ account_id: bob.accountId, device_id: 1, delivered: true, read: false }]);
    aliceSocket.close();
    bobSocket.close();
  });

  it("without a next write the position is written on its own soon after", async () => {
    const alice = await register();
    const bob = await register();
    const first = (await send(alice, bob.accountId, [asRecipient(bob)])).body;
    await runInDurableObject(env.CHAT_ROOM.getByName(first.chat_id), (instance) => void Object.assign(instance, { positionSaveMs: 100 }));
    const read = await call("POST", "/v1/receipts/read", { token: bob.token, body: { chat_id: first.chat_id, up_to_seq: 1 } });
    expect(read.status).toBe(204);
    await expect.poll(async () => (await roomRows(first.chat_id)).positions, { timeout: 10_000 }).toEqual([{ account_id: bob.accountId, delivered_up_to: 1 }]);
    await abortAllDurableObjects();
    const after = await call("GET", `/v1/chats/${first.chat_id}/messages/1/receipts`, { token: alice.token });
    expect(after.body.recipients).toEqual([{ account_id: bob.accountId, device_id: 1, delivered: true, read: true }]);
  });

  it("the position moves only once the receipt is in the sender's inbox", async () => {
    const alice = await register();
    const bob = await register();
    const first = (await send(alice, bob.accountId, [asRecipient(bob)])).body;
    const recipients = async () => (await call("GET", `/v1/chats/${first.chat_id}/messages/1/receipts`, { token: alice.token })).body.recipients;
    // Alice's inbox takes the receipt only when the test lets it.
    let arrived = false;
    let letIn!: () => void;
    const gate = new Promise<void>((resolve) => (letIn = resolve));
    const hold = async (proceed: () => Promise<void>) => {
      arrived = true;
      await gate;
      return proceed();
    };
    try {
      await withInboxEnqueue(alice, hold, async () => {
        const reading = call("POST", "/v1/receipts/read", { token: bob.token, body: { chat_id: first.chat_id, up_to_seq: 1 } });
        await expect.poll(() => arrived, { timeout: 10_000 }).toBe(true);
        // Not recorded while it could still fail: a repeat now would be sent again, not skipped.
        expect(await recipients()).toEqual([{ account_id: bob.accountId, device_id: 1, delivered: false, read: false }]);
        letIn();
        expect((await reading).status).toBe(204);
      });
    } finally {
      letIn();
    }
    expect(await recipients()).toEqual([{ account_id: bob.accountId, device_id: 1, delivered: true, read: true }]);
  });

  it("a receipt the sender's inbox refuses waits in the room's outbox and the alarm delivers it", async () => {
    const alice = await register();
    const bob = await register();
    const first = (await send(alice, bob.accountId, [asRecipient(bob)])).body;
    const refuse = () => {
      throw new Error("inbox unavailable");
    };
    await withInboxEnqueue(alice, refuse, async () => {
      const read = await call("POST", "/v1/receipts/read", { token: bob.token, body: { chat_id: first.chat_id, up_to_seq: 1 } });
      expect(read.status).toBe(204);
      // Accepted: the refused receipt is durable in the room's outbox (with the position) before the answer.
      expect(await roomRows(first.chat_id)).toMatchObject({ pending: 1, positions: [{ account_id: bob.accountId, delivered_up_to: 1 }] });
    });
    expect(await runDurableObjectAlarm(env.CHAT_ROOM.getByName(first.chat_id))).toBe(true);
    const aliceSocket = await InboxSocket.open(alice);
    await aliceSocket.drain();
    expect(aliceSocket.receipts()).toEqual([expect.objectContaining({ status: "read", up_to_seq: 1, msg_ids: [first.msg_id] })]);
    aliceSocket.close();
  });
});

describe("overflow", () => {
  it("drops the oldest entries past the cap and reports them as a gap", async () => {
    const alice = await register();
    const bob = await register();
    const stub = env.DEVICE_INBOX.getByName(`${bob.accountId}.1`);
    // The cap is deployment configuration (INBOX_MAX_ENTRIES); give this one inbox a small one.
    await runInDurableObject(stub, (instance: DeviceInbox) => {
      Object.assign(instance, { env: { ...env, INBOX_MAX_ENTRIES: "100" } });
    });
    const acks: { chat_id: string; msg_id: string; chat_seq: number }[] = [];
    for (let i = 0; i < 104; i++) acks.push((await send(alice, bob.accountId, [asRecipient(bob)])).body);

    const socket = await InboxSocket.open(bob);
    await socket.drain();
    const gaps = socket.gaps();
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toMatchObject({ reason: "overflow", sender: { account_id: alice.accountId, device_id: 1 } });
    // 104 messages + gap markers must fit in 100 entries: the oldest went, the newest stayed.
    const kept = socket.messages().map((m) => m.chat_seq);
    expect(kept.at(-1)).toBe(104);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 105 - kept.length + i));
    expect(gaps[0]!.count).toBe(104 - kept.length);
    expect(socket.entries().length).toBeLessThanOrEqual(100);
    socket.close();
  });
});
