/**
 * Groups: creation and management through the API, the admin rules, membership events in the
 * chat's sequence, the group device-set check (409 names the devices that need a distribution),
 * inline fanout of one Sender Key ciphertext, and removal: a removed member's devices get the
 * removal event and nothing sent after it.
 */
import { abortAllDurableObjects } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { addCompanionDevice } from "../support/companions";
import { expectError } from "../support/errors";
import { createGroup, distributionFor, fakeGroupCiphertext, groupSend, groupSendBody } from "../support/groups";
import { call, login, register, type RegisteredDevice } from "../support/identity";
import { asRecipient, InboxSocket, newMsgId } from "../support/messaging";

async function trio(): Promise<[RegisteredDevice, RegisteredDevice, RegisteredDevice]> {
  return [await register(), await register(), await register()];
}

describe("group management", () => {
  it("creates a group, lists it for every member, and puts the 'created' event first in the chat", async () => {
    const [alice, bob, carol] = await trio();
    const created = await createGroup(alice, [bob.accountId, carol.accountId, bob.accountId], { description: "d" });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const chatId = created.body.chat_id as string;
    expect(chatId).toMatch(/^g_[0-9a-f]{32}$/);
    expect(created.body).toMatchObject({ name: "test group", description: "d", who_can_add: "admins", created_by: alice.accountId, version: 1 });
    expect(new Map(created.body.members.map((m: { account_id: string; role: string }) => [m.account_id, m.role]))).toEqual(
      new Map([
        [alice.accountId, "admin"],
        [bob.accountId, "member"],
        [carol.accountId, "member"],
      ]),
    );

    const listed = await call("GET", "/v1/groups", { token: bob.token });
    expect(listed.body.groups).toEqual([{ chat_id: chatId, name: "test group", role: "member", member_count: 3 }]);

    const socket = await InboxSocket.open(carol);
    const entries = await socket.drain();
    expect(entries).toEqual([
      expect.objectContaining({ kind: "group_event", chat_id: chatId, chat_seq: 1, actor: alice.accountId, version: 1, event: expect.objectContaining({ type: "created" }) }),
    ]);
    socket.close();

    const outsider = await register();
    expectError(await call("GET", `/v1/groups/${chatId}`, { token: outsider.token }), "forbidden");
    expectError(await call("GET", `/v1/groups/g_${"0".repeat(32)}`, { token: outsider.token }), "not_found");
    expectError(await createGroup(alice, [crypto.randomUUID()]), "not_found");
    expectError(await call("POST", "/v1/groups", { token: alice.token, body: { name: "", members: [] } }), "invalid_request");
    expectError(await call("POST", "/v1/groups", { body: { name: "x", members: [] } }), "unauthorized");
  });

  it("admin rules: only admins add (unless who_can_add is members), remove, change roles and settings; the last admin leaving promotes another", async () => {
    const [alice, bob, carol] = await trio();
    const dave = await register();
    const chatId = (await createGroup(alice, [bob.accountId, carol.accountId])).body.chat_id as string;

    expectError(await call("POST", `/v1/groups/${chatId}/members`, { token: bob.token, body: { account_ids: [dave.accountId] } }), "forbidden");
    expectError(await call("DELETE", `/v1/groups/${chatId}/members/${carol.accountId}`, { token: bob.token }), "forbidden");
    expectError(await call("PUT", `/v1/groups/${chatId}/members/${carol.accountId}/role`, { token: bob.token, body: { role: "admin" } }), "forbidden");
    expectError(await call("PATCH", `/v1/groups/${chatId}`, { token: bob.token, body: { name: "mine" } }), "forbidden");
    expectError(await call("PUT", `/v1/groups/${chatId}/members/${alice.accountId}/role`, { token: alice.token, body: { role: "member" } }), "conflict");
    expectError(await call("DELETE", `/v1/groups/${chatId}/members/${alice.accountId}`, { token: alice.token }), "conflict");
    expectError(await call("DELETE", `/v1/groups/${chatId}/members/${dave.accountId}`, { token: alice.token }), "not_found");
    expectError(await call("POST", `/v1/groups/${chatId}/members`, { token: dave.token, body: { account_ids: [dave.accountId] } }), "forbidden");

    const opened = await call("PATCH", `/v1/groups/${chatId}`, { token: alice.token, body: { who_can_add: "members", name: "renamed" } });
    expect(opened.body).toMatchObject({ name: "renamed", who_can_add: "members", version: 2 });
    const added = await call("POST", `/v1/groups/${chatId}/members`, { token: bob.token, body: { account_ids: [dave.accountId] } });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    expect(added.body.members).toHaveLength(4);

    // The longest-standing member takes over when alice, the only admin, leaves: bob and carol joined
    // together at creation, so the tie goes to the smaller account id.
    const [successor, other] = [bob, carol].sort((a, b) => (a.accountId < b.accountId ? -1 : 1));
    expect((await call("POST", `/v1/groups/${chatId}/leave`, { token: alice.token })).status).toBe(204);
    const info = await call("GET", `/v1/groups/${chatId}`, { token: dave.token });
    const roles = new Map(info.body.members.map((m: { account_id: string; role: string }) => [m.account_id, m.role]));
    expect(roles.has(alice.accountId)).toBe(false);
    expect(roles.get(successor!.accountId)).toBe("admin");
    expect(roles.get(other!.accountId)).toBe("member");
    expectError(await call("GET", `/v1/groups/${chatId}`, { token: alice.token }), "forbidden");

    const promoted = await call("PUT", `/v1/groups/${chatId}/members/${other!.accountId}/role`, { token: successor!.token, body: { role: "admin" } });
    expect(promoted.body.members.find((m: { account_id: string }) => m.account_id === other!.accountId).role).toBe("admin");

    // Every change is an event in the chat, in order, and every current member's device sees them all.
    const socket = await InboxSocket.open(dave);
    await socket.drain();
    const events = socket.entries().filter((e) => e.kind === "group_event");
    expect(events.map((e) => (e.kind === "group_event" ? e.event.type : ""))).toEqual(["members_added", "member_left", "role_changed"]);
    expect(events[1]).toMatchObject({ event: { type: "member_left", account_id: alice.accountId, promoted: [successor!.accountId] } });
    socket.close();
  });
});

describe("group send", () => {
  it("fans one ciphertext out to every member device and the sender's other devices; 409 names who needs a distribution", async () => {
    const [alice, bob, carol] = await trio();
    const aliceLaptop = await addCompanionDevice(alice.accountId, 2);
    const chatId = (await createGroup(alice, [bob.accountId, carol.accountId])).body.chat_id as string;
    const laptop = { accountId: alice.accountId, deviceId: 2, registrationId: aliceLaptop.keys.registration_id };

    // First send: nobody holds alice's key; the server names every device that needs it.
    const mismatch = expectError(await groupSend(alice, chatId, { holders: [asRecipient(bob)] }), "device_mismatch");
    expect(new Set(mismatch.details.missing.map((d: { account_id: string; device_id: number }) => `${d.account_id}.${d.device_id}`))).toEqual(
      new Set([`${carol.accountId}.1`, `${alice.accountId}.2`]),
    );
    expect(mismatch.details.extra).toEqual([]);

    const msgId = newMsgId();
    const sent = await groupSend(alice, chatId, { msgId, holders: [asRecipient(bob)], distributions: [asRecipient(carol), laptop] });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body).toMatchObject({ chat_id: chatId, msg_id: msgId, chat_seq: 2, duplicate: false });

    // A retry with the same msg_id is the original ack, and delivers nothing twice.
    const again = await groupSend(alice, chatId, { msgId, holders: [asRecipient(bob)], distributions: [asRecipient(carol), laptop] });
    expect(again.body).toMatchObject({ chat_seq: 2, duplicate: true });

    const carolSocket = await InboxSocket.open(carol);
    await carolSocket.drain();
    expect(carolSocket.messages()).toEqual([
      expect.objectContaining({
        chat_id: chatId,
        chat_seq: 2,
        msg_id: msgId,
        type: "sender_key",
        content: fakeGroupCiphertext(msgId),
        distribution: { type: "message", content: distributionFor(msgId, asRecipient(carol)).content },
      }),
    ]);
    const bobSocket = await InboxSocket.open(bob);
    await bobSocket.drain();
    expect(bobSocket.messages()).toHaveLength(1);
    expect(bobSocket.messages()[0]!.distribution).toBeUndefined();
    const laptopToken = (await login(aliceLaptop)).body.token as string;
    const laptopSocket = await InboxSocket.open({ token: laptopToken });
    await laptopSocket.drain();
    expect(laptopSocket.messages().map((m) => m.msg_id)).toEqual([msgId]);
    const aliceSocket = await InboxSocket.open(alice);
    await aliceSocket.drain();
    expect(aliceSocket.messages()).toEqual([]); // the sending device gets no copy
    for (const s of [carolSocket, bobSocket, laptopSocket, aliceSocket]) s.close();

    // Extra devices (not members) and a device listed twice are refused, and nothing is assigned.
    const outsider = await register();
    const extra = expectError(await groupSend(alice, chatId, { holders: [asRecipient(bob), asRecipient(carol), laptop, asRecipient(outsider)] }), "device_mismatch");
    expect(extra.details.extra).toEqual([{ account_id: outsider.accountId, device_id: 1 }]);
    expectError(await groupSend(alice, chatId, { holders: [asRecipient(bob), asRecipient(carol), laptop], distributions: [asRecipient(bob)] }), "device_mismatch");
    expectError(await groupSend(alice, chatId, { holders: [asRecipient(bob), asRecipient(carol), { ...laptop, registrationId: (laptop.registrationId % 0x3ffe) + 1 }] }), "stale_devices");
    const next = await groupSend(alice, chatId, { holders: [asRecipient(bob), asRecipient(carol), laptop] });
    expect(next.body.chat_seq).toBe(3);
  });

  it("the socket's group_send frame answers as the HTTP send does: the ack, a 409 with the devices, 403 for a non-member", async () => {
    const [alice, bob, carol] = await trio();
    const chatId = (await createGroup(alice, [bob.accountId, carol.accountId])).body.chat_id as string;
    const aliceSocket = await InboxSocket.open(alice);
    await aliceSocket.drain();

    const mismatch = await aliceSocket.request({ type: "group_send", chat_id: chatId, message: groupSendBody({ holders: [asRecipient(bob)] }) });
    expect(mismatch.status).toBe(409);
    expect(mismatch.body).toMatchObject({ error: { code: "device_mismatch", details: { missing: [{ account_id: carol.accountId, device_id: 1 }], extra: [] } } });

    const msgId = newMsgId();
    const sent = await aliceSocket.request({ type: "group_send", chat_id: chatId, message: groupSendBody({ msgId, holders: [asRecipient(bob)], distributions: [asRecipient(carol)] }) });
    expect(sent).toMatchObject({ status: 200, body: { chat_id: chatId, msg_id: msgId, chat_seq: 2, duplicate: false } });
    const carolSocket = await InboxSocket.open(carol);
    await carolSocket.drain();
    expect(carolSocket.messages()).toEqual([expect.objectContaining({ chat_seq: 2, msg_id: msgId, content: fakeGroupCiphertext(msgId) })]);

    const outsider = await register();
    const outsiderSocket = await InboxSocket.open(outsider);
    await outsiderSocket.drain();
    const refused = await outsiderSocket.request({ type: "group_send", chat_id: chatId, message: groupSendBody({ holders: [asRecipient(alice), asRecipient(bob), asRecipient(carol)] }) });
    expect(refused).toMatchObject({ status: 403, body: { error: { code: "forbidden" } } });
    // A 1:1 chat id is not a group: the frame is refused before anything runs, and the socket stays open.
    const direct = `d_${"1".repeat(32)}`;
    aliceSocket.sendFrame({ type: "group_send", req_id: "bad", chat_id: direct, message: groupSendBody({ holders: [asRecipient(bob)] }) });
    await aliceSocket.until(() => aliceSocket.errors().some((e) => e.code === "invalid_request" && /chat_id/.test(e.message)), "invalid_request for a 1:1 chat id");
    const after = await aliceSocket.request({ type: "group_send", chat_id: chatId, message: groupSendBody({ holders: [asRecipient(bob), asRecipient(carol)] }) });
    expect(after).toMatchObject({ status: 200, body: { chat_seq: 3 } });
    for (const s of [aliceSocket, carolSocket, outsiderSocket]) s.close();
  });

  it("refuses non-members and removed members; a removed member's devices get the removal and nothing after it", async () => {
    const [alice, bob, carol] = await trio();
    const chatId = (await createGroup(alice, [bob.accountId, carol.accountId])).body.chat_id as string;
    const outsider = await register();
    expectError(await groupSend(outsider, chatId, { holders: [asRecipient(alice), asRecipient(bob), asRecipient(carol)] }), "forbidden");
    expectError(await groupSend(alice, `g_${"1".repeat(32)}`, { holders: [asRecipient(bob)] }), "not_found");

    const before = await groupSend(alice, chatId, { distributions: [asRecipient(bob), asRecipient(carol)] });
    expect(before.status).toBe(200);
    const removed = await call("DELETE", `/v1/groups/${chatId}/members/${carol.accountId}`, { token: alice.token });
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);

    // Carol is no longer a recipient: listing her device is "extra", and she cannot send.
    const stale = expectError(await groupSend(alice, chatId, { holders: [asRecipient(bob), asRecipient(carol)] }), "device_mismatch");
    expect(stale.details.extra).toEqual([{ account_id: carol.accountId, device_id: 1 }]);
    expectError(await groupSend(carol, chatId, { holders: [asRecipient(alice), asRecipient(bob)] }), "forbidden");
    const after = await groupSend(bob, chatId, { distributions: [asRecipient(alice)] });
    expect(after.status, JSON.stringify(after.body)).toBe(200);

    // Restarting every object changes nothing: the snapshot is rebuilt from storage.
    await abortAllDurableObjects();
    expectError(await groupSend(carol, chatId, { holders: [asRecipient(alice), asRecipient(bob)] }), "forbidden");
    const afterRestart = await groupSend(alice, chatId, { holders: [asRecipient(bob)] });
    expect(afterRestart.status, JSON.stringify(afterRestart.body)).toBe(200);

    const carolSocket = await InboxSocket.open(carol);
    const entries = await carolSocket.drain();
    expect(entries.map((e) => [e.kind, "chat_seq" in e ? e.chat_seq : null])).toEqual([
      ["group_event", 1],
      ["message", 2],
      ["group_event", 3],
    ]);
    expect(entries[2]).toMatchObject({ event: { type: "member_removed", account_id: carol.accountId } });
    carolSocket.close();
    const bobSocket = await InboxSocket.open(bob);
    await bobSocket.drain();
    expect(bobSocket.entries().map((e) => ("chat_seq" in e ? e.chat_seq : null))).toEqual([1, 2, 3, 5]);
    bobSocket.close();
  });
});
