/**
 * Issue 2 acceptance: the device list and device removal. Companions are written into D1 directly
 * (test/support/companions.ts) until linking lands. A removed device is refused at once wherever
 * the server checks the device (token issuance, its inbox and socket, key routes, removal) and
 * drops out of lists and bundles; its prekeys are deleted.
 */
import { env, exports } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { database } from "../../src/db/client";
import { oneTimePrekeys } from "../../src/db/schema";
import { CLOSE_DEVICE_REMOVED } from "../../durable-objects/device-inbox";
import { inboxStub } from "../../src/inbox";
import { addCompanionDevice, type CompanionDevice } from "../support/companions";
import { expectError } from "../support/errors";
import { call, login, oneTimePrekeys as makeOneTimePrekeys, register, type RegisteredDevice } from "../support/identity";

async function tokenFor(device: CompanionDevice): Promise<string> {
  const res = await login(device);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.token;
}

function remove(token: string, deviceId: number | string) {
  return call("DELETE", `/v1/devices/${deviceId}`, { token });
}

function deviceIds(res: { body: { devices: { device_id: number }[] } }): number[] {
  return res.body.devices.map((d) => d.device_id);
}

/** Opens the device's inbox socket; resolves with the close code when the server closes it. */
async function openSocket(token: string): Promise<{ status: number; closed: Promise<number> }> {
  const res = await exports.default.fetch(`http://parley.test/v1/socket?token=${encodeURIComponent(token)}`, { headers: { upgrade: "websocket" } });
  const ws = res.webSocket;
  if (!ws) return { status: res.status, closed: Promise.resolve(-1) };
  ws.accept();
  return { status: res.status, closed: new Promise((resolve) => ws.addEventListener("close", (event) => resolve(event.code))) };
}

async function storedOneTimeKeys(device: { accountId: string; deviceId: number }): Promise<number> {
  const rows = await database(env.DB)
    .select()
    .from(oneTimePrekeys)
    .where(and(eq(oneTimePrekeys.accountId, device.accountId), eq(oneTimePrekeys.deviceId, device.deviceId)));
  return rows.length;
}

describe("device list", () => {
  it("lists the account's active devices in id order", async () => {
    const primary = await register();
    const companion = await addCompanionDevice(primary.accountId, 2, "laptop");
    const res = await call("GET", "/v1/devices", { token: primary.token });
    expect(res.status).toBe(200);
    expect(res.body.devices).toEqual([
      { device_id: 1, name: null, identity_key: primary.identityKey, registration_id: primary.keys.registration_id, created_at: expect.any(Number) },
      { device_id: 2, name: "laptop", identity_key: companion.identityKey, registration_id: companion.keys.registration_id, created_at: expect.any(Number) },
    ]);
    // Another account sees only its own devices.
    const other = await register();
    expect(deviceIds(await call("GET", "/v1/devices", { token: other.token }))).toEqual([1]);
  });
});

describe("removal rules", () => {
  let primary: RegisteredDevice;
  let companionToken: string;

  beforeAll(async () => {
    primary = await register();
    companionToken = await tokenFor(await addCompanionDevice(primary.accountId, 2));
    await addCompanionDevice(primary.accountId, 3);
  });

  it("the primary device cannot be removed, by itself or by a companion", async () => {
    expectError(await remove(primary.token, 1), "forbidden");
    expectError(await remove(companionToken, 1), "forbidden");
  });

  it("a companion cannot remove another companion", async () => {
    expect(expectError(await remove(companionToken, 3), "forbidden").message).toMatch(/only the primary/);
  });

  it("removing a device that does not exist is a 404", async () => {
    expectError(await remove(primary.token, 9), "not_found");
  });

  it("cannot reach another account's devices", async () => {
    const stranger = await register();
    expectError(await remove(stranger.token, 2), "not_found");
    expect(deviceIds(await call("GET", "/v1/devices", { token: primary.token }))).toEqual([1, 2, 3]);
  });
});

describe("a removed device", () => {
  let primary: RegisteredDevice;
  let reader: RegisteredDevice;
  let companion: CompanionDevice;
  let companionToken: string;
  let socket: { status: number; closed: Promise<number> };

  beforeAll(async () => {
    primary = await register();
    reader = await register();
    companion = await addCompanionDevice(primary.accountId, 2);
    companionToken = await tokenFor(companion);
    socket = await openSocket(companionToken);
  });

  it("works as a companion before removal: uploads keys and appears in bundles", async () => {
    const uploaded = await call("PUT", "/v1/keys/prekeys", { token: companionToken, body: { one_time_prekeys: makeOneTimePrekeys(1, 3) } });
    expect(uploaded.body).toEqual({ one_time_prekeys: 3, pq_one_time_prekeys: 0, pq_last_resort: false });
    const bundle = await call("GET", `/v1/keys/bundle/${primary.accountId}`, { token: reader.token });
    expect(deviceIds(bundle)).toEqual([1, 2]);
    expect(bundle.body.devices[1]).toMatchObject({ identity_key: companion.identityKey, pq_prekey: null, one_time_prekey: { key_id: 1 } });
    expect(await inboxStub(env, companion).isActive()).toBe(true);
    expect(socket.status).toBe(101);
  });

  it("is removed by the primary, which closes its open socket with the device-removed code", async () => {
    const res = await call("DELETE", "/v1/devices/2", { token: primary.token });
    expect(res.status).toBe(204);
    expect(res.body).toBeNull();
    expect(await socket.closed).toBe(CLOSE_DEVICE_REMOVED);
  });

  it("cannot open its socket again with its still-unexpired token", async () => {
    const res = await call("GET", `/v1/socket?token=${encodeURIComponent(companionToken)}`, { headers: { upgrade: "websocket" } });
    expectError(res, "device_removed");
  });

  it("disappears from the device list and from bundles, and its prekeys are deleted", async () => {
    expect(deviceIds(await call("GET", "/v1/devices", { token: primary.token }))).toEqual([1]);
    expect(deviceIds(await call("GET", `/v1/keys/bundle/${primary.accountId}`, { token: reader.token }))).toEqual([1]);
    expectError(await call("GET", `/v1/keys/bundle/${primary.accountId}?device_id=2`, { token: reader.token }), "not_found");
    expect(await storedOneTimeKeys(companion)).toBe(0);
  });

  it("its inbox knows at once: inactive, and it refuses challenge nonces", async () => {
    const inbox = inboxStub(env, companion);
    expect(await inbox.isActive()).toBe(false);
    expect(await inbox.consumeAuthNonce("bm9uY2U=", Date.now() + 60_000)).toBe(false);
    // The primary's inbox is untouched.
    expect(await inboxStub(env, primary).isActive()).toBe(true);
  });

  it("cannot get a new token", async () => {
    expect(expectError(await login(companion), "unauthorized").message).toMatch(/unknown or removed device/);
  });

  it("its still-unexpired token is refused by routes that check the device", async () => {
    expectError(await remove(companionToken, 2), "unauthorized");
    expectError(await call("GET", "/v1/keys/prekeys", { token: companionToken }), "unauthorized");
    expectError(await call("PUT", "/v1/keys/prekeys", { token: companionToken, body: { one_time_prekeys: makeOneTimePrekeys(10, 1) } }), "unauthorized");
    expect(await storedOneTimeKeys(companion)).toBe(0);
  });

  it("cannot be removed twice", async () => {
    expectError(await remove(primary.token, 2), "not_found");
  });
});

describe("a companion logging itself out", () => {
  it("removes itself and is refused afterwards", async () => {
    const primary = await register();
    const companion = await addCompanionDevice(primary.accountId, 2);
    const token = await tokenFor(companion);
    expect((await remove(token, 2)).status).toBe(204);
    expect(await inboxStub(env, companion).isActive()).toBe(false);
    expectError(await remove(token, 2), "unauthorized");
    expectError(await login(companion), "unauthorized");
    expect(deviceIds(await call("GET", "/v1/devices", { token: primary.token }))).toEqual([1]);
  });
});
