/**
 * Companion devices before device linking exists: a device row written straight into D1 next to
 * an account's primary, with real keys, so that it can log in (challenge -> token), upload
 * prekeys, appear in bundles and be removed through the API like a linked device would.
 */
import { env } from "cloudflare:workers";
import { database } from "../../src/db/client";
import { devices } from "../../src/db/schema";
import { makeDevice, type TestDevice } from "./identity";

export interface CompanionDevice extends TestDevice {
  accountId: string;
  deviceId: number;
}

export async function addCompanionDevice(accountId: string, deviceId: number, name = `companion ${deviceId}`): Promise<CompanionDevice> {
  const device = makeDevice({ oneTime: 0, pqLastResort: false });
  const { keys } = device;
  await database(env.DB)
    .insert(devices)
    .values({
      accountId,
      deviceId,
      name,
      registrationId: keys.registration_id,
      identityKey: keys.identity_key,
      signedPrekeyId: keys.signed_prekey.key_id,
      signedPrekey: keys.signed_prekey.public_key,
      signedPrekeySignature: keys.signed_prekey.signature,
      createdAt: Date.now(),
    });
  return { ...device, accountId, deviceId };
}
