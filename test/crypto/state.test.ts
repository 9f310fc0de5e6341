/**
 * Records and stores: versioned encodings round-trip and refuse unknown versions, truncation and
 * trailing bytes; the Node file store keeps a working session across "restarts".
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CryptoError } from "../../src/client/crypto/errors";
import { decryptMessage, encryptMessage, startSession } from "../../src/client/crypto/session";
import { decodeSenderKeyRecord, encodeSenderKeyRecord } from "../../src/client/state/sender-key-record";
import { decodeSessionRecord, encodeSessionRecord } from "../../src/client/state/session-record";
import { FileKeyValueStore } from "../../src/client/store/file-store";
import { ProtocolStore } from "../../src/client/store/protocol-store";
import { createDevice } from "./devices";
import { text, utf8 } from "./support";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("records", () => {
  it("session records round-trip and refuse unknown versions, truncation and trailing bytes", async () => {
    const alice = await createDevice("alice");
    const bob = await createDevice("bob");
    await startSession(alice.store, bob.address, await bob.bundle());
    await decryptMessage(bob.store, alice.address, await encryptMessage(alice.store, bob.address, utf8("x")));
    const bytes = (await bob.kv.get("session/alice.1"))!;
    expect(encodeSessionRecord(decodeSessionRecord(bytes))).toEqual(bytes);
    const v9 = bytes.slice();
    v9[0] = 9;
    expect(() => decodeSessionRecord(v9)).toThrow(expect.objectContaining({ code: "UNSUPPORTED_VERSION" }) as CryptoError);
    expect(() => decodeSessionRecord(bytes.subarray(0, bytes.length - 1))).toThrow(CryptoError);
    expect(() => decodeSessionRecord(Uint8Array.of(...bytes, 0))).toThrow(expect.objectContaining({ code: "MALFORMED" }) as CryptoError);
  });

  it("sender key records round-trip", () => {
    const record = {
      states: [{ keyId: 7, iteration: 3, chainKey: new Uint8Array(32).fill(1), signingPublic: new Uint8Array(32).fill(2), signingPrivate: null, skipped: [{ iteration: 1, seed: new Uint8Array(32).fill(3) }] }],
    };
    expect(decodeSenderKeyRecord(encodeSenderKeyRecord(record))).toEqual(record);
  });
});

describe("file-backed store (Node)", () => {
  it("keeps sessions across process restarts (a new store object over the same directory)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "parley-store-"));
    dirs.push(dir);
    const alice = await createDevice("alice", 1, undefined, new FileKeyValueStore(join(dir, "alice")));
    const bob = await createDevice("bob", 1, undefined, new FileKeyValueStore(join(dir, "bob")));
    await startSession(alice.store, bob.address, await bob.bundle());
    expect(text(await decryptMessage(bob.store, alice.address, await encryptMessage(alice.store, bob.address, utf8("one"))))).toBe("one");
    const bobAgain = new ProtocolStore(new FileKeyValueStore(join(dir, "bob")));
    const aliceAgain = new ProtocolStore(new FileKeyValueStore(join(dir, "alice")));
    expect(text(await decryptMessage(aliceAgain, bob.address, await encryptMessage(bobAgain, alice.address, utf8("two"))))).toBe("two");
    expect(await new FileKeyValueStore(join(dir, "nobody")).get("session/x.1")).toBeUndefined();
  });
});
