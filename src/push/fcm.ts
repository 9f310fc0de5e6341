/**
 * @module Firebase Cloud Messaging HTTP v1: an OAuth 2.0 access token obtained from the service
 * account key (RFC 7523 JWT bearer grant, RS256 assertion), then `POST
 * /v1/projects/<project>/messages:send`. References: Google, "Using OAuth 2.0 for Server to Server
 * Applications" and the FCM v1 `projects.messages` reference. Owns the FCM request shape and error
 * codes; not retries or token storage.
 *
 * The message is a data message (Android wakes the app's FirebaseMessagingService at high
 * priority) with an APNs background payload for iOS apps that receive through FCM. Data only:
 * the system shows nothing by itself, the app connects and pulls.
 */
import { z } from "zod";
import type { FcmConfig } from "../config";
import type { PushTarget } from "../db/push-tokens";
import type { WakePayloadBody } from "../protocol/push";
import { importPkcs8Pem, signJwt, TokenCache } from "./jwt";
import { classifyResponse, errorDetail, type PushProvider, type PushResult } from "./provider";

export const FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging";
export const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/** Google issues access tokens for an hour; assertions may live at most an hour. */
const ASSERTION_LIFETIME_SECONDS = 3600;
const ACCESS_TOKEN_RENEW_BEFORE_MS = 5 * 60 * 1000;
const FCM_TTL = "86400s";

const TokenResponse = z.object({ access_token: z.string().min(1), expires_in: z.number().positive(), token_type: z.string().optional() });

/** FCM's error body: `error.details[].errorCode` carries UNREGISTERED, QUOTA_EXCEEDED, ... */
const FcmError = z.object({
  error: z.object({ status: z.string().optional(), details: z.array(z.object({ errorCode: z.string().optional() }).passthrough()).optional() }),
});

const tokens = new TokenCache(ACCESS_TOKEN_RENEW_BEFORE_MS);

/** Thrown when the OAuth exchange fails; `retryable` says whether it can succeed later. */
class OAuthError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export class FcmProvider implements PushProvider<Extract<PushTarget, { platform: "fcm" }>> {
  constructor(
    private readonly config: FcmConfig,
    private readonly now: () => number = Date.now,
  ) {}

  private accessToken(): Promise<string> {
    const account = this.config.serviceAccount;
    const now = this.now();
    return tokens.get(account.client_email, now, async () => {
      const key = await importPkcs8Pem(account.private_key, "RS256");
      const iat = Math.floor(now / 1000);
      const assertion = await signJwt(
        key,
        "RS256",
        account.private_key_id ? { kid: account.private_key_id } : {},
        { iss: account.client_email, scope: FCM_SCOPE, aud: account.token_uri, iat, exp: iat + ASSERTION_LIFETIME_SECONDS },
      );
      const res = await fetch(account.token_uri, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion }).toString(),
      });
      if (!res.ok) throw new OAuthError(`token endpoint answered ${await errorDetail(res)}`, res.status >= 500 || res.status === 429);
      const parsed = TokenResponse.safeParse(await res.json().catch(() => null));
      if (!parsed.success) throw new OAuthError("token endpoint answered without an access_token", true);
      return { value: parsed.data.access_token, expiresAt: now + parsed.data.expires_in * 1000 };
    });
  }

  async send(target: Extract<PushTarget, { platform: "fcm" }>, payload: WakePayloadBody): Promise<PushResult> {
    const now = this.now();
    let accessToken: string;
    try {
      accessToken = await this.accessToken();
    } catch (err) {
      if (err instanceof OAuthError) return err.retryable ? { outcome: "retry", detail: err.message } : { outcome: "rejected", detail: err.message };
      throw err;
    }
    const url = `${this.config.endpoint}/v1/projects/${encodeURIComponent(this.config.serviceAccount.project_id)}/messages:send`;
    const res = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${accessToken}`, "content-type": "application/json" },
      body: JSON.stringify({
        message: {
          token: target.token,
          data: { type: payload.type, hint: payload.hint },
          android: { priority: "HIGH", collapse_key: payload.hint, ttl: FCM_TTL },
          apns: {
            headers: { "apns-push-type": "background", "apns-priority": "5", "apns-collapse-id": payload.hint },
            payload: { aps: { "content-available": 1 } },
          },
        },
      }),
    });
    if (res.ok) return { outcome: "delivered" };
    const detail = await errorDetail(res);
    if (res.status === 401) {
      // Our access token was revoked or expired early: mint a new one on the retry.
      tokens.invalidate(this.config.serviceAccount.client_email);
      return { outcome: "retry", detail };
    }
    let codes: string[] = [];
    try {
      const parsed = FcmError.safeParse(JSON.parse(detail.slice(detail.indexOf(" ") + 1)));
      if (parsed.success) codes = (parsed.data.error.details ?? []).flatMap((d) => (d.errorCode ? [d.errorCode] : []));
    } catch {
      // Not JSON (a proxy's error page): the status decides.
    }
    if (codes.includes("UNREGISTERED")) return { outcome: "unregistered", detail };
    return classifyResponse(res, detail, now);
  }
}
