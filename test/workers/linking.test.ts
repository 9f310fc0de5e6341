/**
 * Issue 10, the server's side of multi-device: a device is activated only with a list the
 * account's primary signed that names it and is newer than the current one (forged, foreign,
 * stale, mismatched and over-the-limit lists are refused and store nothing; of two links signed
 * from the same list only one lands); the primary unlinks by publishing a list without the
 * device, whose token, socket and inbox stop working at once; provisioning channels carry one
 * message to the holder of the receive secret and are deleted at expiry; companions unused for
 * LINKED_DEVICE_INACTIVE_DAYS are unlinked by the cron sweep and the account sees why.
 */
import { abortAllDurableObjects, createExecutionContext, createScheduledController, runDurableObjectAlarm, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { unlinkInactiveDevices } from "../../src/devices/inactive";
import { CLOSE_DEVICE_REMOVED } from "../../durable-objects/device-inbox";
import { signedDeviceList, type ListedDevice } from "../support/device-lists";
import { expectError } from "../support/errors";
import { call, login, makeDevice, register, type RegisteredDevice, type TestDevice } from "../support/identity";
import { asRecipient, InboxSocket, send } from "../support/messaging";

const asListed = (device: TestDevice, deviceId: number): ListedDevice => ({ deviceId, identityKey: device.identityKey, keys: device.keys });

function link(primary: RegisteredDevice, companion: TestDevice, deviceId: number, list: { list: string; signature: string }, env?: Record<string, string>) {
  return call("POST", "/v1/devices/link", {
    body: { account_id: primary.accountId, device_id: deviceId, device_list: list, device: companion.keys, device_name: `device ${deviceId}` },
    ...(env ? { env } : {}),
  });
}

/** Links `companion` as device `deviceId` with a correctly signed list of version `version`. */
async function linkAs(primary: RegisteredDevice, others: ListedDevice[], companion: TestDevice, deviceId: number, version: number) {
  const list = signedDeviceList(primary, primary.accountId, version, [asListed(primary, 1), ...others, asListed(companion, deviceId)]);
  const res = await link(primary, companion, deviceId, list);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { ...companion, accountId: primary.accountId, deviceId, token: res.body.token as string, listed: asListed(companion, deviceId) };
}

const devicesOf = async (token: string) => (await call("GET", "/v1/devices", { token })).body;

describe("linking a device", () => {
  it("activates a device named by a newer list the primary signed; the list reaches bundles", async () => {
    const primary = await register();
    const laptop = await linkAs(primary, [], makeDevice(), 2, 1);
    const mine = await devicesOf(primary.token);
    expect(mine.devices.map((d: { device_id: number; name: string | null }) => [d.device_id, d.name])).toEqual([[1, null], [2, "device 2"]]);
    expect(mine.next_device_id).toBe(3);
    expect(mine.device_list).toEqual(expect.objectContaining({ list: expect.any(String), signature: expect.any(String) }));
    // The new device's token works, and others see both devices and the signed list.
    expect((await call("GET", "/v1/devices", { token: laptop.token })).status).toBe(200);
    const bob = await register();
    const bundle = await call("GET", `/v1/keys/bundle/${primary.accountId}`, { token: bob.token });
    expect(bundle.body.devices.map((d: { device_id: number }) => d.device_id)).toEqual([1, 2]);
    expect(bundle.body.device_list).toEqual(mine.device_list);
    // An account that never linked has no list.
    expect((await call("GET", `/v1/keys/bundle/${bob.accountId}`, { token: primary.token })).body.device_list).toBeNull();
  });

  it("links into an account with a jurisdiction (data residency) the same way", async () => {
    const primary = await register({ jurisdiction: "eu" });
    expect(primary.accountId).toMatch(/^eu-/);
    const tablet = await linkAs(primary, [], makeDevice(), 2, 1);
    expect((await call("GET", "/v1/devices", { token: tablet.token })).body.devices).toHaveLength(2);
  });

  it("refuses forged, foreign, stale and mismatched lists, and stores nothing", async () => {
    const primary = await register();
    const other = await register();
    const companion = makeDevice();
    const good = [asListed(primary, 1), asListed(companion, 2)];
    const refused: [string, { list: string; signature: string }, "invalid_device_list" | "stale_device_list"][] = [
      ["signed by the new device itself", signedDeviceList(companion, primary.accountId, 1, good), "invalid_device_list"],
      ["signed by another account's primary", signedDeviceList(other, primary.accountId, 1, good), "invalid_device_list"],
      ["for another account", signedDeviceList(primary, other.accountId, 1, good), "invalid_device_list"],
      ["naming other keys for the new device", signedDeviceList(primary, primary.accountId, 1, [asListed(primary, 1), asListed(makeDevice(), 2)]), "invalid_device_list"],
      ["not naming the new device", signedDeviceList(primary, primary.accountId, 1, [asListed(primary, 1), asListed(companion, 3)]), "invalid_device_list"],
      ["dated in the future", signedDeviceList(primary, primary.accountId, 1, good, Date.now() + 3600_000), "invalid_device_list"],
    ];
    for (const [why, list, code] of refused) expectError(await link(primary, companion, 2, list), code);
    const tampered = signedDeviceList(primary, primary.accountId, 1, good);
    expectError(await link(primary, companion, 2, { ...tampered, list: tampered.list.slice(0, -8) + "AAAAAAA=" }), "invalid_device_list");
    expectError(await link(primary, companion, 2, { list: "AQID", signature: tampered.signature }), "invalid_device_list");
    expectError(await link(primary, companion, 2, { list: tampered.list } as { list: string; signature: string }), "invalid_request");
    expect((await devicesOf(primary.token)).devices).toHaveLength(1);

    const first = await linkAs(primary, [], companion, 2, 5);
    // Same or lower version: stale, even when correctly signed.
    const third = makeDevice();
    for (const version of [5, 4]) {
      const list = signedDeviceList(primary, primary.accountId, version, [asListed(primary, 1), first.listed, asListed(third, 3)]);
      expectError(await link(primary, third, 3, list), "stale_device_list");
    }
    // A list that leaves out an active device cannot sneak in a link (that is an unlink: PUT /devices/list).
    expectError(await link(primary, third, 3, signedDeviceList(primary, primary.accountId, 6, [asListed(primary, 1), asListed(third, 3)])), "invalid_device_list");
    // A used device id is never given again.
    const reuse = signedDeviceList(primary, primary.accountId, 6, [asListed(primary, 1), asListed(third, 2)]);
    expectError(await link(primary, third, 2, reuse), "invalid_device_list");
    expect((await devicesOf(primary.token)).devices).toHaveLength(2);
  });

  it("enforces MAX_LINKED_DEVICES, and of two links signed from the same list only one lands", async () => {
    const primary = await register();
    const a = makeDevice();
    const b = makeDevice();
    const [ra, rb] = await Promise.all([
      link(primary, a, 2, signedDeviceList(primary, primary.accountId, 1, [asListed(primary, 1), asListed(a, 2)])),
      link(primary, b, 3, signedDeviceList(primary, primary.accountId, 1, [asListed(primary, 1), asListed(b, 3)])),
    ]);
    // The loser is refused either as stale (its list's version landed first) or, when it read the
    // devices after the winner committed, as a list that does not name every active device.
    const loser = ra.status === 201 ? rb : ra;
    expect([ra.status, rb.status]).toContain(201);
    expect(["stale_device_list", "invalid_device_list"]).toContain(loser.body.error.code);
    const [winner] = ra.status === 201 ? [asListed(a, 2)] : [asListed(b, 3)];
    expect((await devicesOf(primary.token)).devices).toHaveLength(2);

    const c = makeDevice();
    const list = signedDeviceList(primary, primary.accountId, 2, [asListed(primary, 1), winner!, asListed(c, 4)]);
    const limited = expectError(await link(primary, c, 4, list, { MAX_LINKED_DEVICES: "1" }), "device_limit_reached");
    expect(limited.details).toEqual({ max_linked_devices: 1 });
    expect((await link(primary, c, 4, list)).status).toBe(201);
  });
});

describe("linking and abuse controls", () => {
  it("refuses links into a suspended account, and counts link attempts against the primary's hourly quota", async () => {
    const admin = { env: { ADMIN_API_SECRET: "admin-secret-for-linking-tests-0123456789" } };
    const adminAuth = { ...admin, headers: { authorization: `Bearer ${admin.env.ADMIN_API_SECRET}` } };
    const suspended = await register();
    expect((await call("PUT", `/v1/admin/accounts/${suspended.accountId}/suspension`, adminAuth)).status).toBe(200);
    const phone = makeDevice();
    const list = signedDeviceList(suspended, suspended.accountId, 1, [asListed(suspended, 1), asListed(phone, 2)]);
    expectError(await link(suspended, phone, 2, list), "account_suspended");
    expect((await devicesOf(suspended.token)).devices).toHaveLength(1);

    const primary = await register();
    const quota = { LINK_ATTEMPTS_PER_HOUR: "1" };
    const first = makeDevice();
    expect((await link(primary, first, 2, signedDeviceList(primary, primary.accountId, 1, [asListed(primary, 1), asListed(first, 2)]), quota)).status).toBe(201);
    const second = makeDevice();
    const listed = [asListed(primary, 1), asListed(first, 2), asListed(second, 3)];
    const limited = expectError(await link(primary, second, 3, signedDeviceList(primary, primary.accountId, 2, listed), quota), "rate_limited");
    expect(limited.details).toMatchObject({ reason: "link_attempts" });
  });
});

describe("chats learn of a linked device", () => {
  it("at once when the account says so, although they cached its devices a moment ago", async () => {
    const alice = await register();
    const bob = await register();
    const first = await send(bob, alice.accountId, [asRecipient(alice)]);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const chatId = first.body.chat_id as string;
    await linkAs(alice, [], makeDevice(), 2, 1);
    // Within the cache minute the chat still goes by what it read before the link...
    expect((await send(bob, alice.accountId, [asRecipient(alice)])).status).toBe(200);
    // ...until alice's primary tells its chats; then bob is asked to encrypt for device 2 too.
    const outsider = await register();
    expect((await call("POST", "/v1/devices/changed", { token: outsider.token, body: { chat_ids: [chatId] } })).status).toBe(204);
    expect((await send(bob, alice.accountId, [asRecipient(alice)])).status).toBe(200);
    expect((await call("POST", "/v1/devices/changed", { token: alice.token, body: { chat_ids: [chatId] } })).status).toBe(204);
    const mismatch = expectError(await send(bob, alice.accountId, [asRecipient(alice)]), "device_mismatch");
    expect(mismatch.details).toMatchObject({ missing: [{ account_id: alice.accountId, device_id: 2 }] });
    expectError(await call("POST", "/v1/devices/changed", { token: alice.token, body: { chat_ids: ["nope"] } }), "invalid_request");
  });
});

describe("unlinking", () => {
  it("a list without the device unlinks it: token refused, socket closed, shown as removed", async () => {
    const primary = await register();
    const phone = await linkAs(primary, [], makeDevice(), 2, 1);
    const tablet = await linkAs(primary, [phone.listed], makeDevice(), 3, 2);
    const socket = await InboxSocket.open(phone);
    // Only the primary signs, and only lists that leave devices out or keep them.
    const keepAll = signedDeviceList(primary, primary.accountId, 3, [asListed(primary, 1), tablet.listed]);
    expectError(await call("PUT", "/v1/devices/list", { token: tablet.token, body: keepAll }), "forbidden");
    const withStranger = signedDeviceList(primary, primary.accountId, 3, [asListed(primary, 1), tablet.listed, asListed(makeDevice(), 4)]);
    expectError(await call("PUT", "/v1/devices/list", { token: primary.token, body: withStranger }), "invalid_device_list");
    expectError(await call("PUT", "/v1/devices/list", { token: primary.token, body: signedDeviceList(tablet, primary.accountId, 3, [asListed(primary, 1), tablet.listed]) }), "invalid_device_list");

    expect((await call("PUT", "/v1/devices/list", { token: primary.token, body: keepAll })).status).toBe(204);
    await socket.until(() => socket.closed !== null, "the removed device's socket to close");
    expect(socket.closed!.code).toBe(CLOSE_DEVICE_REMOVED);
    // Its token, still unexpired, is refused at once everywhere.
    const refused = expectError(await call("GET", "/v1/devices", { token: phone.token }), "unauthorized");
    expect(refused.details).toEqual({ reason: "device_removed" });
    expectError(await call("GET", `/v1/keys/bundle/${primary.accountId}`, { token: phone.token }), "unauthorized");
    expectError(await login(phone), "unauthorized");
    const mine = await devicesOf(primary.token);
    expect(mine.devices.map((d: { device_id: number }) => d.device_id)).toEqual([1, 3]);
    expect(mine.removed_devices).toEqual([{ device_id: 2, name: "device 2", removed_at: expect.any(Number), reason: "unlinked" }]);
    // The same list again is stale; a device logging itself out is recorded as such.
    expectError(await call("PUT", "/v1/devices/list", { token: primary.token, body: keepAll }), "stale_device_list");
    expect((await call("DELETE", "/v1/devices/3", { token: tablet.token })).status).toBe(204);
    expect((await devicesOf(primary.token)).removed_devices[0]).toMatchObject({ device_id: 3, reason: "logged_out" });
  });

  it("companions unused for LINKED_DEVICE_INACTIVE_DAYS are unlinked by the cron sweep; active ones stay", async () => {
    const primary = await register();
    const idle = await linkAs(primary, [], makeDevice(), 2, 1);
    const busy = await linkAs(primary, [idle.listed], makeDevice(), 3, 2);
    // A token request records activity (at most hourly).
    expect((await login(busy)).status).toBe(200);
    const day = 86_400_000;
    const now = Date.now();
    await env.DB.prepare("UPDATE devices SET last_active_at = ? WHERE account_id = ? AND device_id IN (1, 2)").bind(now - 31 * day, primary.accountId).run();
    await env.DB.prepare("UPDATE devices SET last_active_at = ? WHERE account_id = ? AND device_id = 3").bind(now - 29 * day, primary.accountId).run();

    const ctx = createExecutionContext();
    await worker.scheduled!(createScheduledController({ scheduledTime: now, cron: "17 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    const mine = await devicesOf(primary.token);
    expect(mine.devices.map((d: { device_id: number }) => d.device_id)).toEqual([1, 3]);
    expect(mine.removed_devices).toEqual([expect.objectContaining({ device_id: 2, reason: "inactive" })]);
    expectError(await call("GET", "/v1/devices", { token: idle.token }), "unauthorized");
    // Idempotent: a second run finds nothing; a shorter configured period catches the other one.
    expect(await unlinkInactiveDevices(env, now)).toBe(0);
    expect(await unlinkInactiveDevices({ ...env, LINKED_DEVICE_INACTIVE_DAYS: "28" }, now)).toBeGreaterThanOrEqual(1);
    expect((await devicesOf(primary.token)).devices.map((d: { device_id: number }) => d.device_id)).toEqual([1]);
  });
});

describe("provisioning channels", () => {
  const open = async () => (await call("POST", "/v1/provisioning")).body as { channel_id: string; receive_secret: string; expires_at: number };
  const envelope = { ephemeral_public_key: btoa(String.fromCharCode(...new Uint8Array(32).fill(7))), ciphertext: btoa("sealed provisioning message") };

  it("carries one message from the primary to the holder of the receive secret", async () => {
    const primary = await register();
    const channel = await open();
    expect(channel.expires_at).toBeGreaterThan(Date.now());
    const receive = (secret = channel.receive_secret) => call("POST", `/v1/provisioning/${channel.channel_id}/receive`, { body: { receive_secret: secret } });
    expect((await receive()).body).toEqual({ envelope: null });
    const companion = await linkAs(primary, [], makeDevice(), 2, 1);
    const deliver = (token: string) => call("PUT", `/v1/provisioning/${channel.channel_id}/message`, { token, body: envelope });
    expectError(await deliver(companion.token), "forbidden");
    expect((await deliver(primary.token)).status).toBe(204);
    // The mailbox is durable: a restart of every object (a deploy) loses nothing.
    await abortAllDurableObjects();
    expectError(await deliver(primary.token), "conflict");
    expectError(await receive(channel.receive_secret.replace(/^./, (c) => (c === "A" ? "B" : "A"))), "forbidden");
    expect((await receive()).body).toEqual({ envelope });
    // A lost response can be retried shortly; then the alarm deletes the channel.
    expect((await receive()).body).toEqual({ envelope });
    expect(await runDurableObjectAlarm(env.PROVISIONING_ROOM.getByName(channel.channel_id))).toBe(true);
    expectError(await receive(), "not_found");
  });

  it("refuses unknown and expired channels and malformed input", async () => {
    const primary = await register();
    const unknown = "A".repeat(22);
    expectError(await call("PUT", `/v1/provisioning/${unknown}/message`, { token: primary.token, body: envelope }), "not_found");
    expectError(await call("POST", `/v1/provisioning/${unknown}/receive`, { body: { receive_secret: "A".repeat(43) } }), "not_found");
    const channel = await open();
    expect(await runDurableObjectAlarm(env.PROVISIONING_ROOM.getByName(channel.channel_id))).toBe(true);
    expectError(await call("PUT", `/v1/provisioning/${channel.channel_id}/message`, { token: primary.token, body: envelope }), "not_found");
    expectError(await call("PUT", `/v1/provisioning/bad/message`, { token: primary.token, body: envelope }), "invalid_request");
    expectError(await call("PUT", `/v1/provisioning/${unknown}/message`, { token: primary.token, body: { ...envelope, ephemeral_public_key: "AAAA" } }), "invalid_request");
    expectError(await call("PUT", `/v1/provisioning/${unknown}/message`, { body: envelope }), "unauthorized");
  });
});
