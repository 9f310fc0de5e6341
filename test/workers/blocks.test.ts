/**
 * Issue 11, blocking in 1:1 chats: a blocked account's messages, typing and presence no longer
 * reach the blocker, the blocked sender is not told (its sends are acknowledged as before), the
 * block takes effect at once even where the ChatRoom has the pair cached, and unblocking
 * restores delivery. (Blocks in groups are tested with the group routes, issue 6.)
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ApiClient } from "../../src/client/api";
import { expectError } from "../support/errors";
import { call, register } from "../support/identity";
import { asRecipient, InboxSocket, newMsgId, send } from "../support/messaging";
import { acquainted, goOnline, PresenceSocket } from "../support/presence";

describe("blocking in a 1:1 chat", () => {
  it("drops the blocked account's messages without telling it, at once, and unblocking restores delivery", async () => {
    const { alice, bob } = await acquainted();
    // Bob writes to alice before the block: delivered (and the ChatRoom now has the pair cached).
    const before = newMsgId();
    expect((await send(bob, alice.accountId, [asRecipient(alice)], before)).status).toBe(200);

    expect((await call("PUT", `/v1/blocks/${bob.accountId}`, { token: alice.token })).status).toBe(204);
    const blocked = newMsgId();
    const whileBlocked = await send(bob, alice.accountId, [asRecipient(alice)], blocked);
    // The sender sees a normal acknowledgement: it is not told it is blocked.
    expect(whileBlocked.status).toBe(200);
    expect(whileBlocked.body).toMatchObject({ msg_id: blocked, duplicate: false });
    // Alice can still write to bob.
    expect((await send(alice, bob.accountId, [asRecipient(bob)])).status).toBe(200);

    expect((await call("DELETE", `/v1/blocks/${bob.accountId}`, { token: alice.token })).status).toBe(204);
    const after = newMsgId();
    expect((await send(bob, alice.accountId, [asRecipient(alice)], after)).status).toBe(200);

    const inbox = await InboxSocket.open(alice);
    await inbox.drain();
    const fromBob = inbox.messages().filter((m) => m.sender.account_id === bob.accountId).map((m) => m.msg_id);
    expect(fromBob).toEqual([before, after]);
    inbox.close();
  });

  it("works through the SDK's API client as through HTTP", async () => {
    const { alice, bob, chatId } = await acquainted();
    const api = new ApiClient("http://parley.test", {
      fetch: (input, init) => exports.default.fetch(input, init),
      tokens: { token: async () => alice.token, invalidate: () => undefined },
    });
    await api.block(bob.accountId);
    expect((await api.blocks()).blocked.map((b) => b.account_id)).toEqual([bob.accountId]);
    await api.unblock(bob.accountId);
    expect((await api.blocks()).blocked).toEqual([]);
    const msgId = newMsgId();
    await send(bob, alice.accountId, [asRecipient(alice)], msgId);
    const report = await api.report({ chat_id: chatId, msg_id: msgId, reported_account_id: bob.accountId });
    expect(report.report_id).toMatch(/^[0-9a-f-]{36}$/);
    await expect(api.block(alice.accountId)).rejects.toMatchObject({ status: 400, code: "invalid_request" });
  });

  it("lists blocks, is idempotent, and refuses yourself and unknown accounts", async () => {
    const alice = await register();
    const bob = await register();
    expect((await call("PUT", `/v1/blocks/${bob.accountId}`, { token: alice.token })).status).toBe(204);
    expect((await call("PUT", `/v1/blocks/${bob.accountId}`, { token: alice.token })).status).toBe(204);
    const listed = await call("GET", "/v1/blocks", { token: alice.token });
    expect(listed.status).toBe(200);
    expect(listed.body.blocked.map((b: { account_id: string }) => b.account_id)).toEqual([bob.accountId]);
    // Bob's own list does not reveal alice's block.
    expect((await call("GET", "/v1/blocks", { token: bob.token })).body).toEqual({ blocked: [] });

    expectError(await call("PUT", `/v1/blocks/${alice.accountId}`, { token: alice.token }), "invalid_request");
    expectError(await call("PUT", `/v1/blocks/${crypto.randomUUID()}`, { token: alice.token }), "not_found");
    expectError(await call("PUT", "/v1/blocks/not-an-id", { token: alice.token }), "invalid_request");
    expectError(await call("PUT", `/v1/blocks/${bob.accountId}`), "unauthorized");

    expect((await call("DELETE", `/v1/blocks/${bob.accountId}`, { token: alice.token })).status).toBe(204);
    expect((await call("DELETE", `/v1/blocks/${bob.accountId}`, { token: alice.token })).status).toBe(204);
    expect((await call("GET", "/v1/blocks", { token: alice.token })).body).toEqual({ blocked: [] });
  });

  it("hides presence both ways and the blocked account's typing from the blocker", async () => {
    const { alice, bob, chatId } = await acquainted();
    const bobOnline = await goOnline(bob);
    const aliceOnline = await goOnline(alice);
    // Visible before the block.
    const seen = await call("GET", `/v1/presence/${bob.accountId}`, { token: alice.token });
    expect(seen.body).toMatchObject({ online: true });

    expect((await call("PUT", `/v1/blocks/${bob.accountId}`, { token: alice.token })).status).toBe(204);
    for (const [viewer, target] of [
      [alice, bob],
      [bob, alice],
    ] as const) {
      const status = await call("GET", `/v1/presence/${target.accountId}`, { token: viewer.token });
      expect(status.body).toEqual({ account_id: target.accountId, online: null, last_seen: null });
    }

    const aliceView = await PresenceSocket.open(alice.token, chatId);
    const bobView = await PresenceSocket.open(bob.token, chatId);
    await aliceView.until(() => aliceView.presence(bob.accountId).length === 1, "alice's snapshot");
    expect(aliceView.presence(bob.accountId)[0]).toMatchObject({ online: null, last_seen: null });
    await bobView.until(() => bobView.presence(alice.accountId).length === 1, "bob's snapshot");
    expect(bobView.presence(alice.accountId)[0]).toMatchObject({ online: null, last_seen: null });

    // Bob's typing does not reach alice; alice's typing still reaches bob (she blocked him, not
    // the other way round), which also proves the room relays and alice's socket is live.
    bobView.setTyping("typing");
    aliceView.setTyping("typing");
    await bobView.until(() => bobView.typing().some((t) => t.account_id === alice.accountId), "alice typing at bob");
    bobView.setTyping("recording");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(aliceView.typing()).toEqual([]);

    // Unblocked: bob's typing reaches alice again.
    expect((await call("DELETE", `/v1/blocks/${bob.accountId}`, { token: alice.token })).status).toBe(204);
    bobView.setTyping("typing");
    await aliceView.until(() => aliceView.typing().some((t) => t.account_id === bob.accountId), "bob typing at alice after unblock");
    expect((await call("GET", `/v1/presence/${bob.accountId}`, { token: alice.token })).body).toMatchObject({ online: true });

    for (const s of [aliceView, bobView, aliceOnline, bobOnline]) s.close();
  });
});
