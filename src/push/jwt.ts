/**
 * @module Signing JSON Web Tokens (RFC 7519) with WebCrypto for the push providers: ES256 for the
 * APNs provider token and VAPID, RS256 for the Google OAuth assertion; and a cache that reuses a
 * minted token until shortly before it expires. Knows nothing about any provider's claims.
 */
import { fromBase64, toBase64Url, utf8 } from "../protocol/encoding";

export type JwtAlg = "ES256" | "RS256";

const ALGORITHMS = {
  // WebCrypto's ECDSA signature is r||s (IEEE P1363), exactly the JWS ES256 encoding (RFC 7518 3.4).
  ES256: { import: { name: "ECDSA", namedCurve: "P-256" }, sign: { name: "ECDSA", hash: "SHA-256" } },
  RS256: { import: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, sign: { name: "RSASSA-PKCS1-v1_5" } },
} as const;

/** Imports a PKCS#8 PEM private key (an APNs .p8 file, a service account's `private_key`). */
export async function importPkcs8Pem(pem: string, alg: JwtAlg): Promise<CryptoKey> {
  const body = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, "").replace(/\s+/g, "");
  const der = fromBase64(body);
  if (!der) throw new Error("private key PEM is not valid base64");
  return crypto.subtle.importKey("pkcs8", der as Uint8Array<ArrayBuffer>, ALGORITHMS[alg].import, false, ["sign"]);
}

/** Imports a raw P-256 private scalar with its public point (the VAPID key format of web-push tools). */
export async function importP256SigningKey(d: Uint8Array, publicPoint: Uint8Array): Promise<CryptoKey> {
  if (d.length !== 32 || publicPoint.length !== 65 || publicPoint[0] !== 4) throw new Error("expected a 32-byte scalar and a 65-byte uncompressed point");
  const jwk: JsonWebKey = {
    kty: "EC",
    crv: "P-256",
    d: toBase64Url(d),
    x: toBase64Url(publicPoint.subarray(1, 33)),
    y: toBase64Url(publicPoint.subarray(33, 65)),
  };
  return crypto.subtle.importKey("jwk", jwk, ALGORITHMS.ES256.import, false, ["sign"]);
}

const jsonSegment = (value: object) => toBase64Url(utf8(JSON.stringify(value)));

/** Compact JWS: base64url(header).base64url(claims).base64url(signature). */
export async function signJwt(key: CryptoKey, alg: JwtAlg, header: Record<string, string>, claims: Record<string, string | number>): Promise<string> {
  const signingInput = `${jsonSegment({ ...header, alg, typ: "JWT" })}.${jsonSegment(claims)}`;
  const signature = await crypto.subtle.sign(ALGORITHMS[alg].sign, key, utf8(signingInput));
  return `${signingInput}.${toBase64Url(new Uint8Array(signature))}`;
}

export interface MintedToken {
  value: string;
  /** Unix ms after which the token must not be used. */
  expiresAt: number;
}

/**
 * Tokens by credential, minted at most once at a time and renewed `renewBeforeMs` before they
 * expire. Module-level instances live as long as the isolate: minting costs a signature (and for
 * FCM a round trip), and Apple refuses provider tokens refreshed more than once per 20 minutes.
 */
export class TokenCache {
  private readonly tokens = new Map<string, Promise<MintedToken>>();

  constructor(private readonly renewBeforeMs: number) {}

  async get(key: string, now: number, mint: () => Promise<MintedToken>): Promise<string> {
    const cached = this.tokens.get(key);
    if (cached) {
      const token = await cached.catch(() => null);
      if (token && token.expiresAt - this.renewBeforeMs > now) return token.value;
    }
    // Stale or failed: mint anew, unless a concurrent caller already replaced it while we waited.
    let current = this.tokens.get(key);
    if (!current || current === cached) {
      const minting = mint();
      current = minting;
      this.tokens.set(key, minting);
      // A failed mint is not cached: the next call tries again.
      minting.catch(() => {
        if (this.tokens.get(key) === minting) this.tokens.delete(key);
      });
    }
    return (await current).value;
  }

  /** Drops a token the provider refused (expired or revoked) so the next call mints a new one. */
  invalidate(key: string): void {
    this.tokens.delete(key);
  }
}
