/**
 * @module Producing this device's keys in the shape the server takes them: the initial key set at
 * registration, and replenishment batches of one-time prekeys when the server reports few left.
 * Private halves go to the ProtocolStore before anything is uploaded, so a key the server hands
 * out is always one this device can use.
 */
import type { z } from "zod";
import { toBase64 } from "../protocol/encoding";
import type { DeviceKeys, PrekeyUpload } from "../protocol/keys";
import { generateIdentity, generateOneTimePreKeys, generatePqPreKey, generateSignedPreKey } from "./crypto/keys";
import type { ProtocolStore } from "./store/protocol-store";
import type { ClientStore } from "./store/client-store";

/** One-time prekeys per upload (the server's per-request maximum). */
export const PREKEY_BATCH = 100;
/** Post-quantum one-time prekeys per upload: ML-KEM keys are large (1184 B), so fewer. */
export const PQ_PREKEY_BATCH = 20;
/** Replenish when the server holds fewer than this many of a kind. */
export const PREKEY_LOW_WATER = 25;
const PQ_LAST_RESORT_KEY_ID = 0x7fff_ffff;

export async function createDeviceKeys(protocol: ProtocolStore, counters: ClientStore, now: number): Promise<z.input<typeof DeviceKeys>> {
  const identity = await generateIdentity();
  await protocol.putIdentity(identity);
  const signed = await generateSignedPreKey(identity.identity, 1, now);
  await protocol.putSignedPreKey(signed);
  const lastResort = await generatePqPreKey(identity.identity, PQ_LAST_RESORT_KEY_ID, true, now);
  await protocol.putPqPreKey(lastResort);
  const batch = await createPrekeyBatch(protocol, counters, now, { oneTime: true, pq: true });
  return {
    identity_key: toBase64(identity.identity.publicKey),
    registration_id: identity.registrationId,
    signed_prekey: { key_id: signed.keyId, public_key: toBase64(signed.keyPair.publicKey), signature: toBase64(signed.signature) },
    pq_last_resort_prekey: { key_id: lastResort.keyId, public_key: toBase64(lastResort.keyPair.publicKey), signature: toBase64(lastResort.signature) },
    one_time_prekeys: batch.one_time_prekeys ?? [],
    pq_one_time_prekeys: batch.pq_one_time_prekeys ?? [],
  };
}

/** New one-time prekeys (X25519 and/or ML-KEM), stored locally, returned as an upload body. */
export async function createPrekeyBatch(
  protocol: ProtocolStore,
  store: ClientStore,
  now: number,
  kinds: { oneTime: boolean; pq: boolean },
): Promise<z.input<typeof PrekeyUpload>> {
  const counters = await store.getPrekeyCounters();
  const { identity } = await protocol.getIdentity();
  const body: z.input<typeof PrekeyUpload> = { one_time_prekeys: [], pq_one_time_prekeys: [] };
  if (kinds.oneTime) {
    const keys = await generateOneTimePreKeys(counters.next_one_time, PREKEY_BATCH);
    for (const k of keys) await protocol.putOneTimePreKey(k);
    body.one_time_prekeys = keys.map((k) => ({ key_id: k.keyId, public_key: toBase64(k.keyPair.publicKey) }));
    counters.next_one_time += PREKEY_BATCH;
  }
  if (kinds.pq) {
    for (let i = 0; i < PQ_PREKEY_BATCH; i++) {
      const k = await generatePqPreKey(identity, counters.next_pq + i, false, now);
      await protocol.putPqPreKey(k);
      body.pq_one_time_prekeys!.push({ key_id: k.keyId, public_key: toBase64(k.keyPair.publicKey), signature: toBase64(k.signature) });
    }
    counters.next_pq += PQ_PREKEY_BATCH;
  }
  await store.putPrekeyCounters(counters);
  return body;
}
