/**
 * Durable delivery: offline backlog, replay with resume, idempotent sends, restarts, the
 * device-set check, authorization, and expiry into gap markers.
 */
import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { DeviceInbox } from "../../durable-objects/device-inbox";
import { directChatId } from "../../src/protocol/chat-ids";
import { addCompanionDevice } from "../support/companions";
import { call, login, register, type RegisteredDevice } from "../support/identity";
import { asRecipient, envelopesFor, fakeCiphertext, InboxSocket, newMsgId, send } from "../support/messaging";

function inbox(device: { accountId: string; deviceId: number }) {
  return env.DEVICE_INBOX.getByName(`${device.accountId}.${device.deviceId}`);
}

async function inboxSize(device: { accountId: string; deviceId: number }): Promise<number> {
  return runInDurableObject(inbox(device), (_instance: DeviceInbox, state) => {
    return state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM entries`).one().n;
  });
}

async function pair(): Promise<[RegisteredDevice, RegisteredDevice]> {
  return [await register({ handle: undefined }), await register()];
}

/**
 * Sends `count` messages from alice to bob's single device, 16 in flight at a time (as a client
 * outbox would), and returns the msg_ids in the chat order the server assigned.
 */
async function sendMany(alice: RegisteredDevice, bob: RegisteredDevice, count: number): Promise<string[]> {
  const acks: { msg_id: string; chat_seq: number }[] = [];
  for (let start = 0; start < count; start += 16) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(16, count - start) }, () => send(alice, bob.accountId, [asRecipient(bob)])),
    );
    for (const res of batch) {
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      acks.push(res.body);
    }
  }
  acks.sort((a, b) => a.chat_seq - b.chat_seq);
  expect(acks.map((a) => a.chat_seq)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
  return acks.map((a) => a.msg_id);
}

describe("offline backlog", () => {
  it("delivers 500 messages in chat_seq order after reconnecting, then queue_empty; ACK empties the inbox", async () => {
    const [alice, bob] = await pair();
    const ids = await sendMany(alice, bob, 500);

    const socket = await InboxSocket.open(bob);
    const entries = await socket.drain();
    const messages = socket.messages();
    expect(entries).toHaveLength(500);
    expect(messages.map((m) => m.chat_seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(messages.map((m) => m.msg_id)).toEqual(ids);
    expect(messages[0]).toMatchObject({
      kind: "message",
      chat_id: await directChatId(alice.accountId, bob.accountId),
      sender: { account_id: alice.accountId, device_id: 1 },
      type: "message",
      content: fakeCiphertext(ids[0]!, bob),
    });
    // queue_empty comes after the last entry frame.
    const lastEntriesFrame = socket.frames.findLastIndex((f) => f.type === "entries");
    expect(socket.frames.findIndex((f) => f.type === "queue_empty")).toBeGreaterThan(lastEntriesFrame);

    // An ACK writes nothing by itself; its entries go with the inbox's next write, here the close.
    socket.ack(messages.at(-1)!.seq);
    socket.close();
    await expect.poll(() => inboxSize(bob), { timeout: 30_000 }).toBe(0);
  });

  it("resumes from the cursor after a reconnect mid-replay: no gap, duplicates only of un-ACKed entries", async () => {
    const [alice, bob] = await pair();
    await sendMany(alice, bob, 200);

    const first = await InboxSocket.open(bob);
    await first.until(() => first.messages().length >= 120, "120 entries");
    const seen = first.messages().slice(0, 120);
    const ackedCursor = seen[99]!.seq;
    first.ack(ackedCursor);
    first.close();
    await expect.poll(() => inboxSize(bob), { timeout: 30_000 }).toBe(100);

    const second = await InboxSocket.open(bob, ackedCursor);
    await second.drain();
    const resumed = second.messages();
    expect(resumed[0]!.chat_seq).toBe(101);
    expect(resumed.map((m) => m.chat_seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 101));
    // Entries 101..120 arrive twice in total (they were never ACKed); nothing else does.
    const union = [...seen.map((m) => m.chat_seq), ...resumed.map((m) => m.chat_seq)];
    const duplicates = union.filter((seq, i) => union.indexOf(seq) !== i);
    expect(duplicates).toEqual(Array.from({ length: 20 }, (_, i) => i + 101));
    second.close();
  });

  it("streams live entries after queue_empty, and a second connection replaces the first", async () => {
    const [alice, bob] = await pair();
    const first = await InboxSocket.open(bob);
    await first.drain();
    const res = await send(alice, bob.accountId, [asRecipient(bob)]);
    await first.until(() => first.messages().length === 1, "live message");
    expect(first.messages()[0]!.msg_id).toBe(res.body.msg_id);

    const second = await InboxSocket.open(bob);
    await first.until(() => first.closed !== null, "first socket closed");
    expect(first.closed!.code).toBe(4000);
    // Not ACKed on the first connection, so replayed on the second.
    await second.drain();
    expect(second.messages().map((m) => m.msg_id)).toEqual([res.body.msg_id]);
    second.close();
  });
});

describe("live delivery after ACKs", () => {
  it("pushes each new entry at once after the device ACKed everything before it", async () => {
    // After an ACK the inbox knows it has nothing newer without a SELECT (a seq bound in memory);
    // each insert must raise that bound, or the next message would wait for a reconnect.
    const [alice, bob] = await pair();
    const socket = await InboxSocket.open(bob);
    await socket.drain();
    for (let i = 0; i < 3; i++) {
      const res = await send(alice, bob.accountId, [asRecipient(bob)]);
      await socket.until(() => socket.messages().length === i + 1, `live message ${i + 1}`);
      const entry = socket.messages()[i]!;
      expect(entry.msg_id).toBe(res.body.msg_id);
      socket.ack(entry.seq);
    }
    socket.close();
  });
});

describe("idempotent sends", () => {
  it("a repeated msg_id returns the original ack and is delivered once", async () => {
    const [alice, bob] = await pair();
    const msgId = newMsgId();
    const first = await send(alice, bob.accountId, [asRecipient(bob)], msgId);
    const again = await send(alice, bob.accountId, [asRecipient(bob)], msgId);
    expect(first.status).toBe(200);
    expect(first.body.duplicate).toBe(false);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...first.body, duplicate: true });

    const concurrentId = newMsgId();
    const results = await Promise.all(Array.from({ length: 8 }, () => send(alice, bob.accountId, [asRecipient(bob)], concurrentId)));
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(new Set(results.map((r) => r.body.chat_seq)).size).toBe(1);
    expect(results.filter((r) => r.body.duplicate === false)).toHaveLength(1);

    const socket = await InboxSocket.open(bob);
    await socket.drain();
    expect(socket.messages().map((m) => m.msg_id)).toEqual([msgId, concurrentId]);
    expect(socket.messages().map((m) => m.chat_seq)).toEqual([1, 2]);
    socket.close();
  });
});

describe("restarts", () => {
  it("loses nothing when every Durable Object restarts between send and ACK", async () => {
    const [alice, bob] = await pair();
    const ids = await sendMany(alice, bob, 10);
    await abortAllDurableObjects();

    const socket = await InboxSocket.open(bob);
    await socket.drain();
    expect(socket.messages().map((m) => m.msg_id)).toEqual(ids);
    // Restart again with the entries sent but not ACKed: they are replayed.
    await abortAllDurableObjects();
    const again = await InboxSocket.open(bob);
    await again.drain();
    expect(again.messages().map((m) => m.msg_id)).toEqual(ids);
    again.ack(again.messages().at(-1)!.seq);
    again.close();
    await expect.poll(() => inboxSize(bob), { timeout: 30_000 }).toBe(0);

    // The chat's order survives the restart too.
    const next = await send(alice, bob.accountId, [asRecipient(bob)]);
    expect(next.body.chat_seq).toBe(11);
  });
});

describe("fanout rows taken but not yet deleted", () => {
  it("a ChatRoom restart sends them again and the inbox skips them, even after the device ACKed", async () => {
    const [alice, bob] = await pair();
    const ids = await sendMany(alice, bob, 3);
    const socket = await InboxSocket.open(bob);
    await socket.drain();
    expect(socket.messages().map((m) => m.msg_id)).toEqual(ids);
    socket.ack(socket.messages().at(-1)!.seq);
    socket.close();
    await expect.poll(() => inboxSize(bob), { timeout: 30_000 }).toBe(0);

    // The room deletes what an inbox took with its next write: the last message's row is still there.
    const chatId = await directChatId(alice.accountId, bob.accountId);
    const room = () => env.CHAT_ROOM.getByName(chatId);
    // Bob's rows only: alice's "delivered" receipt rows are re-sent too, but that path is not under test.
    const pendingRows = () =>
      runInDurableObject(room(), (_instance, state) =>
        state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM pending WHERE account_id = ?`, bob.accountId).one().n,
      );
    expect(await pendingRows()).toBeGreaterThan(0);
    await abortAllDurableObjects();
    // The restarted room's alarm sends it again; bob's inbox already took that position.
    expect(await runDurableObjectAlarm(room())).toBe(true);
    expect(await pendingRows()).toBe(0);
    expect(await inboxSize(bob)).toBe(0);
    const again = await InboxSocket.open(bob);
    await again.drain();
    expect(again.messages()).toEqual([]);

    // The next message still arrives.
    const next = await send(alice, bob.accountId, [asRecipient(bob)]);
    await again.until(() => again.messages().length === 1, "the next message");
    expect(again.messages()[0]).toMatchObject({ msg_id: next.body.msg_id, chat_seq: 4 });
    again.close();
  });
});

describe("deploys during traffic", () => {
  it("loses and duplicates nothing when every object restarts while messages are in flight", async () => {
    const [alice, bob] = await pair();
    const socket = await InboxSocket.open(bob);
    await socket.drain();
    // A client outbox: each message retried with its msg_id until the server acks it.
    const sendUntilAcked = async (msgId: string) => {
      for (let attempt = 0; ; attempt++) {
        const res = await send(alice, bob.accountId, [asRecipient(bob)], msgId);
        if (res.status === 200) return res.body as { chat_seq: number };
        // A restart mid-request is a server error, never a client error. (In production the
        // runtime flags such errors .retryable and they map to 503; the test pool's abort does not.)
        expect(res.status, JSON.stringify(res.body)).toBeGreaterThanOrEqual(500);
        expect(attempt).toBeLessThan(10);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    const ids = Array.from({ length: 40 }, () => newMsgId());
    const inFlight = ids.map((id, i) => new Promise((resolve) => setTimeout(resolve, i * 5)).then(() => sendUntilAcked(id)));
    await new Promise((resolve) => setTimeout(resolve, 60));
    await abortAllDurableObjects(); // the "deploy"
    const acks = await Promise.all(inFlight);
    expect(new Set(acks.map((a) => a.chat_seq)).size).toBe(40);

    // The socket was dropped; the client reconnects from its cursor (0: it ACKed nothing).
    await socket.until(() => socket.closed !== null, "socket dropped by the restart");
    const again = await InboxSocket.open(bob, 0);
    await again.drain();
    const received = again.messages().map((m) => m.msg_id);
    expect(received.length).toBe(40);
    expect(new Set(received)).toEqual(new Set(ids));
    expect(again.messages().map((m) => m.chat_seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    again.close();
  });
});

describe("device-set check", () => {
  it("answers 409 with missing and extra devices, and 410 with stale ones; the same msg_id then succeeds", async () => {
    const [alice, bob] = await pair();
    const aliceLaptop = await addCompanionDevice(alice.accountId, 2);
    const bobTablet = await addCompanionDevice(bob.accountId, 2);
    const msgId = newMsgId();

    const onlyBob = await send(alice, bob.accountId, [asRecipient(bob)], msgId);
    expect(onlyBob.status).toBe(409);
    expect(onlyBob.body.error.code).toBe("device_mismatch");
    expect(onlyBob.body.error.details.missing).toEqual(
      expect.arrayContaining([
        { account_id: bob.accountId, device_id: 2 },
        { account_id: alice.accountId, device_id: 2 },
      ]),
    );
    expect(onlyBob.body.error.details.missing).toHaveLength(2);
    expect(onlyBob.body.error.details.extra).toEqual([]);

    const all = [asRecipient(bob), asRecipient(bobTablet), asRecipient(aliceLaptop)];
    const ghost = { accountId: bob.accountId, deviceId: 7, registrationId: 42 };
    const withGhost = await send(alice, bob.accountId, [...all, ghost], msgId);
    expect(withGhost.status).toBe(409);
    expect(withGhost.body.error.details).toEqual({ missing: [], extra: [{ account_id: bob.accountId, device_id: 7 }] });

    const staleTablet = { ...asRecipient(bobTablet), registrationId: (bobTablet.keys.registration_id % 1000) + 1 };
    const stale = await send(alice, bob.accountId, [asRecipient(bob), staleTablet, asRecipient(aliceLaptop)], msgId);
    expect(stale.status).toBe(410);
    expect(stale.body.error).toMatchObject({ code: "stale_devices", details: { stale: [{ account_id: bob.accountId, device_id: 2 }] } });

    const ok = await send(alice, bob.accountId, all, msgId);
    expect(ok.status).toBe(200);
    expect(ok.body.chat_seq).toBe(1);

    // Every device got its own envelope, including alice's other device (outbox sync).
    const laptopToken = (await login(aliceLaptop)).body.token as string;
    const laptop = await InboxSocket.open({ token: laptopToken });
    await laptop.drain();
    expect(laptop.messages()).toHaveLength(1);
    expect(laptop.messages()[0]!.content).toBe(fakeCiphertext(msgId, aliceLaptop));
    laptop.close();
  });
});

describe("authorization", () => {
  it("refuses sockets without a valid token and sends by removed devices", async () => {
    const [alice] = await pair();
    expect(await InboxSocket.connect(null)).toMatchObject({ status: 401, body: { error: { code: "unauthorized" } } });
    expect(await InboxSocket.connect("pt1.forged.token")).toMatchObject({ status: 401 });

    const laptop = await addCompanionDevice(alice.accountId, 2);
    const laptopToken = (await login(laptop)).body.token as string;
    expect((await call("DELETE", "/v1/devices/2", { token: alice.token })).status).toBe(204);
    expect(await InboxSocket.connect(laptopToken)).toMatchObject({ status: 410, body: { error: { code: "device_removed" } } });
    const res = await send({ ...laptop, token: laptopToken }, alice.accountId, [asRecipient(alice)]);
    expect(res.status).toBe(401);
  });

  it("a token reads only its own device's inbox, and non-participants cannot read or mark a chat", async () => {
    const [alice, bob] = await pair();
    const carol = await register();
    const sent = await send(alice, bob.accountId, [asRecipient(bob)]);
    const chatId = sent.body.chat_id as string;

    const carolSocket = await InboxSocket.open(carol);
    await carolSocket.drain();
    expect(carolSocket.entries()).toEqual([]);
    carolSocket.close();

    const receipts = await call("GET", `/v1/chats/${chatId}/messages/1/receipts`, { token: carol.token });
    expect(receipts.status).toBe(403);
    const read = await call("POST", "/v1/receipts/read", { token: carol.token, body: { chat_id: chatId, up_to_seq: 1 } });
    expect(read.status).toBe(403);
    expect(read.body.error.code).toBe("forbidden");

    // Sending "to bob" from carol goes to carol<->bob, never into alice's chat.
    const fromCarol = await send(carol, bob.accountId, [asRecipient(bob)]);
    expect(fromCarol.body.chat_id).not.toBe(chatId);
    expect(fromCarol.body.chat_seq).toBe(1);
  });
});

describe("retention", () => {
  it("turns expired entries into a gap marker on the next connection, never silence", async () => {
    const [alice, bob] = await pair();
    await sendMany(alice, bob, 5);
    const stub = inbox(bob);
    await runInDurableObject(stub, (_instance: DeviceInbox, state) => {
      state.storage.sql.exec(`UPDATE entries SET expires_at = ? WHERE seq <= 3`, Date.now() - 1);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);

    const socket = await InboxSocket.open(bob);
    await socket.drain();
    expect(socket.messages().map((m) => m.chat_seq)).toEqual([4, 5]);
    expect(socket.gaps()).toEqual([
      expect.objectContaining({
        kind: "gap",
        chat_id: await directChatId(alice.accountId, bob.accountId),
        sender: { account_id: alice.accountId, device_id: 1 },
        count: 3,
        reason: "expired",
      }),
    ]);
    socket.close();
  });
});

describe("limits and bad input", () => {
  it("refuses oversized envelopes, too many envelopes and malformed sends with clear 4xx", async () => {
    const [alice, bob] = await pair();
    const big = { ...envelopesFor("x", [asRecipient(bob)])[0]!, content: btoa("a".repeat(96 * 1024 + 1)) };
    const tooBig = await call("POST", "/v1/messages", { token: alice.token, body: { to: bob.accountId, msg_id: newMsgId(), envelopes: [big] } });
    expect(tooBig.status).toBe(400);
    expect(tooBig.body.error.code).toBe("invalid_request");

    const many = Array.from({ length: 17 }, (_, i) => ({ ...envelopesFor("x", [asRecipient(bob)])[0]!, device_id: i + 1 }));
    const tooMany = await call("POST", "/v1/messages", { token: alice.token, body: { to: bob.accountId, msg_id: newMsgId(), envelopes: many } });
    expect(tooMany.status).toBe(400);

    const badId = await call("POST", "/v1/messages", { token: alice.token, body: { to: bob.accountId, msg_id: "short", envelopes: envelopesFor("x", [asRecipient(bob)]) } });
    expect(badId.status).toBe(400);

    const unknown = await send(alice, crypto.randomUUID(), [asRecipient(bob)]);
    expect(unknown.status).toBe(404);
    expect(await inboxSize(bob)).toBe(0);
  });

  it("answers malformed socket frames with an error frame and keeps the connection", async () => {
    const [alice, bob] = await pair();
    const socket = await InboxSocket.open(bob);
    await socket.drain();
    socket.sendFrame("{not json");
    socket.sendFrame({ type: "ack", cursor: -1 });
    socket.sendFrame({ type: "teleport" });
    await socket.until(() => socket.frames.filter((f) => f.type === "error").length === 3, "three error frames");
    // Each bad frame gets its own error frame. (Their relative order is not asserted: it varied
    // in loaded runs of the test pool; nothing correlates an error frame to a bad frame.)
    expect(socket.frames.filter((f) => f.type === "error").map((f) => (f.type === "error" ? f.error.code : "")).sort()).toEqual([
      "invalid_request",
      "invalid_request",
      "malformed_json",
    ]);
    const res = await send(alice, bob.accountId, [asRecipient(bob)]);
    await socket.until(() => socket.messages().length === 1, "message after bad frames");
    expect(socket.messages()[0]!.msg_id).toBe(res.body.msg_id);
    socket.close();
  });
});

describe("steady-state send path", () => {
  it("queries D1 for a chat's first message only: the ChatRoom caches the members' device lists", async () => {
    const [alice, bob] = await pair();
    // Every D1 statement starts with prepare(), whichever object (Worker or Durable Object) holds the binding.
    const prepare = vi.spyOn(Object.getPrototypeOf(env.DB) as D1Database, "prepare");
    try {
      expect((await send(alice, bob.accountId, [asRecipient(bob)])).status).toBe(200);
      expect(prepare).toHaveBeenCalled();
      prepare.mockClear();
      for (let i = 0; i < 5; i++) {
        expect((await send(alice, bob.accountId, [asRecipient(bob)])).status).toBe(200);
        expect((await send(bob, alice.accountId, [asRecipient(alice)])).status).toBe(200);
      }
      // Offline recipients get pushes: the push queue's consumer reads push tokens, off the send path.
      const sendPath = prepare.mock.calls.map(([sql]) => sql).filter((sql) => !/"push_tokens"/.test(sql));
      expect(sendPath).toEqual([]);
    } finally {
      prepare.mockRestore();
    }
  });
});
