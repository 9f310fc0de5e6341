/**
 * 1:1 sessions end to end through the stores: PQXDH and classical setup, the Double Ratchet under
 * drops, duplicates and reordering (seeded property test), the skip bounds, forward secrecy,
 * post-compromise recovery, tamper rejection, and session reset after state loss.
 */
import { describe, expect, it } from "vitest";
import { CryptoError } from "../../src/client/crypto/errors";
import { MAX_FORWARD_JUMPS, MAX_SKIPPED_MESSAGE_KEYS } from "../../src/client/crypto/limits";
import { useCryptoBackend } from "../../src/client/crypto/primitives";
import { decryptMessage, encryptMessage, messageKind, resetSession, sessionInfo, startSession } from "../../src/client/crypto/session";
import { MemoryKeyValueStore } from "../../src/client/store/memory-store";
import { ProtocolStore } from "../../src/client/store/protocol-store";
import { createDevice, snapshot, type TestDevice } from "./devices";
import { codeOf, seededRandom, seededRng, text, utf8 } from "./support";

async function pair(options: { pq?: boolean; oneTime?: boolean } = {}): Promise<[TestDevice, TestDevice]> {
  const alice = await createDevice("alice-0000");
  const bob = await createDevice("bob-0000");
  await startSession(alice.store, bob.address, await bob.bundle(options));
  return [alice, bob];
}

const send = (from: TestDevice, to: TestDevice, msg: string) => encryptMessage(from.store, to.address, utf8(msg));
const recv = async (to: TestDevice, from: TestDevice, bytes: Uint8Array) => text(await decryptMessage(to.store, from.address, bytes));


describe("session setup", () => {
  it("PQXDH: the first messages are prekey messages, one-time keys are spent, both sides see postQuantum", async () => {
    const [alice, bob] = await pair();
    const m1 = await send(alice, bob, "hello");
    const m2 = await send(alice, bob, "again");
    expect(messageKind(m1)).toBe("prekey");
    expect(await recv(bob, alice, m1)).toBe("hello");
    expect(await recv(bob, alice, m2)).toBe("again");
    expect((bob.kv as MemoryKeyValueStore).keys().filter((k) => k.startsWith("prekey/one-time/"))).toEqual([]);
    expect((bob.kv as MemoryKeyValueStore).keys().filter((k) => k.startsWith("prekey/pq/"))).toEqual(["prekey/pq/1000"]);
    expect((await sessionInfo(bob.store, alice.address))!.postQuantum).toBe(true);
    expect((await sessionInfo(alice.store, bob.address))!).toMatchObject({ postQuantum: true, awaitingReply: true });

    expect(await recv(alice, bob, await send(bob, alice, "hi"))).toBe("hi");
    expect((await sessionInfo(alice.store, bob.address))!.awaitingReply).toBe(false);
    expect(messageKind(await send(alice, bob, "plain now"))).toBe("message");
  });

  it("classical bundle works, is recorded as a downgrade, and can be refused", async () => {
    const [alice, bob] = await pair({ pq: false, oneTime: false });
    expect(await recv(bob, alice, await send(alice, bob, "x3dh"))).toBe("x3dh");
    expect((await sessionInfo(alice.store, bob.address))!.postQuantum).toBe(false);
    expect((await sessionInfo(bob.store, alice.address))!.postQuantum).toBe(false);
    const carol = await createDevice("carol-0000");
    const bundle = await bob.bundle({ pq: false });
    expect(await codeOf(startSession(carol.store, bob.address, bundle, { requirePostQuantum: true }))).toBe("PQ_REQUIRED");
  });

  it("the last-resort PQ prekey is kept after use", async () => {
    const alice = await createDevice("alice-0000");
    const bob = await createDevice("bob-0000");
    const bundle = await bob.bundle();
    const lastResort = (await bob.store.getPqPreKey(1000))!;
    bundle.pqPrekey = { keyId: 1000, publicKey: lastResort.keyPair.publicKey, signature: lastResort.signature, lastResort: true };
    await startSession(alice.store, bob.address, bundle);
    expect(await recv(bob, alice, await send(alice, bob, "pq"))).toBe("pq");
    expect(await bob.store.getPqPreKey(1000)).toBeDefined();
  });

  it("refuses bundles whose signatures do not verify with the identity key", async () => {
    const alice = await createDevice("alice-0000");
    const bob = await createDevice("bob-0000");
    const good = await bob.bundle();
    const spk = structuredClone(good);
    spk.signedPrekey.signature[0]! ^= 1;
    const pq = structuredClone(good);
    pq.pqPrekey!.signature[5]! ^= 1;
    const flag = structuredClone(good);
    flag.pqPrekey!.lastResort = true;
    const swapped = structuredClone(good);
    swapped.signedPrekey.keyId += 1;
    for (const b of [spk, pq, flag, swapped]) expect(await codeOf(startSession(alice.store, bob.address, b))).toBe("INVALID_SIGNATURE");
    expect(await codeOf(startSession(alice.store, bob.address, { ...good, identityKey: new Uint8Array(31) }))).toBe("INVALID_INPUT");
  });

  it("a re-delivered prekey message is a duplicate; one replayed after its session is gone is refused", async () => {
    const [alice, bob] = await pair();
    const m1 = await send(alice, bob, "once");
    expect(await recv(bob, alice, m1)).toBe("once");
    expect(await codeOf(recv(bob, alice, m1))).toBe("DUPLICATE_MESSAGE");
    await bob.kv.delete("session/alice-0000.1");
    expect(await codeOf(recv(bob, alice, m1))).toBe("UNKNOWN_PREKEY");
  });

  it("pins the identity on first use and refuses a changed one until the app trusts it", async () => {
    const [alice, bob] = await pair();
    const reinstalled = await createDevice("bob-0000");
    const bundle = await reinstalled.bundle();
    expect(await codeOf(startSession(alice.store, bob.address, bundle))).toBe("UNTRUSTED_IDENTITY");
    await alice.store.trustIdentity(bob.address, bundle.identityKey);
    await startSession(alice.store, bob.address, bundle);
    expect(await recv(reinstalled, alice, await send(alice, reinstalled, "new phone"))).toBe("new phone");
  });
});

describe("Double Ratchet under an unreliable network (seeded property test)", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`seed ${seed}: drops, duplicates and reordering; every delivered message opens exactly once`, async () => {
      const rand = seededRandom(seed);
      const alice = await createDevice("alice-0000", 1, seededRng(seed * 10 + 1));
      const bob = await createDevice("bob-0000", 1, seededRng(seed * 10 + 2));
      await startSession(alice.store, bob.address, await bob.bundle(), { rng: seededRng(seed * 10 + 3) });
      const parties = { alice, bob };
      type Flight = { id: number; bytes: Uint8Array; to: "alice" | "bob"; from: "alice" | "bob" };
      const inFlight: Flight[] = [];
      const opened = new Set<number>();
      let next = 0;
      let bobReady = false; // Bob can send once Alice's first message reached him.

      const deliver = async (f: Flight) => {
        const result = await codeOf(decryptMessage(parties[f.to].store, parties[f.from].address, f.bytes).then((pt) => {
          expect(text(pt)).toBe(`m${f.id}`);
        }));
        if (opened.has(f.id)) {
          expect(result).toBe("DUPLICATE_MESSAGE");
        } else {
          expect(result).toBe("ok");
          opened.add(f.id);
          if (f.to === "bob") bobReady = true;
        }
      };

      for (let step = 0; step < 160; step++) {
        const r = rand();
        if (r < 0.45 || inFlight.length === 0) {
          const from = rand() < 0.5 || !bobReady ? "alice" : "bob";
          const to = from === "alice" ? "bob" : "alice";
          const id = next++;
          inFlight.push({ id, from, to, bytes: await encryptMessage(parties[from].store, parties[to].address, utf8(`m${id}`)) });
        } else {
          const i = Math.floor(rand() * inFlight.length);
          const f = inFlight[i]!;
          const fate = rand();
          if (fate < 0.1) {
            inFlight.splice(i, 1); // dropped forever
          } else {
            await deliver(f);
            if (fate > 0.8) continue; // duplicated: stays in flight and arrives again later
            inFlight.splice(i, 1);
          }
        }
      }
      // Flush the rest in random order, duplicates included.
      while (inFlight.length > 0) {
        const f = inFlight.splice(Math.floor(rand() * inFlight.length), 1)[0]!;
        await deliver(f);
      }
      expect(opened.size).toBeGreaterThan(40);
    });
  }
});

describe("bounds, forward secrecy, post-compromise security, tampering, recovery", () => {
  it(`accepts a jump of ${MAX_FORWARD_JUMPS}, refuses a forged larger one before deriving anything`, async () => {
    const [alice, bob] = await pair();
    expect(await recv(bob, alice, await send(alice, bob, "start"))).toBe("start");
    expect(await recv(alice, bob, await send(bob, alice, "reply"))).toBe("reply"); // Alice now sends plain ratchet messages
    const first = await send(alice, bob, "lost 0");
    let last = first;
    for (let i = 1; i <= MAX_FORWARD_JUMPS; i++) last = await send(alice, bob, `lost ${i}`); // never delivered
    const forged = last.slice();
    new DataView(forged.buffer).setUint32(33, MAX_FORWARD_JUMPS + 1, false);
    expect(await codeOf(recv(bob, alice, forged))).toBe("TOO_FAR_IN_FUTURE");
    expect(await recv(bob, alice, last)).toBe(`lost ${MAX_FORWARD_JUMPS}`);
    // Only the newest MAX_SKIPPED_MESSAGE_KEYS of the skipped keys were kept.
    expect(await codeOf(recv(bob, alice, first))).toBe("DUPLICATE_MESSAGE");
  });

  it(`keeps at most ${MAX_SKIPPED_MESSAGE_KEYS} skipped keys: the oldest late messages fail cleanly`, async () => {
    const [alice, bob] = await pair();
    expect(await recv(bob, alice, await send(alice, bob, "start"))).toBe("start");
    const late: Uint8Array[] = [];
    for (let i = 0; i < MAX_SKIPPED_MESSAGE_KEYS + 10; i++) late.push(await send(alice, bob, `late ${i}`));
    expect(await recv(bob, alice, await send(alice, bob, "newest"))).toBe("newest");
    expect((await bob.store.getSession(alice.address)).current!.skipped.length).toBe(MAX_SKIPPED_MESSAGE_KEYS);
    expect(await codeOf(recv(bob, alice, late[0]!))).toBe("DUPLICATE_MESSAGE");
    expect(await codeOf(recv(bob, alice, late[9]!))).toBe("DUPLICATE_MESSAGE");
    expect(await recv(bob, alice, late[10]!)).toBe("late 10");
    expect(await recv(bob, alice, late[MAX_SKIPPED_MESSAGE_KEYS + 9]!)).toBe(`late ${MAX_SKIPPED_MESSAGE_KEYS + 9}`);
  });

  it("forward secrecy: a state stolen after delivery cannot open the delivered messages", async () => {
    const [alice, bob] = await pair();
    const first = await send(alice, bob, "secret 1");
    const skippedOne = await send(alice, bob, "secret 2");
    const third = await send(alice, bob, "secret 3");
    expect(await recv(bob, alice, first)).toBe("secret 1");
    expect(await recv(bob, alice, third)).toBe("secret 3");
    expect(await recv(bob, alice, skippedOne)).toBe("secret 2");
    const stolen = new ProtocolStore(await snapshot(bob.kv as MemoryKeyValueStore));
    for (const m of [first, skippedOne, third]) {
      expect(await codeOf(decryptMessage(stolen, alice.address, m))).toBe("DUPLICATE_MESSAGE");
    }
    // And no skipped key or old chain key remains in the stored state.
    const state = (await stolen.getSession(alice.address)).current!;
    expect(state.skipped).toEqual([]);
  });

  it("post-compromise security: once Bob has ratcheted after the theft, the stolen state no longer decrypts", async () => {
    const [alice, bob] = await pair();
    expect(await recv(bob, alice, await send(alice, bob, "a1"))).toBe("a1");
    const stolen = new ProtocolStore(await snapshot(bob.kv as MemoryKeyValueStore));
    // The healing window: messages on chains whose DH secrets the thief holds stay readable.
    const a2 = await send(alice, bob, "a2");
    expect(text(await decryptMessage(stolen, alice.address, a2))).toBe("a2");
    expect(await recv(bob, alice, a2)).toBe("a2");
    expect(await recv(alice, bob, await send(bob, alice, "b1"))).toBe("b1");
    expect(await recv(bob, alice, await send(alice, bob, "a3"))).toBe("a3");
    // Bob's DH ratchet step on a3 generated a key the thief never saw; Alice uses it from now on.
    expect(await recv(alice, bob, await send(bob, alice, "b2"))).toBe("b2");
    const a4 = await send(alice, bob, "a4");
    expect(await codeOf(decryptMessage(stolen, alice.address, a4))).toBe("INVALID_MESSAGE");
    expect(await recv(bob, alice, a4)).toBe("a4");
  });

  for (const pq of [true, false]) {
    it(`rejects a change to any byte of a ${pq ? "PQXDH" : "classical"} prekey message and of a ratchet message, without damaging the session`, async () => {
      const [alice, bob] = await pair({ pq });
      const prekey = await send(alice, bob, "prekey message body");
      for (let i = 0; i < prekey.length; i++) {
        const bad = prekey.slice();
        bad[i]! ^= 1 << (i % 8);
        expect(await codeOf(recv(bob, alice, bad))).not.toBe("ok");
      }
      expect(await codeOf(recv(bob, alice, prekey.subarray(0, prekey.length - 1)))).not.toBe("ok");
      expect(await recv(bob, alice, prekey)).toBe("prekey message body");
      const reply = await send(bob, alice, "ratchet message body");
      for (let i = 0; i < reply.length; i++) {
        const bad = reply.slice();
        bad[i]! ^= 0x80 >> (i % 8);
        expect(await codeOf(recv(alice, bob, bad))).not.toBe("ok");
      }
      expect(await codeOf(recv(alice, bob, reply.subarray(0, reply.length - 1)))).not.toBe("ok");
      expect(await recv(alice, bob, reply)).toBe("ratchet message body");
    }, 60_000);
  }

  it("recovery: after Bob loses his session, the failure asks for a reset and a new session heals both directions", async () => {
    const [alice, bob] = await pair();
    expect(await recv(bob, alice, await send(alice, bob, "before"))).toBe("before");
    expect(await recv(alice, bob, await send(bob, alice, "ack"))).toBe("ack");
    await bob.kv.delete("session/alice-0000.1"); // lost state (restore from an old backup, bug, ...)
    const lost = await send(alice, bob, "into the void");
    const error = await decryptMessage(bob.store, alice.address, lost).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CryptoError);
    expect((error as CryptoError).needsSessionReset).toBe(true);

    // Bob's client reacts: new session from Alice's bundle, and a message (e.g. a retry request).
    await startSession(bob.store, alice.address, await alice.bundle());
    expect(await recv(alice, bob, await send(bob, alice, "please resend"))).toBe("please resend");
    expect(await recv(bob, alice, await send(alice, bob, "resent"))).toBe("resent");
    expect(await recv(alice, bob, await send(bob, alice, "healed"))).toBe("healed");
  });

  it("recovery: a corrupted state (Bad MAC) is detected and resetSession forces a new handshake", async () => {
    const [alice, bob] = await pair();
    expect(await recv(bob, alice, await send(alice, bob, "one"))).toBe("one");
    const record = await bob.store.getSession(alice.address);
    record.current!.receiving[0]!.chainKey = new Uint8Array(32).fill(7); // corrupted on disk
    await bob.store.putSession(alice.address, record);
    const e = (await decryptMessage(bob.store, alice.address, await send(alice, bob, "two")).catch((x: unknown) => x)) as CryptoError;
    expect(e.code).toBe("INVALID_MESSAGE");
    expect(e.needsSessionReset).toBe(true);
    // Alice is told (retry receipt) and starts over.
    await resetSession(alice.store, bob.address);
    expect(await codeOf(send(alice, bob, "no session"))).toBe("NO_SESSION");
    await startSession(alice.store, bob.address, await bob.bundle());
    expect(await recv(bob, alice, await send(alice, bob, "three"))).toBe("three");
    expect(await recv(alice, bob, await send(bob, alice, "four"))).toBe("four");
  });

  it("a corrupted ratchet key fails as a typed error that asks for a reset (never a raw WebCrypto exception)", async () => {
    const [alice, bob] = await pair();
    expect(await recv(bob, alice, await send(alice, bob, "one"))).toBe("one");
    expect(await recv(alice, bob, await send(bob, alice, "two"))).toBe("two");
    const record = await bob.store.getSession(alice.address);
    record.current!.ourRatchet.privateKey = new Uint8Array(32).fill(9);
    await bob.store.putSession(alice.address, record);
    const e = await decryptMessage(bob.store, alice.address, await send(alice, bob, "three")).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CryptoError);
    expect((e as CryptoError).needsSessionReset).toBe(true);
  });

  it("late messages of an archived session still open after a new session replaced it", async () => {
    const [alice, bob] = await pair();
    expect(await recv(bob, alice, await send(alice, bob, "old 1"))).toBe("old 1");
    const lateOld = await send(alice, bob, "old 2");
    await startSession(alice.store, bob.address, await bob.bundle());
    expect(await recv(bob, alice, await send(alice, bob, "new 1"))).toBe("new 1");
    expect(await recv(bob, alice, lateOld)).toBe("old 2");
  });

  it("a session set up on node:crypto carries on through WebCrypto and @noble (and back): same bytes, same results", async () => {
    const [alice, bob] = await pair();
    expect(await recv(bob, alice, await send(alice, bob, "node"))).toBe("node");
    try {
      for (const backend of ["webcrypto", "noble"] as const) {
        useCryptoBackend(backend);
        expect(await recv(alice, bob, await send(bob, alice, `${backend} reply`))).toBe(`${backend} reply`);
        expect(await recv(bob, alice, await send(alice, bob, `${backend} answer`))).toBe(`${backend} answer`);
        const carol = await createDevice(`carol-${backend}`);
        await startSession(carol.store, bob.address, await bob.bundle());
        expect(await recv(bob, carol, await send(carol, bob, `${backend} setup`))).toBe(`${backend} setup`);
      }
    } finally {
      useCryptoBackend(null);
    }
    expect(await recv(alice, bob, await send(bob, alice, "node again"))).toBe("node again");
  });

  it("concurrent decrypts on one address are serialised", async () => {
    const [alice, bob] = await pair();
    const msgs: Uint8Array[] = [];
    for (let i = 0; i < 20; i++) msgs.push(await send(alice, bob, `c${i}`));
    const out = await Promise.all(msgs.map((m) => recv(bob, alice, m)));
    expect(out).toEqual(msgs.map((_, i) => `c${i}`));
  });
});
