/**
 * @module Web Push to browsers: the RFC 8030 request (POST to the subscription's endpoint with TTL,
 * Urgency and Topic), the payload encrypted per RFC 8291 (./webpush-encryption.ts), and the
 * application server identified by VAPID, RFC 8292 (`Authorization: vapid t=<ES256 JWT>, k=<key>`).
 * Owns the VAPID token (one per push-service origin, cached) and the request; not retries.
 */
import type { WebPushConfig } from "../config";
import type { PushTarget } from "../db/push-tokens";
import { fromBase64, utf8 } from "../protocol/encoding";
import type { WakePayloadBody } from "../protocol/push";
import { randomBytes } from "../random";
import { importP256SigningKey, signJwt, TokenCache } from "./jwt";
import { classifyResponse, errorDetail, type PushProvider, type PushResult } from "./provider";
import { encryptWebPush, generateEphemeralKey, type EphemeralKey } from "./webpush-encryption";

/** RFC 8292 section 2: `exp` at most 24 hours ahead; we mint for 12 and renew with an hour to spare. */
const VAPID_LIFETIME_SECONDS = 12 * 60 * 60;
const VAPID_RENEW_BEFORE_MS = 60 * 60 * 1000;
/** RFC 8030 section 5.2: how long the push service keeps an undelivered message (a day, as APNs/FCM). */
const WEBPUSH_TTL_SECONDS = 24 * 60 * 60;

const tokens = new TokenCache(VAPID_RENEW_BEFORE_MS);

export interface WebPushRandomness {
  ephemeralKey(): Promise<EphemeralKey>;
  salt(): Uint8Array;
}

const secureRandomness: WebPushRandomness = { ephemeralKey: generateEphemeralKey, salt: () => randomBytes(16) };

export class WebPushProvider implements PushProvider<Extract<PushTarget, { platform: "webpush" }>> {
  constructor(
    private readonly config: WebPushConfig,
    private readonly now: () => number = Date.now,
    private readonly random: WebPushRandomness = secureRandomness,
  ) {}

  /** The VAPID JWT for one push service: {aud: its origin, exp, sub: our contact}. */
  private vapidToken(audience: string): Promise<string> {
    const now = this.now();
    return tokens.get(`${this.config.vapidPublicKey}|${audience}`, now, async () => {
      const key = await importP256SigningKey(fromBase64(this.config.vapidPrivateKey)!, fromBase64(this.config.vapidPublicKey)!);
      const exp = Math.floor(now / 1000) + VAPID_LIFETIME_SECONDS;
      const value = await signJwt(key, "ES256", {}, { aud: audience, exp, sub: this.config.vapidSubject });
      return { value, expiresAt: exp * 1000 };
    });
  }

  async send(target: Extract<PushTarget, { platform: "webpush" }>, payload: WakePayloadBody): Promise<PushResult> {
    const now = this.now();
    const p256dh = fromBase64(target.p256dh);
    const auth = fromBase64(target.auth);
    if (!p256dh || !auth) return { outcome: "unregistered", detail: "stored subscription keys are not base64" };
    const body = await encryptWebPush(utf8(JSON.stringify(payload)), { p256dh, auth }, await this.random.ephemeralKey(), this.random.salt());
    const res = await fetch(target.endpoint, {
      method: "POST",
      headers: {
        authorization: `vapid t=${await this.vapidToken(new URL(target.endpoint).origin)}, k=${this.config.vapidPublicKey}`,
        "content-encoding": "aes128gcm",
        "content-type": "application/octet-stream",
        ttl: String(WEBPUSH_TTL_SECONDS),
        urgency: "high",
        // RFC 8030 section 5.4: a newer message with the same topic replaces an undelivered one.
        topic: payload.hint,
      },
      body,
    });
    if (res.ok) return { outcome: "delivered" };
    return classifyResponse(res, await errorDetail(res), now);
  }
}
