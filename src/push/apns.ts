/**
 * @module APNs provider API (HTTP/2, token-based authentication): one POST to
 * `/3/device/<token>` per notification, authorised by an ES256 JWT made from the team's .p8 key.
 * Reference: Apple, "Sending notification requests to APNs" and "Establishing a token-based
 * connection to APNs". Owns the APNs request shape and its error reasons; not retries or tokens.
 *
 * The notification is an alert with a fixed localisation key and `mutable-content`: iOS shows it
 * promptly (priority 10) and lets the app's Notification Service Extension connect, pull and
 * decrypt before anything is displayed. It carries no text, no sender and no chat.
 */
import type { ApnsConfig } from "../config";
import type { PushTarget } from "../db/push-tokens";
import type { WakePayloadBody } from "../protocol/push";
import { importPkcs8Pem, signJwt, TokenCache } from "./jwt";
import { classifyResponse, errorDetail, type PushProvider, type PushResult } from "./provider";

/** Apple accepts a provider token for an hour and refuses refreshes more often than every 20 minutes. */
const PROVIDER_TOKEN_LIFETIME_MS = 60 * 60 * 1000;
const PROVIDER_TOKEN_RENEW_BEFORE_MS = 15 * 60 * 1000;
/** A wake-up older than a day is pointless: the app will have connected by then or the entries expired. */
const APNS_EXPIRATION_SECONDS = 24 * 60 * 60;
/** The app's Localizable.strings key for the generic "New messages" text. */
export const APNS_ALERT_LOC_KEY = "PARLEY_NEW_MESSAGES";

/** Reasons (in the 400/403/410 JSON body) that mean this device token will never work again. */
const DEAD_TOKEN_REASONS = new Set(["BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic", "ExpiredToken"]);
/** Reasons that mean our provider token was refused: mint a new one and retry. */
const STALE_AUTH_REASONS = new Set(["ExpiredProviderToken", "InvalidProviderToken"]);

/** Shared by every provider instance in the isolate (one per queue batch). */
const sharedTokens = new TokenCache(PROVIDER_TOKEN_RENEW_BEFORE_MS);

export function newProviderTokenCache(): TokenCache {
  return new TokenCache(PROVIDER_TOKEN_RENEW_BEFORE_MS);
}

export class ApnsProvider implements PushProvider<Extract<PushTarget, { platform: "apns" }>> {
  constructor(
    private readonly config: ApnsConfig,
    private readonly now: () => number = Date.now,
    private readonly tokens: TokenCache = sharedTokens,
  ) {}

  private get cacheKey(): string {
    return `${this.config.teamId}.${this.config.keyId}`;
  }

  /** The provider authentication token: header {alg: ES256, kid}, claims {iss: team id, iat}. */
  private providerToken(): Promise<string> {
    const now = this.now();
    return this.tokens.get(this.cacheKey, now, async () => {
      const key = await importPkcs8Pem(this.config.key, "ES256");
      const value = await signJwt(key, "ES256", { kid: this.config.keyId }, { iss: this.config.teamId, iat: Math.floor(now / 1000) });
      return { value, expiresAt: now + PROVIDER_TOKEN_LIFETIME_MS };
    });
  }

  async send(target: Extract<PushTarget, { platform: "apns" }>, payload: WakePayloadBody): Promise<PushResult> {
    const now = this.now();
    const base = target.environment === "sandbox" ? this.config.sandboxEndpoint : this.config.endpoint;
    const res = await fetch(`${base}/3/device/${target.token}`, {
      method: "POST",
      headers: {
        authorization: `bearer ${await this.providerToken()}`,
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-topic": this.config.topic,
        "apns-collapse-id": payload.hint,
        "apns-expiration": String(Math.floor(now / 1000) + APNS_EXPIRATION_SECONDS),
        "content-type": "application/json",
      },
      body: JSON.stringify({
        aps: { alert: { "loc-key": APNS_ALERT_LOC_KEY }, "mutable-content": 1, sound: "default" },
        parley: payload,
      }),
    });
    if (res.ok) return { outcome: "delivered" };
    const detail = await errorDetail(res);
    const reason = /"reason"\s*:\s*"([A-Za-z]+)"/.exec(detail)?.[1] ?? "";
    if (DEAD_TOKEN_REASONS.has(reason)) return { outcome: "unregistered", detail };
    if (STALE_AUTH_REASONS.has(reason)) {
      this.tokens.invalidate(this.cacheKey);
      return { outcome: "retry", detail };
    }
    return classifyResponse(res, detail, now);
  }
}
