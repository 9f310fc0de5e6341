/**
 * Abuse controls in groups (issues 6 and 11 together): a member who blocks the sender receives
 * nothing of theirs in a group (the sender's ack is normal and its device-set check unchanged, so it
 * cannot tell), a blocked account cannot add its blocker to groups, group creation and adds count
 * against the device's hourly quotas, and a deleted account leaves its groups (the members are
 * told, an admin takes over, no membership row remains).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { expectError } from "../support/errors";
import { call, register } from "../support/identity";
import { createGroup, groupSend } from "../support/groups";
import { asRecipient, InboxSocket, newMsgId } from "../support/messaging";

const memberIds = (info: { members: { account_id: string }[] }) => info.members.map((m) => m.account_id).sort();

describe("blocks in groups", () => {
  it("a blocker receives nothing its blocked member sends to the group; the sender is not told", async () => {
    const [alice, bob, carol] = [await register(), await register(), await register()];
    expect((await call("PUT", `/v1/blocks/${bob.accountId}`, { token: alice.token })).status).toBe(204);
    const created = await createGroup(carol, [alice.accountId, bob.accountId]);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const chatId = created.body.chat_id as string;

    // Bob's send names every member device, alice's too, exactly as without a block.
    const fromBob = newMsgId();
    const sent = await groupSend(bob, chatId, { msgId: fromBob, distributions: [asRecipient(alice), asRecipient(carol)] });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body).toMatchObject({ duplicate: false });
    const fromCarol = newMsgId();
    expect((await groupSend(carol, chatId, { msgId: fromCarol, distributions: [asRecipient(alice), asRecipient(bob)] })).status).toBe(200);

    const aliceInbox = await InboxSocket.open(alice);
    await aliceInbox.drain();
    expect(aliceInbox.messages().map((m) => m.msg_id)).toEqual([fromCarol]);
    aliceInbox.close();
    const carolInbox = await InboxSocket.open(carol);
    await carolInbox.drain();
    expect(carolInbox.messages().map((m) => m.msg_id)).toEqual([fromBob]);
    carolInbox.close();
  });

  it("a blocked account cannot add its blocker to a group, and is not told", async () => {
    const [alice, bob, carol] = [await register(), await register(), await register()];
    expect((await call("PUT", `/v1/blocks/${bob.accountId}`, { token: alice.token })).status).toBe(204);
    const created = await createGroup(bob, [alice.accountId, carol.accountId]);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(memberIds(created.body)).toEqual([bob.accountId, carol.accountId].sort());
    const chatId = created.body.chat_id as string;
    const added = await call("POST", `/v1/groups/${chatId}/members`, { token: bob.token, body: { account_ids: [alice.accountId] } });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    expect(memberIds(added.body)).not.toContain(alice.accountId);
    const aliceInbox = await InboxSocket.open(alice);
    expect((await aliceInbox.drain()).filter((e) => e.chat_id === chatId)).toEqual([]);
    aliceInbox.close();
  });
});

describe("group quotas", () => {
  it("count creations and added members per device, with 429 and Retry-After above the limit", async () => {
    const [alice, bob, carol] = [await register(), await register(), await register()];
    const oneGroup = { GROUP_CREATES_PER_HOUR: "1" };
    expect((await call("POST", "/v1/groups", { token: alice.token, env: oneGroup, body: { name: "first", members: [bob.accountId] } })).status).toBe(201);
    const second = await call("POST", "/v1/groups", { token: alice.token, env: oneGroup, body: { name: "second", members: [bob.accountId] } });
    expect(expectError(second, "rate_limited").details).toMatchObject({ reason: "group_creates" });
    expect(Number(second.headers.get("retry-after"))).toBeGreaterThan(0);

    const twoAdds = { GROUP_ADDS_PER_HOUR: "2" };
    const created = await call("POST", "/v1/groups", { token: bob.token, env: twoAdds, body: { name: "adds", members: [alice.accountId] } });
    expect(created.status).toBe(201);
    const over = await call("POST", `/v1/groups/${created.body.chat_id}/members`, { token: bob.token, env: twoAdds, body: { account_ids: [carol.accountId, (await register()).accountId] } });
    expect(expectError(over, "rate_limited").details).toMatchObject({ reason: "group_adds" });
  });
});

describe("account deletion and groups", () => {
  it("leaves every group: members are told, an admin takes over, no membership row remains", async () => {
    const [alice, bob, carol] = [await register(), await register(), await register()];
    const created = await createGroup(alice, [bob.accountId, carol.accountId]);
    const chatId = created.body.chat_id as string;
    expect((await call("DELETE", "/v1/accounts/me", { token: alice.token })).status).toBe(204);

    const info = await call("GET", `/v1/groups/${chatId}`, { token: bob.token });
    expect(memberIds(info.body)).toEqual([bob.accountId, carol.accountId].sort());
    expect(info.body.members.some((m: { role: string }) => m.role === "admin")).toBe(true);
    const rows = await env.DB.prepare(`SELECT COUNT(*) AS n FROM group_members WHERE account_id = ?`).bind(alice.accountId).first<{ n: number }>();
    expect(rows?.n).toBe(0);
    const bobInbox = await InboxSocket.open(bob);
    await bobInbox.drain();
    const left = bobInbox.entries().find((e) => e.kind === "group_event" && e.event.type === "member_left");
    expect(left).toMatchObject({ chat_id: chatId, event: { account_id: alice.accountId } });
    bobInbox.close();
  });
});
