/**
 * @module Verification codes: uniformly random digits, stored only as an HMAC (so a leaked
 * database does not reveal live codes, and 10^6 codes cannot be brute-forced offline without the
 * server secret), compared in constant time.
 */
import { bytesEqual, fromBase64, toBase64, utf8 } from "../protocol/encoding";
import { VERIFICATION_CODE_DIGITS } from "../limits";

export function generateCode(random: (n: number) => Uint8Array): string {
  let code = "";
  while (code.length < VERIFICATION_CODE_DIGITS) {
    for (const byte of random(8)) {
      // Rejection sampling: 250 = 25 * 10 keeps every digit equally likely.
      if (byte < 250 && code.length < VERIFICATION_CODE_DIGITS) code += String(byte % 10);
    }
  }
  return code;
}

async function codeMac(secret: string, verificationId: string, code: string): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", utf8(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8(`parley:verification-code:v1|${verificationId}|${code}`)));
}

export async function hashCode(secret: string, verificationId: string, code: string): Promise<string> {
  return toBase64(await codeMac(secret, verificationId, code));
}

export async function codeMatches(secret: string, verificationId: string, code: string, storedHash: string): Promise<boolean> {
  const stored = fromBase64(storedHash);
  return stored !== null && bytesEqual(stored, await codeMac(secret, verificationId, code));
}
