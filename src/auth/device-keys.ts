/**
 * @module Checks that every signed key a device uploads is signed by that device's identity key,
 * exactly over the bytes defined in src/protocol/key-signatures.ts. A bad signature is a 400 that
 * names the key, and nothing is stored.
 */
import type { z } from "zod";
import { ApiError } from "../errors";
import { fromBase64 } from "../protocol/encoding";
import { pqPrekeySignedBytes, signedPrekeySignedBytes } from "../protocol/key-signatures";
import type { DeviceKeysBody, PqPrekey, SignedPrekey } from "../protocol/keys";
import { verifyEd25519 } from "./ed25519";

/** Schemas have already proved these strings are valid base64 of the right length. */
function bytes(b64: string): Uint8Array {
  return fromBase64(b64)!;
}

export async function checkSignedPrekey(identityKey: string, key: z.output<typeof SignedPrekey>, field: string): Promise<void> {
  const ok = await verifyEd25519(bytes(identityKey), signedPrekeySignedBytes(key.key_id, bytes(key.public_key)), bytes(key.signature));
  if (!ok) throw new ApiError("invalid_request", `${field}: signature does not verify with the identity key`, { field });
}

export async function checkPqPrekeys(
  identityKey: string,
  keys: z.output<typeof PqPrekey>[],
  lastResort: boolean,
  field: string,
): Promise<void> {
  const identity = bytes(identityKey);
  const results = await Promise.all(
    keys.map((k) => verifyEd25519(identity, pqPrekeySignedBytes(k.key_id, bytes(k.public_key), lastResort), bytes(k.signature))),
  );
  const bad = results.findIndex((ok) => !ok);
  if (bad >= 0) {
    throw new ApiError("invalid_request", `${field}[${bad}]: signature does not verify with the identity key`, { field, index: bad });
  }
}

/** Duplicate key ids inside one upload are a client bug; refuse rather than silently keep one. */
export function checkUniqueKeyIds(keys: { key_id: number }[], field: string): void {
  const seen = new Set<number>();
  for (const k of keys) {
    if (seen.has(k.key_id)) throw new ApiError("invalid_request", `${field}: duplicate key_id ${k.key_id}`, { field });
    seen.add(k.key_id);
  }
}

/** Every check of a new device's key upload (registration, linking): ids unique, signatures valid. */
export async function checkNewDeviceKeys(keys: DeviceKeysBody): Promise<void> {
  checkUniqueKeyIds(keys.one_time_prekeys, "device.one_time_prekeys");
  checkUniqueKeyIds(keys.pq_one_time_prekeys, "device.pq_one_time_prekeys");
  await checkSignedPrekey(keys.identity_key, keys.signed_prekey, "device.signed_prekey");
  await checkPqPrekeys(keys.identity_key, keys.pq_one_time_prekeys, false, "device.pq_one_time_prekeys");
  if (keys.pq_last_resort_prekey) {
    await checkPqPrekeys(keys.identity_key, [keys.pq_last_resort_prekey], true, "device.pq_last_resort_prekey");
  }
}
