/** Signed device lists: sign/verify, and rejection of unsigned, foreign, stale, future and rolled-back lists. */
import { describe, expect, it } from "vitest";
import { type DeviceList, signDeviceList, verifyDeviceList } from "../../src/client/crypto/device-list";
import { DEVICE_LIST_MAX_AGE_MS } from "../../src/client/crypto/limits";
import { ed25519GenerateKeyPair } from "../../src/client/crypto/primitives";
import { codeOf, seededRng } from "./support";

const NOW = 1_800_000_000_000;


async function setup() {
  const primary = await ed25519GenerateKeyPair(seededRng(1));
  const linked = await ed25519GenerateKeyPair(seededRng(2));
  const list = (version: number, timestamp: number, devices = [1, 2]): DeviceList => ({
    accountId: "acct-1",
    version,
    timestamp,
    devices: devices.map((deviceId) => ({ deviceId, identityKey: deviceId === 1 ? primary.publicKey : linked.publicKey, registrationId: 100 + deviceId })),
  });
  const trust = { accountId: "acct-1", primaryIdentityKey: primary.publicKey, previous: null, now: NOW };
  return { primary, linked, list, trust };
}

describe("signed device lists", () => {
  it("verifies a list signed by the primary device", async () => {
    const { primary, list, trust } = await setup();
    const signed = await signDeviceList(primary, list(1, NOW));
    expect(await verifyDeviceList(signed, trust)).toEqual(list(1, NOW));
  });

  it("rejects unsigned, tampered and wrongly signed lists", async () => {
    const { primary, linked, list, trust } = await setup();
    const signed = await signDeviceList(primary, list(1, NOW));
    expect(await codeOf(verifyDeviceList({ ...signed, signature: new Uint8Array(0) }, trust))).toBe("INVALID_SIGNATURE");
    for (let i = 0; i < signed.list.length; i += 5) {
      const bad = signed.list.slice();
      bad[i]! ^= 1;
      expect(await codeOf(verifyDeviceList({ ...signed, list: bad }, trust))).toBe("INVALID_SIGNATURE");
    }
    await expect(signDeviceList(linked, list(1, NOW))).rejects.toMatchObject({ code: "INVALID_INPUT" });
    expect(await codeOf(verifyDeviceList(signed, { ...trust, primaryIdentityKey: linked.publicKey }))).toBe("INVALID_SIGNATURE");
    expect(await codeOf(verifyDeviceList(signed, { ...trust, accountId: "acct-2" }))).toBe("UNTRUSTED_IDENTITY");
  });

  it("rejects stale, future, rolled-back and equivocating lists; accepts a newer one", async () => {
    const { primary, list, trust } = await setup();
    const v2 = await signDeviceList(primary, list(2, NOW - 1000));
    const old = await signDeviceList(primary, list(3, NOW - DEVICE_LIST_MAX_AGE_MS - 1));
    expect(await codeOf(verifyDeviceList(old, trust))).toBe("STALE_DEVICE_LIST");
    const future = await signDeviceList(primary, list(3, NOW + 60 * 60 * 1000));
    expect(await codeOf(verifyDeviceList(future, trust))).toBe("STALE_DEVICE_LIST");
    const v1 = await signDeviceList(primary, list(1, NOW - 500));
    expect(await codeOf(verifyDeviceList(v1, { ...trust, previous: v2 }))).toBe("STALE_DEVICE_LIST");
    const v2b = await signDeviceList(primary, list(2, NOW - 1000, [1]));
    expect(await codeOf(verifyDeviceList(v2b, { ...trust, previous: v2 }))).toBe("STALE_DEVICE_LIST");
    expect(await codeOf(verifyDeviceList(v2, { ...trust, previous: v2 }))).toBe("ok");
    const v3 = await signDeviceList(primary, list(3, NOW, [1]));
    expect((await verifyDeviceList(v3, { ...trust, previous: v2 })).devices.map((d) => d.deviceId)).toEqual([1]);
  });

  it("refuses malformed lists: no primary, duplicate or unordered ids", async () => {
    const { primary, list } = await setup();
    await expect(signDeviceList(primary, list(1, NOW, [1, 1]))).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(signDeviceList(primary, list(1, NOW, [2, 1]))).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(signDeviceList(primary, list(1, NOW, [2]))).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });
});
