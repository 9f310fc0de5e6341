/**
 * Issue 11, account deletion: DELETE /v1/accounts/me (primary device only) leaves no D1 row that
 * names the account, no R2 object or upload it owned, no inbox or presence storage, and its handle
 * reserved for the cooling-off period (then free again).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { mediaObjectKey } from "../../src/media/keys";
import { addCompanionDevice } from "../support/companions";
import { expectError } from "../support/errors";
import { call, login, register } from "../support/identity";
import { asRecipient, newMsgId, send } from "../support/messaging";
import { acquainted, goOnline } from "../support/presence";

const MIB = 1024 * 1024;

/** Every row of every D1 table whose values mention `needle` (table name and the row). */
async function rowsMentioning(needle: string): Promise<string[]> {
  const { results: tables } = await env.DB.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != 'd1_migrations'`).all<{ name: string }>();
  const found: string[] = [];
  for (const { name } of tables) {
    const { results } = await env.DB.prepare(`SELECT * FROM "${name}"`).all();
    for (const row of results) if (JSON.stringify(row).includes(needle)) found.push(`${name}: ${JSON.stringify(row)}`);
  }
  return found;
}

/** Rows left in a SQLite-backed Durable Object, per table, and whether an alarm is set. */
async function storageLeft(stub: DurableObjectStub): Promise<{ rows: Record<string, number>; kv: number; alarm: number | null }> {
  return runInDurableObject(stub, async (_instance: unknown, state) => {
    const rows: Record<string, number> = {};
    const tables = state.storage.sql.exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'`).toArray();
    for (const { name } of tables) {
      const n = state.storage.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM "${name}"`).one().n;
      if (n > 0) rows[name] = n;
    }
    return { rows, kv: (await state.storage.list()).size, alarm: await state.storage.getAlarm() };
  });
}

describe("deleting an account", () => {
  it("leaves no row, object or inbox behind, and reserves the handle", async () => {
    const { alice, bob, chatId } = await acquainted();
    const companion = await addCompanionDevice(alice.accountId, 2);
    const companionToken = (await login(companion)).body.token as string;

    // Everything an account accumulates: messages waiting in both inboxes, a push token, privacy
    // settings, blocks both ways, a report each way, presence, a stored file and a pending upload.
    await send(bob, alice.accountId, [asRecipient(alice), { accountId: alice.accountId, deviceId: 2, registrationId: companion.keys.registration_id }]);
    expect((await call("PUT", "/v1/privacy", { token: alice.token, body: { last_seen: "nobody" } })).status).toBe(200);
    const carol = await register();
    expect((await call("PUT", `/v1/blocks/${carol.accountId}`, { token: alice.token })).status).toBe(204);
    expect((await call("PUT", `/v1/blocks/${alice.accountId}`, { token: carol.token })).status).toBe(204);
    const fromBob = newMsgId();
    await send(bob, alice.accountId, [asRecipient(alice), { accountId: alice.accountId, deviceId: 2, registrationId: companion.keys.registration_id }], fromBob);
    const fromAlice = newMsgId();
    await send(alice, bob.accountId, [asRecipient(bob), { accountId: alice.accountId, deviceId: 2, registrationId: companion.keys.registration_id }], fromAlice);
    expect((await call("POST", "/v1/reports", { token: alice.token, body: { chat_id: chatId, msg_id: fromBob, reported_account_id: bob.accountId } })).status).toBe(201);
    expect((await call("POST", "/v1/reports", { token: bob.token, body: { chat_id: chatId, msg_id: fromAlice, reported_account_id: alice.accountId } })).status).toBe(201);
    const online = await goOnline(alice);
    online.close();

    const stored = await call("POST", "/v1/media", { token: alice.token, body: { size: 1000, content_class: "image" } });
    const url = new URL(stored.body.upload.url);
    expect((await call("PUT", url.pathname + url.search, { raw: new Uint8Array(1000), contentType: "application/octet-stream" })).status).toBe(200);
    const multipart = { MEDIA_SINGLE_PUT_MAX_BYTES: String(MIB), MEDIA_PART_BYTES: String(5 * MIB) };
    const pending = await call("POST", "/v1/media", { token: alice.token, body: { size: 6 * MIB, content_class: "video" }, env: multipart });
    expect(pending.body.upload.mode).toBe("multipart");
    const mediaIds = [stored.body.media_id as string, pending.body.media_id as string];
    expect(await env.MEDIA.head(mediaObjectKey(mediaIds[0]!))).not.toBeNull();
    // Last, so that no push is attempted for the messages above (there is no push service here).
    expect((await call("PUT", "/v1/push-token", { token: alice.token, body: { platform: "fcm", token: "fcm-token-abcdefghijklmnop" } })).status).toBe(204);
    expect((await rowsMentioning(alice.accountId)).length).toBeGreaterThan(10);

    // Only the primary device may delete the account.
    expectError(await call("DELETE", "/v1/accounts/me", { token: companionToken }), "forbidden");
    expectError(await call("DELETE", "/v1/accounts/me"), "unauthorized");
    expect((await call("DELETE", "/v1/accounts/me", { token: alice.token })).status).toBe(204);

    // D1: no row names the account (or its handle, except the reservation), nor its media.
    const leftovers = await rowsMentioning(alice.accountId);
    expect(leftovers).toEqual([]);
    const handleRows = await rowsMentioning(alice.handle);
    expect(handleRows).toHaveLength(1);
    expect(handleRows[0]).toMatch(/^handle_reservations: /);
    for (const id of mediaIds) expect(await rowsMentioning(id)).toEqual([]);
    // R2: the stored object is gone.
    for (const id of mediaIds) expect(await env.MEDIA.head(mediaObjectKey(id))).toBeNull();
    // Durable Objects: both inboxes and the presence object hold nothing.
    for (const deviceId of [1, 2]) {
      expect(await storageLeft(env.DEVICE_INBOX.getByName(`${alice.accountId}.${deviceId}`))).toEqual({ rows: {}, kv: 0, alarm: null });
    }
    expect(await storageLeft(env.PRESENCE_ROOM.getByName(`a:${alice.accountId}`))).toEqual({ rows: {}, kv: 0, alarm: null });

    // The account is gone for everyone; its tokens no longer open anything.
    expectError(await call("GET", `/v1/accounts/${alice.accountId}`, { token: bob.token }), "not_found");
    expectError(await call("GET", `/v1/keys/bundle/${alice.accountId}`, { token: bob.token }), "not_found");
    expect((await login(alice)).status).toBe(401);
    expectError(await call("DELETE", "/v1/accounts/me", { token: alice.token }), "not_found");
    // Bob's own data is untouched.
    expect((await call("GET", `/v1/accounts/${bob.accountId}`, { token: bob.token })).status).toBe(200);

    // The handle is reserved for the cooling-off period.
    const reserved = expectError(await call("POST", "/v1/verifications", { body: { handle: alice.handle } }), "handle_taken");
    expect(reserved.details.available_at - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect(reserved.details.available_at - Date.now()).toBeLessThanOrEqual(30 * 86_400_000);
  });

  it("deletes an EU account's media from the EU bucket and its inbox", async () => {
    const anna = await register({ jurisdiction: "eu" });
    const slot = await call("POST", "/v1/media", { token: anna.token, body: { size: 500, content_class: "image" } });
    const url = new URL(slot.body.upload.url);
    expect((await call("PUT", url.pathname + url.search, { raw: new Uint8Array(500), contentType: "application/octet-stream" })).status).toBe(200);
    const key = mediaObjectKey(slot.body.media_id);
    expect(await env.MEDIA_EU.head(key)).not.toBeNull();
    expect((await call("DELETE", "/v1/accounts/me", { token: anna.token })).status).toBe(204);
    expect(await env.MEDIA_EU.head(key)).toBeNull();
    expect(await rowsMentioning(anna.accountId)).toEqual([]);
    expect(await storageLeft(env.DEVICE_INBOX.getByName(`${anna.accountId}.1`))).toEqual({ rows: {}, kv: 0, alarm: null });
  });

  it("frees the handle at once with a cooling-off period of 0", async () => {
    const alice = await register();
    expect((await call("DELETE", "/v1/accounts/me", { token: alice.token, env: { HANDLE_COOLING_OFF_DAYS: "0" } })).status).toBe(204);
    const again = await register({ handle: alice.handle });
    expect(again.accountId).not.toBe(alice.accountId);
  });
});
