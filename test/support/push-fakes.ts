/**
 * Fake push providers for the workers tests, served by stubbing `globalThis.fetch` (the Worker, its
 * Durable Objects and the queue consumer run in the test's isolate). Each fake verifies what the
 * real service verifies, independently of src/push: APNs checks the ES256 provider token against
 * the public half of the .p8 key; Google's token endpoint checks the RS256 assertion against the
 * service account's public key before issuing an access token, which FCM then requires; a Web Push
 * service checks the VAPID JWT and the browser end decrypts the aes128gcm body with the
 * subscription's private key. A request that fails verification is answered 403 and recorded in
 * `problems`, so a test can assert there were none.
 */
import { vi } from "vitest";
import { concatBytes, fromBase64, toBase64Url } from "../../src/protocol/encoding";
import {
  TEST_APNS_ENDPOINT,
  TEST_APNS_KEY_ID,
  TEST_APNS_KEY_P8,
  TEST_APNS_SANDBOX_ENDPOINT,
  TEST_APNS_TEAM_ID,
  TEST_APNS_TOPIC,
  TEST_FCM_ENDPOINT,
  TEST_FCM_SERVICE_ACCOUNT,
  TEST_VAPID_PUBLIC_KEY,
  TEST_VAPID_SUBJECT,
} from "./push-credentials";

export const WEBPUSH_ORIGIN = "https://push.fake.test";

export interface ApnsRequest {
  environment: "production" | "sandbox";
  token: string;
  headers: Record<string, string>;
  body: unknown;
}
export interface FcmRequest {
  token: string;
  body: { message: Record<string, unknown> & { token: string } };
}
export interface WebPushRequest {
  endpoint: string;
  headers: Record<string, string>;
  /** The decrypted payload, as the browser's service worker would see it. */
  plaintext: string;
  /** The encrypted body as sent. */
  raw: Uint8Array;
}

type Responder = (token: string) => Response | undefined;

const enc = new TextEncoder();
const dec = new TextDecoder();

function b64url(text: string): Uint8Array {
  const bytes = fromBase64(text);
  if (!bytes) throw new Error(`not base64url: ${text.slice(0, 20)}`);
  return bytes;
}

/** Splits and verifies a compact JWS; returns header and claims, or throws saying what is wrong. */
async function verifyJwt(jwt: string, key: CryptoKey, alg: "ES256" | "RS256") {
  const parts = jwt.split(".");
  if (parts.length !== 3) throw new Error("not a compact JWS");
  const [h, c, s] = parts as [string, string, string];
  const header = JSON.parse(dec.decode(b64url(h))) as Record<string, unknown>;
  const claims = JSON.parse(dec.decode(b64url(c))) as Record<string, unknown>;
  if (header.alg !== alg) throw new Error(`alg ${String(header.alg)}, expected ${alg}`);
  const params = alg === "ES256" ? { name: "ECDSA", hash: "SHA-256" } : { name: "RSASSA-PKCS1-v1_5" };
  const ok = await crypto.subtle.verify(params, key, b64url(s), enc.encode(`${h}.${c}`));
  if (!ok) throw new Error("bad signature");
  return { header, claims };
}

/** The public half of a PKCS#8 PEM private key (export as JWK, drop the private fields). */
async function publicKeyOf(pem: string, alg: "ES256" | "RS256"): Promise<CryptoKey> {
  const der = b64url(pem.replace(/-----(BEGIN|END) PRIVATE KEY-----|\s+/g, ""));
  const importParams = alg === "ES256" ? { name: "ECDSA", namedCurve: "P-256" } : { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  const priv = await crypto.subtle.importKey("pkcs8", der, importParams, true, ["sign"]);
  const jwk = (await crypto.subtle.exportKey("jwk", priv)) as JsonWebKey;
  const pub: JsonWebKey = alg === "ES256" ? { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y } : { kty: "RSA", n: jwk.n, e: jwk.e };
  return crypto.subtle.importKey("jwk", pub, importParams, false, ["verify"]);
}

async function rawEcdsaPublicKey(point: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", point, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
}

async function hkdf(salt: Uint8Array, ikm: Uint8Array, info: Uint8Array, bytes: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info }, key, bytes * 8));
}

const concat = concatBytes;

/**
 * The user agent's side of RFC 8291: decrypts an aes128gcm body with the subscription's private
 * key and auth secret (a single record; strips the delimiter and any padding).
 */
export async function decryptWebPush(body: Uint8Array, ua: { privateKey: CryptoKey; publicKey: Uint8Array; auth: Uint8Array }): Promise<Uint8Array> {
  const salt = body.subarray(0, 16);
  const rs = new DataView(body.buffer, body.byteOffset + 16, 4).getUint32(0);
  const idlen = body[20]!;
  const asPublic = body.subarray(21, 21 + idlen);
  const record = body.subarray(21 + idlen);
  if (idlen !== 65) throw new Error(`keyid length ${idlen}, expected a 65-byte P-256 point`);
  if (record.length > rs) throw new Error("more than one record");
  const asKey = await crypto.subtle.importKey("raw", asPublic, { name: "ECDH", namedCurve: "P-256" }, false, []);
  const ecdhSecret = new Uint8Array(
    await crypto.subtle.deriveBits({ name: "ECDH", public: asKey } as unknown as SubtleCryptoDeriveKeyAlgorithm, ua.privateKey, 256),
  );
  const ikm = await hkdf(ua.auth, ecdhSecret, concat(enc.encode("WebPush: info\0"), ua.publicKey, asPublic), 32);
  const cek = await hkdf(salt, ikm, enc.encode("Content-Encoding: aes128gcm\0"), 16);
  const nonce = await hkdf(salt, ikm, enc.encode("Content-Encoding: nonce\0"), 12);
  const key = await crypto.subtle.importKey("raw", cek, "AES-GCM", false, ["decrypt"]);
  const padded = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce }, key, record));
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 0x02) throw new Error("missing last-record delimiter");
  return padded.subarray(0, end);
}

export interface FakeSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export class FakePushServices {
  readonly apns: ApnsRequest[] = [];
  readonly fcm: FcmRequest[] = [];
  readonly webpush: WebPushRequest[] = [];
  readonly oauthExchanges: { claims: Record<string, unknown> }[] = [];
  /** Verification failures: a correct Worker leaves this empty. */
  readonly problems: string[] = [];
  /** Per-service overrides of the answer for a token/endpoint (undefined: the normal success). */
  readonly respond: { apns?: Responder; fcm?: Responder; webpush?: Responder } = {};

  private readonly accessTokens = new Set<string>();
  private readonly subscriptions = new Map<string, { privateKey: CryptoKey; publicKey: Uint8Array; auth: Uint8Array }>();
  private apnsKey!: CryptoKey;
  private oauthKey!: CryptoKey;

  static async start(): Promise<FakePushServices> {
    const fake = new FakePushServices();
    fake.apnsKey = await publicKeyOf(TEST_APNS_KEY_P8, "ES256");
    fake.oauthKey = await publicKeyOf(TEST_FCM_SERVICE_ACCOUNT.private_key, "RS256");
    const original = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation((input, init) => {
      const request = new Request(input as RequestInfo, init);
      return fake.handle(request).then((res) => res ?? original(input as RequestInfo, init));
    });
    return fake;
  }

  /** A browser subscription: a fresh P-256 key pair and auth secret, as PushManager.subscribe makes. */
  async subscribe(): Promise<FakeSubscription> {
    const pair = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"])) as CryptoKeyPair;
    const publicKey = new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
    const auth = crypto.getRandomValues(new Uint8Array(16));
    const endpoint = `${WEBPUSH_ORIGIN}/sub/${crypto.randomUUID()}`;
    this.subscriptions.set(endpoint, { privateKey: pair.privateKey, publicKey, auth });
    return { endpoint, keys: { p256dh: toBase64Url(publicKey), auth: toBase64Url(auth) } };
  }

  private refuse(problem: string): Response {
    this.problems.push(problem);
    return Response.json({ reason: "FakeVerificationFailed", problem }, { status: 403 });
  }

  private async handle(request: Request): Promise<Response | undefined> {
    const url = new URL(request.url);
    try {
      if (url.origin === TEST_APNS_ENDPOINT || url.origin === TEST_APNS_SANDBOX_ENDPOINT) return await this.handleApns(request, url);
      if (request.url === TEST_FCM_SERVICE_ACCOUNT.token_uri) return await this.handleOAuth(request);
      if (url.origin === TEST_FCM_ENDPOINT) return await this.handleFcm(request, url);
      if (url.origin === WEBPUSH_ORIGIN) return await this.handleWebPush(request);
    } catch (err) {
      return this.refuse(`${url.origin}: ${String(err)}`);
    }
    return undefined;
  }

  private async handleApns(request: Request, url: URL): Promise<Response> {
    const match = /^\/3\/device\/([0-9a-fA-F]+)$/.exec(url.pathname);
    if (request.method !== "POST" || !match) return this.refuse(`apns: ${request.method} ${url.pathname}`);
    const auth = /^bearer (.+)$/.exec(request.headers.get("authorization") ?? "");
    if (!auth) return this.refuse("apns: no bearer provider token");
    const { header, claims } = await verifyJwt(auth[1]!, this.apnsKey, "ES256");
    if (header.kid !== TEST_APNS_KEY_ID) return this.refuse(`apns: kid ${String(header.kid)}`);
    if (claims.iss !== TEST_APNS_TEAM_ID) return this.refuse(`apns: iss ${String(claims.iss)}`);
    // APNs refuses provider tokens issued more than an hour ago.
    if (typeof claims.iat !== "number" || Math.abs(Date.now() / 1000 - claims.iat) > 3600) return this.refuse("apns: iat out of range");
    if (request.headers.get("apns-topic") !== TEST_APNS_TOPIC) return this.refuse("apns: wrong apns-topic");
    for (const h of ["apns-push-type", "apns-priority", "apns-collapse-id"]) if (!request.headers.get(h)) return this.refuse(`apns: no ${h}`);
    const token = match[1]!;
    this.apns.push({
      environment: url.origin === TEST_APNS_SANDBOX_ENDPOINT ? "sandbox" : "production",
      token,
      headers: Object.fromEntries(request.headers),
      body: await request.json(),
    });
    return this.respond.apns?.(token) ?? new Response(null, { status: 200, headers: { "apns-id": crypto.randomUUID() } });
  }

  private async handleOAuth(request: Request): Promise<Response> {
    const form = new URLSearchParams(await request.text());
    if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") return Response.json({ error: "unsupported_grant_type" }, { status: 400 });
    const { header, claims } = await verifyJwt(form.get("assertion") ?? "", this.oauthKey, "RS256");
    const now = Date.now() / 1000;
    const problems = [
      header.kid !== TEST_FCM_SERVICE_ACCOUNT.private_key_id && "kid",
      claims.iss !== TEST_FCM_SERVICE_ACCOUNT.client_email && "iss",
      claims.aud !== TEST_FCM_SERVICE_ACCOUNT.token_uri && "aud",
      claims.scope !== "https://www.googleapis.com/auth/firebase.messaging" && "scope",
      (typeof claims.iat !== "number" || typeof claims.exp !== "number" || claims.exp - claims.iat > 3600 || claims.exp < now) && "iat/exp",
    ].filter(Boolean);
    if (problems.length > 0) {
      this.problems.push(`oauth: bad claims ${problems.join(", ")}`);
      return Response.json({ error: "invalid_grant" }, { status: 400 });
    }
    this.oauthExchanges.push({ claims });
    const accessToken = `ya29.fake-${crypto.randomUUID()}`;
    this.accessTokens.add(accessToken);
    return Response.json({ access_token: accessToken, expires_in: 3599, token_type: "Bearer" });
  }

  private async handleFcm(request: Request, url: URL): Promise<Response> {
    if (request.method !== "POST" || url.pathname !== `/v1/projects/${TEST_FCM_SERVICE_ACCOUNT.project_id}/messages:send`) {
      return this.refuse(`fcm: ${request.method} ${url.pathname}`);
    }
    const bearer = /^Bearer (.+)$/.exec(request.headers.get("authorization") ?? "")?.[1];
    if (!bearer || !this.accessTokens.has(bearer)) {
      this.problems.push("fcm: access token not issued by the OAuth endpoint");
      return Response.json({ error: { code: 401, status: "UNAUTHENTICATED" } }, { status: 401 });
    }
    const body = (await request.json()) as FcmRequest["body"];
    if (typeof body?.message?.token !== "string") return this.refuse("fcm: no message.token");
    this.fcm.push({ token: body.message.token, body });
    return (
      this.respond.fcm?.(body.message.token) ??
      Response.json({ name: `projects/${TEST_FCM_SERVICE_ACCOUNT.project_id}/messages/${crypto.randomUUID()}` })
    );
  }

  private async handleWebPush(request: Request): Promise<Response> {
    const subscription = this.subscriptions.get(request.url);
    if (!subscription) return new Response(null, { status: 404 });
    const vapid = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(request.headers.get("authorization") ?? "");
    if (!vapid) return this.refuse("webpush: no vapid authorization");
    if (vapid[2] !== TEST_VAPID_PUBLIC_KEY) return this.refuse("webpush: k is not the application server key");
    const { claims } = await verifyJwt(vapid[1]!, await rawEcdsaPublicKey(b64url(vapid[2]!)), "ES256");
    const now = Date.now() / 1000;
    if (claims.aud !== WEBPUSH_ORIGIN) return this.refuse(`webpush: aud ${String(claims.aud)}`);
    if (typeof claims.exp !== "number" || claims.exp < now || claims.exp > now + 24 * 3600) return this.refuse("webpush: exp out of range");
    if (claims.sub !== TEST_VAPID_SUBJECT) return this.refuse("webpush: sub");
    if (request.headers.get("content-encoding") !== "aes128gcm") return this.refuse("webpush: content-encoding");
    if (!request.headers.get("ttl")) return this.refuse("webpush: no TTL");
    const raw = new Uint8Array(await request.arrayBuffer());
    const plaintext = dec.decode(await decryptWebPush(raw, subscription));
    this.webpush.push({ endpoint: request.url, headers: Object.fromEntries(request.headers), plaintext, raw });
    return this.respond.webpush?.(request.url) ?? new Response(null, { status: 201 });
  }
}
