/**
 * Wrong types and sizes fed to every public entry point fail with a typed CryptoError (never a
 * TypeError from deep inside, never a success).
 */
import { describe, expect, it } from "vitest";
import {
  compareScannable,
  decryptMedia,
  decryptMessage,
  encryptMedia,
  encryptMessage,
  groupDecrypt,
  groupEncrypt,
  MemoryKeyValueStore,
  messageKind,
  processSenderKeyDistribution,
  ProtocolStore,
  safetyNumber,
  senderKeyDistribution,
  startSession,
  verifyDeviceList,
} from "../../src/client/crypto/index";
import { codeOf } from "./support";

const store = new ProtocolStore(new MemoryKeyValueStore());
const address = { accountId: "x", deviceId: 1 };
const notBytes = [undefined, null, "text", 42, [1, 2, 3], {}] as unknown as Uint8Array[];

describe("typed failures on bad input", () => {
  it("every entry point that takes bytes refuses non-bytes with INVALID_INPUT", async () => {
    for (const bad of notBytes) {
      const calls: (() => Promise<unknown>)[] = [
        async () => messageKind(bad),
        () => decryptMessage(store, address, bad),
        () => encryptMessage(store, address, bad),
        () => groupDecrypt(store, address, bad),
        () => groupEncrypt(store, address, new Uint8Array(16), bad),
        () => groupEncrypt(store, address, bad, new Uint8Array(1)),
        () => processSenderKeyDistribution(store, address, bad),
        () => senderKeyDistribution(store, address, bad),
        () => encryptMedia(bad),
        () => decryptMedia(bad, new Uint8Array(32), new Uint8Array(32)),
        () => decryptMedia(new Uint8Array(100), bad, new Uint8Array(32)),
        () => verifyDeviceList({ list: bad, signature: new Uint8Array(64) }, { accountId: "x", primaryIdentityKey: new Uint8Array(32), previous: null, now: 0 }),
        async () => safetyNumber({ accountId: "a", identityKey: bad }, { accountId: "b", identityKey: new Uint8Array(32) }),
        async () => compareScannable(bad, new Uint8Array(65)),
      ];
      for (const [i, call] of calls.entries()) expect(`${i}: ${await codeOf(call())}`).toBe(`${i}: INVALID_INPUT`);
    }
  });

  it("malformed messages of the right type fail with MALFORMED or UNSUPPORTED_VERSION", async () => {
    expect(await codeOf(decryptMessage(store, address, new Uint8Array(0)))).toBe("MALFORMED");
    expect(await codeOf(decryptMessage(store, address, Uint8Array.of(0x11, 1, 2)))).toBe("MALFORMED");
    expect(await codeOf(decryptMessage(store, address, Uint8Array.of(0x12, 0, 0)))).toBe("MALFORMED");
    expect(await codeOf(decryptMessage(store, address, new Uint8Array(200).fill(0x21)))).toBe("UNSUPPORTED_VERSION");
    expect(await codeOf(groupDecrypt(store, address, new Uint8Array(10)))).toBe("MALFORMED");
    expect(await codeOf(processSenderKeyDistribution(store, address, Uint8Array.of(0x13, 1)))).toBe("MALFORMED");
    expect(await codeOf(startSession(store, address, {} as never))).not.toBe("ok");
  });
});
