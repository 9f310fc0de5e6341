/**
 * Issue 2 acceptance: prekey upload validation, counts, rotation of the signed prekey and the PQ
 * last-resort key, and what a bundle serves (one-time keys once each, last-resort fallback, nulls
 * when a device has nothing left or is classical-only). Served keys are checked against the
 * identity key exactly as a client checks them (src/protocol/key-signatures.ts).
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { MAX_PREKEYS_PER_UPLOAD, MAX_STORED_PREKEYS_PER_DEVICE } from "../../src/limits";
import { fromBase64 } from "../../src/protocol/encoding";
import { pqPrekeySignedBytes, signedPrekeySignedBytes } from "../../src/protocol/key-signatures";
import { expectError } from "../support/errors";
import { call, makeDevice, oneTimePrekeys, pqPrekey, register, signedPrekey, type RegisteredDevice } from "../support/identity";

function upload(device: RegisteredDevice, body: unknown) {
  return call("PUT", "/v1/keys/prekeys", { token: device.token, body });
}

function counts(device: RegisteredDevice) {
  return call("GET", "/v1/keys/prekeys", { token: device.token });
}

async function bundleEntry(reader: RegisteredDevice, owner: RegisteredDevice) {
  const res = await call("GET", `/v1/keys/bundle/${owner.accountId}`, { token: reader.token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body.account_id).toBe(owner.accountId);
  expect(res.body.devices).toHaveLength(1);
  return res.body.devices[0];
}

function verifies(identityKey: string, signature: string, message: Uint8Array): boolean {
  return ed25519.verify(fromBase64(signature)!, message, fromBase64(identityKey)!);
}

describe("prekey upload", () => {
  it("stores one-time keys of both kinds and reports the counts", async () => {
    const d = await register({ oneTime: 2, pqOneTime: 0 });
    expect((await counts(d)).body).toEqual({ one_time_prekeys: 2, pq_one_time_prekeys: 0, pq_last_resort: true });
    const res = await upload(d, {
      one_time_prekeys: oneTimePrekeys(100, 5),
      pq_one_time_prekeys: [pqPrekey(d.identitySecret, 7, false), pqPrekey(d.identitySecret, 8, false)],
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ one_time_prekeys: 7, pq_one_time_prekeys: 2, pq_last_resort: true });
    expect((await counts(d)).body).toEqual(res.body);
  });

  it("re-uploading the same key ids replaces them instead of failing (a retried request)", async () => {
    const d = await register({ oneTime: 0 });
    const keys = oneTimePrekeys(1, 3);
    expect((await upload(d, { one_time_prekeys: keys })).body.one_time_prekeys).toBe(3);
    const again = await upload(d, { one_time_prekeys: keys });
    expect(again.status).toBe(200);
    expect(again.body.one_time_prekeys).toBe(3);
  });

  it("accepts a maximal upload: 100 keys of each kind", async () => {
    const d = await register({ oneTime: 0, pqLastResort: false });
    const res = await upload(d, {
      one_time_prekeys: oneTimePrekeys(1, MAX_PREKEYS_PER_UPLOAD),
      pq_one_time_prekeys: Array.from({ length: MAX_PREKEYS_PER_UPLOAD }, (_, i) => pqPrekey(d.identitySecret, i + 1, false)),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({ one_time_prekeys: 100, pq_one_time_prekeys: 100, pq_last_resort: false });
  });

  it("refuses a PQ key with a bad signature, naming it, and stores nothing of the upload", async () => {
    const d = await register({ oneTime: 1 });
    const stranger = makeDevice();
    const res = await upload(d, {
      one_time_prekeys: oneTimePrekeys(50, 3),
      pq_one_time_prekeys: [pqPrekey(d.identitySecret, 1, false), pqPrekey(stranger.identitySecret, 2, false)],
    });
    expect(expectError(res, "invalid_request").details).toEqual({ field: "pq_one_time_prekeys", index: 1 });
    expect((await counts(d)).body).toEqual({ one_time_prekeys: 1, pq_one_time_prekeys: 0, pq_last_resort: true });
  });

  it("refuses a last-resort-signed PQ key uploaded as one-time (the flag is signed)", async () => {
    const d = await register();
    const res = await upload(d, { pq_one_time_prekeys: [pqPrekey(d.identitySecret, 3, true)] });
    expect(expectError(res, "invalid_request").details).toEqual({ field: "pq_one_time_prekeys", index: 0 });
  });

  it("refuses a signature over a different key id", async () => {
    const d = await register();
    const key = pqPrekey(d.identitySecret, 3, false);
    expectError(await upload(d, { pq_one_time_prekeys: [{ ...key, key_id: 4 }] }), "invalid_request");
  });

  it("refuses duplicate key ids within one upload", async () => {
    const d = await register();
    const [a, b] = oneTimePrekeys(1, 2);
    expect(expectError(await upload(d, { one_time_prekeys: [a, { ...b, key_id: a!.key_id }] }), "invalid_request").details).toEqual({
      field: "one_time_prekeys",
    });
  });

  it(`caps stored one-time keys at ${MAX_STORED_PREKEYS_PER_DEVICE} per kind`, async () => {
    const d = await register({ oneTime: 0 });
    const perUpload = MAX_PREKEYS_PER_UPLOAD;
    for (let i = 0; i < MAX_STORED_PREKEYS_PER_DEVICE / perUpload; i++) {
      expect((await upload(d, { one_time_prekeys: oneTimePrekeys(1 + i * perUpload, perUpload) })).status).toBe(200);
    }
    const over = await upload(d, { one_time_prekeys: oneTimePrekeys(5000, 1) });
    expect(expectError(over, "conflict").details).toEqual({
      stored: { one_time_prekeys: MAX_STORED_PREKEYS_PER_DEVICE, pq_one_time_prekeys: 0, pq_last_resort: true },
    });
    expect((await counts(d)).body.one_time_prekeys).toBe(MAX_STORED_PREKEYS_PER_DEVICE);
  });
});

describe("signed prekey and PQ last-resort rotation", () => {
  it("rotates the signed prekey; bundles serve the new one", async () => {
    const owner = await register();
    const reader = await register();
    const next = signedPrekey(owner.identitySecret, 2);
    const res = await call("PUT", "/v1/keys/signed-prekey", { token: owner.token, body: next });
    expect(res.status).toBe(204);
    expect((await bundleEntry(reader, owner)).signed_prekey).toEqual(next);
  });

  it("refuses a signed prekey signed by another key, or over another key id, and keeps the old one", async () => {
    const owner = await register();
    const reader = await register();
    const forged = signedPrekey(makeDevice().identitySecret, 2);
    expect(expectError(await call("PUT", "/v1/keys/signed-prekey", { token: owner.token, body: forged }), "invalid_request").details).toEqual({
      field: "signed_prekey",
    });
    const relabelled = { ...signedPrekey(owner.identitySecret, 2), key_id: 3 };
    expectError(await call("PUT", "/v1/keys/signed-prekey", { token: owner.token, body: relabelled }), "invalid_request");
    expect((await bundleEntry(reader, owner)).signed_prekey).toEqual(owner.keys.signed_prekey);
  });

  it("sets the PQ last-resort key on a classical-only device, then rotates it", async () => {
    const owner = await register({ pqLastResort: false });
    const reader = await register();
    expect((await counts(owner)).body.pq_last_resort).toBe(false);
    const first = pqPrekey(owner.identitySecret, 500, true);
    expect((await call("PUT", "/v1/keys/pq-last-resort", { token: owner.token, body: first })).status).toBe(204);
    expect((await counts(owner)).body.pq_last_resort).toBe(true);
    expect((await bundleEntry(reader, owner)).pq_prekey).toEqual({ ...first, last_resort: true });
    const second = pqPrekey(owner.identitySecret, 501, true);
    expect((await call("PUT", "/v1/keys/pq-last-resort", { token: owner.token, body: second })).status).toBe(204);
    expect((await bundleEntry(reader, owner)).pq_prekey).toEqual({ ...second, last_resort: true });
  });

  it("refuses a one-time-signed PQ key as the last-resort key", async () => {
    const owner = await register();
    const res = await call("PUT", "/v1/keys/pq-last-resort", { token: owner.token, body: pqPrekey(owner.identitySecret, 9, false) });
    expect(expectError(res, "invalid_request").details).toEqual({ field: "pq_last_resort_prekey", index: 0 });
  });
});

describe("prekey bundles", () => {
  it("serves the device's keys, each verifiable with its identity key, lowest one-time ids first", async () => {
    const owner = await register({ oneTime: 2, pqOneTime: 1 });
    const reader = await register();
    const entry = await bundleEntry(reader, owner);
    expect(entry).toEqual({
      device_id: 1,
      registration_id: owner.keys.registration_id,
      identity_key: owner.identityKey,
      signed_prekey: owner.keys.signed_prekey,
      one_time_prekey: owner.keys.one_time_prekeys![0],
      pq_prekey: { ...owner.keys.pq_one_time_prekeys![0]!, last_resort: false },
    });
    const spk = entry.signed_prekey;
    expect(verifies(entry.identity_key, spk.signature, signedPrekeySignedBytes(spk.key_id, fromBase64(spk.public_key)!))).toBe(true);
    const pq = entry.pq_prekey;
    expect(verifies(entry.identity_key, pq.signature, pqPrekeySignedBytes(pq.key_id, fromBase64(pq.public_key)!, false))).toBe(true);
    expect((await bundleEntry(reader, owner)).one_time_prekey).toEqual(owner.keys.one_time_prekeys![1]);
    expect((await counts(owner)).body).toEqual({ one_time_prekeys: 0, pq_one_time_prekeys: 0, pq_last_resort: true });
  });

  it("falls back to the last-resort PQ key once PQ one-time keys run out, and keeps serving it", async () => {
    const owner = await register({ oneTime: 0, pqOneTime: 1 });
    const reader = await register();
    expect((await bundleEntry(reader, owner)).pq_prekey.last_resort).toBe(false);
    const lastResort = { ...owner.keys.pq_last_resort_prekey!, last_resort: true };
    for (let i = 0; i < 2; i++) {
      const pq = (await bundleEntry(reader, owner)).pq_prekey;
      expect(pq).toEqual(lastResort);
      expect(verifies(owner.identityKey, pq.signature, pqPrekeySignedBytes(pq.key_id, fromBase64(pq.public_key)!, true))).toBe(true);
    }
  });

  it("serves one_time_prekey null when the device's one-time keys run out", async () => {
    const owner = await register({ oneTime: 1 });
    const reader = await register();
    expect((await bundleEntry(reader, owner)).one_time_prekey).toEqual(owner.keys.one_time_prekeys![0]);
    const empty = await bundleEntry(reader, owner);
    expect(empty.one_time_prekey).toBeNull();
    expect(empty.signed_prekey).toEqual(owner.keys.signed_prekey);
  });

  it("serves pq_prekey null for a classical-only device", async () => {
    const owner = await register({ pqOneTime: 0, pqLastResort: false });
    const reader = await register();
    const entry = await bundleEntry(reader, owner);
    expect(entry.pq_prekey).toBeNull();
    expect(entry.one_time_prekey).not.toBeNull();
  });

  it("selects one device with ?device_id and 404s for unknown accounts and devices", async () => {
    const owner = await register();
    const reader = await register();
    const one = await call("GET", `/v1/keys/bundle/${owner.accountId}?device_id=1`, { token: reader.token });
    expect(one.status).toBe(200);
    expect(one.body.devices.map((d: { device_id: number }) => d.device_id)).toEqual([1]);
    expectError(await call("GET", `/v1/keys/bundle/${owner.accountId}?device_id=2`, { token: reader.token }), "not_found");
    expectError(await call("GET", `/v1/keys/bundle/${crypto.randomUUID()}`, { token: reader.token }), "not_found");
  });

  it("a device may fetch its own account's bundle", async () => {
    const owner = await register({ oneTime: 1 });
    expect((await bundleEntry(owner, owner)).device_id).toBe(1);
  });
});
