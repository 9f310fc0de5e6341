/**
 * @module Sealing the provisioning message to a device being linked (issue 10). The new device
 * shows an ephemeral X25519 public key in its QR code; the primary seals the message to it with a
 * fresh ephemeral key of its own, so the server relaying it (and anyone without the QR code)
 * cannot read it:
 *
 *   shared = X25519(primary ephemeral, device ephemeral)
 *   key    = HKDF-SHA256(ikm = shared, salt = 32 zero bytes,
 *                        info = "parley:provisioning:v1" || device ephemeral pub || primary ephemeral pub, 32)
 *   sealed = ChaCha20-Poly1305(key, nonce = 12 zero bytes, plaintext, ad = UTF-8(channel id))
 *
 * Each key seals exactly one message (both ephemeral keys are fresh), so the fixed nonce is safe.
 * Owns only the sealing; what the message says is src/client/linking.ts.
 */
import { concatBytes, utf8 } from "../../protocol/encoding";
import { CryptoError, checkBytes } from "./errors";
import { chachaOpen, chachaSeal, CHACHA_NONCE_BYTES, hkdfSha256, type KeyPair, systemRng, x25519Agree, x25519GenerateKeyPair, type Rng } from "./primitives";

const INFO = utf8("parley:provisioning:v1");

function sealingKey(shared: Uint8Array, devicePublic: Uint8Array, primaryPublic: Uint8Array): Uint8Array {
  return hkdfSha256(shared, new Uint8Array(32), concatBytes(INFO, devicePublic, primaryPublic), 32);
}

/** The ephemeral key pair the new device shows (its public half goes into the QR code). */
export function provisioningKeyPair(rng: Rng = systemRng): Promise<KeyPair> {
  return x25519GenerateKeyPair(rng);
}

export async function sealProvisioning(
  devicePublic: Uint8Array,
  channelId: string,
  plaintext: Uint8Array,
  rng: Rng = systemRng,
): Promise<{ ephemeralPublic: Uint8Array; ciphertext: Uint8Array }> {
  checkBytes(devicePublic, 32, "provisioning public key");
  const ephemeral = await x25519GenerateKeyPair(rng);
  const key = sealingKey(await x25519Agree(ephemeral, devicePublic), devicePublic, ephemeral.publicKey);
  return { ephemeralPublic: ephemeral.publicKey, ciphertext: chachaSeal(key, new Uint8Array(CHACHA_NONCE_BYTES), plaintext, utf8(channelId)) };
}

/** Opens what the primary sealed; INVALID_MESSAGE when it was not sealed to this key and channel. */
export async function openProvisioning(device: KeyPair, channelId: string, ephemeralPublic: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array> {
  checkBytes(ephemeralPublic, 32, "provisioning ephemeral key");
  const key = sealingKey(await x25519Agree(device, ephemeralPublic), device.publicKey, ephemeralPublic);
  const plaintext = chachaOpen(key, new Uint8Array(CHACHA_NONCE_BYTES), ciphertext, utf8(channelId));
  if (!plaintext) throw new CryptoError("INVALID_MESSAGE", "the provisioning message does not open with this device's key");
  return plaintext;
}
