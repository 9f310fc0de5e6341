/**
 * Issue 11, reports and suspension: a member reports a message (metadata always, the decrypted
 * content only if attached), the server refuses reports it cannot tie to a real message, the
 * admin API (ADMIN_API_SECRET only) lists reports and suspends an account, a suspended account
 * cannot send, and lifting the suspension restores it at once.
 */
import { describe, expect, it } from "vitest";
import { expectError } from "../support/errors";
import { call, register } from "../support/identity";
import { asRecipient, envelopesFor, InboxSocket, newMsgId, send } from "../support/messaging";
import { acquainted } from "../support/presence";

const ADMIN_SECRET = "test-only-admin-secret-0123456789abcdef";
const admin = { env: { ADMIN_API_SECRET: ADMIN_SECRET }, headers: { authorization: `Bearer ${ADMIN_SECRET}` } };

describe("reporting a message", () => {
  it("stores the report once, and refuses reports that do not match a message the account sent there", async () => {
    const { alice, bob, chatId } = await acquainted();
    const msgId = newMsgId();
    expect((await send(bob, alice.accountId, [asRecipient(alice)], msgId)).status).toBe(200);

    const report = { chat_id: chatId, msg_id: msgId, reported_account_id: bob.accountId, content: "buy cheap followers at ..." };
    const created = await call("POST", "/v1/reports", { token: alice.token, body: report });
    expect(created.status).toBe(201);
    const again = await call("POST", "/v1/reports", { token: alice.token, body: report });
    expect(again.status).toBe(200);
    expect(again.body.report_id).toBe(created.body.report_id);

    // Not a message bob sent there; bob reporting his own; an outsider; hostile bodies.
    expectError(await call("POST", "/v1/reports", { token: alice.token, body: { ...report, msg_id: newMsgId() } }), "not_found");
    expectError(await call("POST", "/v1/reports", { token: bob.token, body: { ...report } }), "invalid_request");
    const carol = await register();
    expectError(await call("POST", "/v1/reports", { token: carol.token, body: { ...report } }), "forbidden");
    expectError(await call("POST", "/v1/reports", { token: alice.token, body: { ...report, content: "x".repeat(20_000) } }), "invalid_request");
    expectError(await call("POST", "/v1/reports", { token: alice.token, body: { ...report, extra: 1 } }), "invalid_request");
    expectError(await call("POST", "/v1/reports", { body: report }), "unauthorized");

    const listed = await call("GET", `/v1/admin/reports?reported_account_id=${bob.accountId}`, admin);
    expect(listed.status).toBe(200);
    expect(listed.body.reports).toEqual([
      {
        report_id: created.body.report_id,
        reporter_account_id: alice.accountId,
        reported_account_id: bob.accountId,
        chat_id: chatId,
        msg_id: msgId,
        content: report.content,
        created_at: created.body.created_at,
      },
    ]);
    expect(listed.body.next_before).toBeNull();
  });

  it("keeps metadata only when the reporter attaches no content", async () => {
    const { alice, bob, chatId } = await acquainted();
    const msgId = newMsgId();
    await send(bob, alice.accountId, [asRecipient(alice)], msgId);
    expect((await call("POST", "/v1/reports", { token: alice.token, body: { chat_id: chatId, msg_id: msgId, reported_account_id: bob.accountId } })).status).toBe(201);
    const listed = await call("GET", `/v1/admin/reports?reported_account_id=${bob.accountId}&limit=10`, admin);
    expect(listed.body.reports).toHaveLength(1);
    expect(listed.body.reports[0]).toMatchObject({ msg_id: msgId, content: null });
  });
});

describe("the admin API", () => {
  it("is off without ADMIN_API_SECRET and refuses wrong or device credentials", async () => {
    const alice = await register();
    expectError(await call("GET", "/v1/admin/reports", { headers: admin.headers }), "forbidden");
    expectError(await call("GET", "/v1/admin/reports", { env: admin.env }), "unauthorized");
    expectError(await call("GET", "/v1/admin/reports", { env: admin.env, headers: { authorization: `Bearer ${ADMIN_SECRET}x` } }), "unauthorized");
    expectError(await call("GET", "/v1/admin/reports", { env: admin.env, token: alice.token }), "unauthorized");
    expectError(await call("PUT", `/v1/admin/accounts/${alice.accountId}/suspension`, { env: admin.env, token: alice.token }), "unauthorized");
    expectError(await call("GET", "/v1/admin/reports?limit=1000", admin), "invalid_request");
    expectError(await call("PUT", `/v1/admin/accounts/${crypto.randomUUID()}/suspension`, admin), "not_found");
  });

  it("suspends an account: it cannot send (socket or HTTP) until the suspension is lifted; others still reach it", async () => {
    const { alice, bob } = await acquainted();
    const carol = await register();

    const suspended = await call("PUT", `/v1/admin/accounts/${bob.accountId}/suspension`, admin);
    expect(suspended.status).toBe(200);
    expect(suspended.body).toMatchObject({ account_id: bob.accountId, suspended: true });
    expect(suspended.body.suspended_at).toBeGreaterThan(0);

    // A chat with no cached view of bob refuses at once, over HTTP and over the socket.
    expectError(await send(bob, carol.accountId, [asRecipient(carol)]), "account_suspended");
    const socket = await InboxSocket.open(bob);
    const msgId = newMsgId();
    const overSocket = await socket.request({ type: "send", message: { to: carol.accountId, msg_id: msgId, envelopes: envelopesFor(msgId, [asRecipient(carol)]) } });
    expect(overSocket.status).toBe(403);
    expect(overSocket.body).toMatchObject({ error: { code: "account_suspended" } });
    socket.close();
    // Bob can still be written to.
    expect((await send(alice, bob.accountId, [asRecipient(bob)])).status).toBe(200);

    const lifted = await call("DELETE", `/v1/admin/accounts/${bob.accountId}/suspension`, admin);
    expect(lifted.body).toEqual({ account_id: bob.accountId, suspended: false, suspended_at: null });
    // The room that refused him re-reads D1 for a refused sender, so lifting applies at once.
    expect((await send(bob, carol.accountId, [asRecipient(carol)])).status).toBe(200);
  });
});
