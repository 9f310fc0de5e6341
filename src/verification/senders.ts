/**
 * @module How a verification code reaches its owner. One interface, two implementations:
 * - `dev`: for local development and tests; the code is logged and returned in the API response.
 *   Refused in production by src/config.ts.
 * - `webhook`: POSTs `{handle, code, expires_at}` as JSON to VERIFICATION_WEBHOOK_URL (an SMS or
 *   e-mail gateway the operator runs), with `X-Parley-Signature: sha256=<hex HMAC of the body>`
 *   under VERIFICATION_WEBHOOK_SECRET so the gateway can reject forged requests.
 */
import type { Config } from "../config";
import { ApiError } from "../errors";
import { logEvent } from "../log";
import { utf8 } from "../protocol/encoding";

export interface VerificationMessage {
  handle: string;
  code: string;
  expiresAt: number;
}

export interface VerificationSender {
  /** Returns the code when the caller may see it (dev only), otherwise undefined. */
  send(message: VerificationMessage): Promise<{ devCode?: string }>;
}

export const devSender: VerificationSender = {
  async send({ handle, code }) {
    // The code itself is returned to the caller (dev only) and never logged.
    logEvent("info", "verification_code_issued", { sender: "dev" });
    void handle;
    return { devCode: code };
  },
};

export function webhookSender(url: string, secret: string): VerificationSender {
  return {
    async send({ handle, code, expiresAt }) {
      const body = JSON.stringify({ handle, code, expires_at: expiresAt });
      const key = await crypto.subtle.importKey("raw", utf8(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8(body)));
      const hex = Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
      let response: Response;
      try {
        response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", "x-parley-signature": `sha256=${hex}` },
          body,
          signal: AbortSignal.timeout(10_000),
        });
      } catch {
        throw new ApiError("upstream_failed", "the verification gateway could not be reached");
      }
      if (!response.ok) throw new ApiError("upstream_failed", `the verification gateway answered ${response.status}`);
      return {};
    },
  };
}

export function senderFor(config: Config): VerificationSender {
  if (config.verificationSender === "webhook") {
    // loadConfig guarantees both are present for the webhook sender.
    return webhookSender(config.verificationWebhookUrl!, config.verificationWebhookSecret!);
  }
  return devSender;
}
