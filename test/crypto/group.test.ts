/**
 * Sender Keys: distribution, one encryption for the group, signature on every message,
 * out-of-order and duplicate delivery, tampering, rotation on membership change, bounded states.
 */
import { describe, expect, it } from "vitest";
import { groupDecrypt, groupEncrypt, processSenderKeyDistribution, rotateSenderKey, senderKeyDistribution } from "../../src/client/crypto/group-cipher";
import { MAX_FORWARD_JUMPS, MAX_SENDER_KEY_STATES } from "../../src/client/crypto/limits";
import { ed25519GenerateKeyPair, ed25519Sign, useCryptoBackend } from "../../src/client/crypto/primitives";
import { MemoryKeyValueStore } from "../../src/client/store/memory-store";
import { type ProtocolAddress, ProtocolStore } from "../../src/client/store/protocol-store";
import { codeOf, seededRandom, text, utf8 } from "./support";

const group = Uint8Array.from({ length: 16 }, (_, i) => i + 1);

function member(accountId: string): { address: ProtocolAddress; store: ProtocolStore } {
  return { address: { accountId, deviceId: 1 }, store: new ProtocolStore(new MemoryKeyValueStore()) };
}


async function setup() {
  const alice = member("alice");
  const bob = member("bob");
  const carol = member("carol");
  const dist = await senderKeyDistribution(alice.store, alice.address, group);
  // (Delivered over pairwise sessions in real use.)
  await processSenderKeyDistribution(bob.store, alice.address, dist);
  await processSenderKeyDistribution(carol.store, alice.address, dist);
  const send = (msg: string) => groupEncrypt(alice.store, alice.address, group, utf8(msg));
  const open = async (who: { store: ProtocolStore }, bytes: Uint8Array) => text(await groupDecrypt(who.store, alice.address, bytes));
  return { alice, bob, carol, send, open };
}

describe("sender keys", () => {
  it("one ciphertext opens for every member, exactly once", async () => {
    const { bob, carol, send, open } = await setup();
    const m = await send("to the group");
    expect(await open(bob, m)).toBe("to the group");
    expect(await open(carol, m)).toBe("to the group");
    expect(await codeOf(open(bob, m))).toBe("DUPLICATE_MESSAGE");
  });

  it("messages signed on one backend verify and open on every other (node:crypto, WebCrypto, @noble)", async () => {
    const { alice, bob, carol, send, open } = await setup();
    const dave = member("dave");
    await processSenderKeyDistribution(dave.store, alice.address, await senderKeyDistribution(alice.store, alice.address, group));
    const receivers = { node: bob, webcrypto: carol, noble: dave };
    try {
      for (const sender of ["node", "webcrypto", "noble"] as const) {
        useCryptoBackend(sender);
        const m = await send(`signed on ${sender}`);
        for (const [backend, who] of Object.entries(receivers)) {
          useCryptoBackend(backend as keyof typeof receivers);
          const forged = m.slice();
          forged[forged.length - 1]! ^= 1;
          expect(await codeOf(open(who, forged))).toBe("INVALID_SIGNATURE");
          expect(await open(who, m)).toBe(`signed on ${sender}`);
        }
      }
    } finally {
      useCryptoBackend(null);
    }
  });

  it("out-of-order delivery with drops and duplicates (seeded): each message opens once", async () => {
    const { bob, send, open } = await setup();
    const rand = seededRandom(42);
    const msgs: Uint8Array[] = [];
    for (let i = 0; i < 200; i++) msgs.push(await send(`g${i}`));
    const order = msgs.map((m, i) => ({ m, i })).filter(() => rand() > 0.1);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const seen = new Set<number>();
    for (const { m, i } of [...order, ...order.slice(0, 30)]) {
      const result = await codeOf(open(bob, m).then((t) => expect(t).toBe(`g${i}`)));
      expect(result).toBe(seen.has(i) ? "DUPLICATE_MESSAGE" : "ok");
      seen.add(i);
    }
  });

  it("rejects any changed byte (header, ciphertext, signature) and a member forging as the sender", async () => {
    const { alice, bob, send, open } = await setup();
    const m = await send("signed");
    for (let i = 0; i < m.length; i++) {
      const bad = m.slice();
      bad[i]! ^= 0x01;
      expect(await codeOf(open(bob, bad))).not.toBe("ok");
    }
    // Bob knows Alice's chain key (every member does) but not her signing key.
    const record = await alice.store.getSenderKey(group, alice.address);
    const forger = await ed25519GenerateKeyPair();
    const forged = m.slice();
    forged.set(await ed25519Sign(forger, forged.subarray(0, forged.length - 64)), forged.length - 64);
    expect(await codeOf(open(bob, forged))).toBe("INVALID_SIGNATURE");
    expect(record.states[0]!.signingPrivate).not.toBeNull();
    expect(await open(bob, m)).toBe("signed");
  });

  it("rotation on membership change: the removed member cannot read on, the others can, late messages still open", async () => {
    const { alice, bob, carol, send, open } = await setup();
    const beforeRotation = await send("before");
    const dist = await rotateSenderKey(alice.store, alice.address, group);
    await processSenderKeyDistribution(bob.store, alice.address, dist); // carol left: she gets nothing
    const after = await send("after carol left");
    expect(await open(bob, after)).toBe("after carol left");
    expect(await codeOf(open(carol, after))).toBe("NO_SENDER_KEY");
    expect(await open(bob, beforeRotation)).toBe("before");
  });

  it(`keeps at most ${MAX_SENDER_KEY_STATES} generations per sender and refuses jumps beyond ${MAX_FORWARD_JUMPS}`, async () => {
    const { alice, bob, send, open } = await setup();
    const oldest = await send("generation 0");
    for (let i = 0; i < MAX_SENDER_KEY_STATES; i++) {
      await processSenderKeyDistribution(bob.store, alice.address, await rotateSenderKey(alice.store, alice.address, group));
    }
    expect((await bob.store.getSenderKey(group, alice.address)).states).toHaveLength(MAX_SENDER_KEY_STATES);
    expect(await codeOf(open(bob, oldest))).toBe("NO_SENDER_KEY");
    const m = await send("newest");
    const far = m.slice();
    new DataView(far.buffer).setUint32(21, MAX_FORWARD_JUMPS + 1, false);
    expect(await codeOf(open(bob, far))).not.toBe("ok");
    expect(await open(bob, m)).toBe("newest");
  });

  it("a repeated distribution message does not rewind the chain", async () => {
    const { alice, bob, send, open } = await setup();
    const dist = await senderKeyDistribution(alice.store, alice.address, group);
    const m = await send("once");
    expect(await open(bob, m)).toBe("once");
    await processSenderKeyDistribution(bob.store, alice.address, dist);
    expect(await codeOf(open(bob, m))).toBe("DUPLICATE_MESSAGE");
  });

  it("concurrent bursts: encrypts get distinct iterations and every message opens once", async () => {
    const { bob, send, open } = await setup();
    const sent = await Promise.all(Array.from({ length: 40 }, (_, i) => send(`burst ${i}`)));
    const iterations = new Set(sent.map((m) => new DataView(m.buffer, m.byteOffset).getUint32(21, false)));
    expect(iterations.size).toBe(40);
    expect(await Promise.all(sent.map((m) => open(bob, m)))).toEqual(sent.map((_, i) => `burst ${i}`));
    expect(await Promise.all(sent.slice(0, 5).map((m) => codeOf(open(bob, m))))).toEqual(Array(5).fill("DUPLICATE_MESSAGE"));
  });

  it("a burst verifies concurrently: forgeries fail as forgeries, change nothing, and never return plaintext", async () => {
    const { alice, bob, send, open } = await setup();
    const forger = await ed25519GenerateKeyPair();
    const resign = async (m: Uint8Array, iteration?: number) => {
      const bad = m.slice();
      if (iteration !== undefined) new DataView(bad.buffer).setUint32(21, iteration, false);
      bad.set(await ed25519Sign(forger, bad.subarray(0, bad.length - 64)), bad.length - 64);
      return bad;
    };
    const first = await send("already read");
    expect(await open(bob, first)).toBe("already read");
    const sent = await Promise.all(Array.from({ length: 12 }, (_, i) => send(`burst ${i}`)));
    const before = await bob.store.getSenderKey(group, alice.address);
    // A genuine body under a forged signature would open: its plaintext must still not come back.
    const forgeries = [await resign(sent[3]!), await resign(sent[4]!, MAX_FORWARD_JUMPS), await resign(first)];
    expect(await Promise.all(forgeries.map((m) => codeOf(open(bob, m))))).toEqual(Array(3).fill("INVALID_SIGNATURE"));
    expect(await bob.store.getSenderKey(group, alice.address)).toEqual(before);
    // Forgeries mixed into the burst, all in flight at once: each genuine message opens exactly once.
    const mixed = await Promise.all([...sent, ...forgeries].map((m) => codeOf(open(bob, m))));
    expect(mixed).toEqual([...Array(12).fill("ok"), ...Array(3).fill("INVALID_SIGNATURE")]);
    expect(await Promise.all(sent.map((m) => codeOf(open(bob, m))))).toEqual(Array(12).fill("DUPLICATE_MESSAGE"));
  });

  it("encrypting without our sender key is a typed error", async () => {
    const dave = member("dave");
    expect(await codeOf(groupEncrypt(dave.store, dave.address, group, utf8("x")))).toBe("NO_SENDER_KEY");
  });
});
