/**
 * Test devices: a ProtocolStore with an identity, a signed prekey, one-time prekeys and ML-KEM
 * prekeys, and the bundle the server would hand out for it. Not a test file itself.
 */
import { generateIdentity, generateOneTimePreKeys, generatePqPreKey, generateSignedPreKey } from "../../src/client/crypto/keys";
import type { Rng } from "../../src/client/crypto/primitives";
import type { PreKeyBundle } from "../../src/client/crypto/x3dh";
import { MemoryKeyValueStore } from "../../src/client/store/memory-store";
import { type ProtocolAddress, ProtocolStore } from "../../src/client/store/protocol-store";
import type { KeyValueStore } from "../../src/client/store/types";

export interface TestDevice {
  address: ProtocolAddress;
  store: ProtocolStore;
  kv: KeyValueStore;
  /** A fresh bundle; each call hands out the next one-time prekeys, as the server would. */
  bundle(options?: { pq?: boolean; oneTime?: boolean }): Promise<PreKeyBundle>;
}

export async function createDevice(accountId: string, deviceId = 1, rng?: Rng, kv: KeyValueStore = new MemoryKeyValueStore()): Promise<TestDevice> {
  const store = new ProtocolStore(kv);
  const id = await generateIdentity(rng);
  await store.putIdentity(id);
  const signed = await generateSignedPreKey(id.identity, 1, 0, rng);
  await store.putSignedPreKey(signed);
  const lastResort = await generatePqPreKey(id.identity, 1000, true, 0, rng);
  await store.putPqPreKey(lastResort);
  let next = 1;
  return {
    address: { accountId, deviceId },
    store,
    kv,
    async bundle(options = {}) {
      const keyId = next++;
      const [otk] = await generateOneTimePreKeys(keyId, 1, rng);
      await store.putOneTimePreKey(otk!);
      const pq = options.pq === false ? null : await generatePqPreKey(id.identity, keyId, false, 0, rng);
      if (pq) await store.putPqPreKey(pq);
      return {
        deviceId,
        registrationId: id.registrationId,
        identityKey: id.identity.publicKey,
        signedPrekey: { keyId: signed.keyId, publicKey: signed.keyPair.publicKey, signature: signed.signature },
        oneTimePrekey: options.oneTime === false ? null : { keyId, publicKey: otk!.keyPair.publicKey },
        pqPrekey: pq ? { keyId: pq.keyId, publicKey: pq.keyPair.publicKey, signature: pq.signature, lastResort: false } : null,
      };
    },
  };
}

/** Copies every record of a memory store: "the attacker stole the device state now". */
export async function snapshot(kv: MemoryKeyValueStore): Promise<MemoryKeyValueStore> {
  const copy = new MemoryKeyValueStore();
  for (const k of kv.keys()) await copy.put(k, (await kv.get(k))!);
  return copy;
}
