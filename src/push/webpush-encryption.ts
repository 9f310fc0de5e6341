/**
 * @module Web Push message encryption, RFC 8291 (aes128gcm content coding of RFC 8188): ECDH with
 * the subscription's P-256 key, HKDF keyed by its auth secret, one AES-128-GCM record. Pure
 * crypto: the ephemeral key pair and the salt are passed in (the RFC 8291 section 5 example is a
 * test vector), no I/O. Decryption is the browser's job and lives only in the tests.
 */
import { concatBytes, u32be, utf8 } from "../protocol/encoding";

/** One record holds the whole payload: wake-ups are tiny and 4096 is the conventional size. */
export const RECORD_SIZE = 4096;
/** RFC 8188: a record's plaintext ends with 0x02 when it is the last record. */
const LAST_RECORD_DELIMITER = 0x02;

export interface EphemeralKey {
  /** The application server's one-time ECDH key pair (a fresh one per message). */
  privateKey: CryptoKey;
  /** Its public key as the 65-byte uncompressed point. */
  publicKey: Uint8Array;
}

export async function generateEphemeralKey(): Promise<EphemeralKey> {
  const pair = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"])) as CryptoKeyPair;
  return { privateKey: pair.privateKey, publicKey: new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer) };
}

/**
 * ECDH shared secret (the x coordinate, 32 bytes). The parameter is `public` at runtime (WebCrypto);
 * workers-types spells it `$public` only because its C++ binding cannot use the keyword.
 */
export async function ecdh(privateKey: CryptoKey, publicKey: CryptoKey): Promise<Uint8Array> {
  const params = { name: "ECDH", public: publicKey } as unknown as SubtleCryptoDeriveKeyAlgorithm;
  return new Uint8Array(await crypto.subtle.deriveBits(params, privateKey, 256));
}

async function hmacSha256(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey("raw", key as Uint8Array<ArrayBuffer>, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data as Uint8Array<ArrayBuffer>));
}

/** HKDF-Expand for outputs of at most one hash block (all RFC 8291 needs): T(1) truncated. */
async function hkdfExpand1(prk: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array> {
  return (await hmacSha256(prk, concatBytes(info, new Uint8Array([0x01])))).subarray(0, length);
}

/**
 * Derives the content-encryption key and nonce (RFC 8291 section 3.4, RFC 8188 section 2.2). The
 * tests' receiving fake derives them independently with WebCrypto's HKDF; the RFC 8291 section 5
 * vector pins both to the published bytes.
 */
async function deriveContentKeys(params: {
  ecdhSecret: Uint8Array;
  authSecret: Uint8Array;
  uaPublic: Uint8Array;
  asPublic: Uint8Array;
  salt: Uint8Array;
}): Promise<{ cek: Uint8Array; nonce: Uint8Array }> {
  // PRK_key = HMAC(auth_secret, ecdh_secret); IKM = HKDF-Expand(PRK_key, "WebPush: info" || 0x00 || ua_public || as_public, 32)
  const prkKey = await hmacSha256(params.authSecret, params.ecdhSecret);
  const keyInfo = concatBytes(utf8("WebPush: info\0"), params.uaPublic, params.asPublic);
  const ikm = await hkdfExpand1(prkKey, keyInfo, 32);
  // PRK = HMAC(salt, IKM); CEK and NONCE expanded with their content-encoding labels.
  const prk = await hmacSha256(params.salt, ikm);
  const cek = await hkdfExpand1(prk, utf8("Content-Encoding: aes128gcm\0"), 16);
  const nonce = await hkdfExpand1(prk, utf8("Content-Encoding: nonce\0"), 12);
  return { cek, nonce };
}

/**
 * Encrypts `plaintext` for a subscription. Returns the complete request body: the RFC 8188 header
 * (salt, record size, key id = our ephemeral public key) followed by the single record.
 */
export async function encryptWebPush(
  plaintext: Uint8Array,
  subscription: { p256dh: Uint8Array; auth: Uint8Array },
  ephemeral: EphemeralKey,
  salt: Uint8Array,
): Promise<Uint8Array> {
  if (subscription.p256dh.length !== 65 || subscription.p256dh[0] !== 4) throw new Error("p256dh must be a 65-byte uncompressed P-256 point");
  if (subscription.auth.length !== 16) throw new Error("auth must be 16 bytes");
  if (salt.length !== 16) throw new Error("salt must be 16 bytes");
  if (ephemeral.publicKey.length !== 65) throw new Error("the ephemeral public key must be 65 bytes");
  // One record: plaintext + delimiter + 16-byte tag must fit the record size.
  if (plaintext.length + 1 + 16 > RECORD_SIZE) throw new Error(`payload exceeds one ${RECORD_SIZE}-byte record`);

  const uaKey = await crypto.subtle.importKey("raw", subscription.p256dh as Uint8Array<ArrayBuffer>, { name: "ECDH", namedCurve: "P-256" }, false, []);
  const ecdhSecret = await ecdh(ephemeral.privateKey, uaKey);
  const { cek, nonce } = await deriveContentKeys({
    ecdhSecret,
    authSecret: subscription.auth,
    uaPublic: subscription.p256dh,
    asPublic: ephemeral.publicKey,
    salt,
  });
  const key = await crypto.subtle.importKey("raw", cek as Uint8Array<ArrayBuffer>, "AES-GCM", false, ["encrypt"]);
  const record = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce as Uint8Array<ArrayBuffer> },
      key,
      concatBytes(plaintext, new Uint8Array([LAST_RECORD_DELIMITER])) as Uint8Array<ArrayBuffer>,
    ),
  );
  return concatBytes(salt, u32be(RECORD_SIZE), new Uint8Array([ephemeral.publicKey.length]), ephemeral.publicKey, record);
}
