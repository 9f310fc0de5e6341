/**
 * @module Ed25519 signature verification on the server, through the runtime's WebCrypto (workerd
 * implements Ed25519 natively: far faster than a JavaScript implementation, and no dependency).
 * The server only ever verifies; it never holds a private key of a user.
 */

/** True when `signature` is a valid Ed25519 signature of `message` by `publicKey`; never throws. */
export async function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  } catch {
    // Points that do not decode (not on the curve) are rejected at import: an invalid key.
    return false;
  }
}
