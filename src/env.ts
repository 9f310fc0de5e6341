/**
 * @module The Worker's bindings, exactly as wrangler.toml declares them. Vars and secrets are read
 * through src/config.ts (validated), never directly from here.
 */
import type { ChatRoom } from "../durable-objects/chat-room";
import type { DeviceInbox } from "../durable-objects/device-inbox";
import type { PresenceRoom } from "../durable-objects/presence-room";
import type { ProvisioningRoom } from "../durable-objects/provisioning-room";

export interface RateLimiter {
  limit(options: { key: string }): Promise<{ success: boolean }>;
}

export interface Env {
  DB: D1Database;
  MEDIA: R2Bucket;
  /** Media of accounts in the EU jurisdiction (an R2 bucket created with jurisdiction "eu"). */
  MEDIA_EU: R2Bucket;
  DEVICE_INBOX: DurableObjectNamespace<DeviceInbox>;
  CHAT_ROOM: DurableObjectNamespace<ChatRoom>;
  PRESENCE_ROOM: DurableObjectNamespace<PresenceRoom>;
  PROVISIONING_ROOM: DurableObjectNamespace<ProvisioningRoom>;
  FANOUT_QUEUE: Queue<unknown>;
  PUSH_QUEUE: Queue<unknown>;
  RATE_LIMITER: RateLimiter;
  SEND_RATE_LIMITER: RateLimiter;
  /** Workers Analytics Engine (src/metrics.ts); optional: without it metrics are skipped. */
  METRICS?: AnalyticsEngineDataset;

  // vars (wrangler.toml [vars]) and secrets (`wrangler secret put`, or .dev.vars locally)
  PARLEY_ENV?: string;
  /** info (default) or debug: debug adds a log line per accepted message. */
  LOG_LEVEL?: string;
  VERIFICATION_SENDER?: string;
  VERIFICATION_WEBHOOK_URL?: string;
  VERIFICATION_WEBHOOK_SECRET?: string;
  AUTH_TOKEN_SECRET?: string;
  AUTH_TOKEN_TTL_SECONDS?: string;
  INBOX_RETENTION_DAYS?: string;
  INBOX_MAX_ENTRIES?: string;
  INBOX_MAX_BYTES?: string;
  GROUP_QUEUE_FANOUT_THRESHOLD?: string;
  GROUP_FANOUT_BATCH_DEVICES?: string;
  // Push providers (docs/OPERATIONS.md "Push providers"); each provider is optional.
  APNS_KEY?: string;
  APNS_KEY_ID?: string;
  APNS_TEAM_ID?: string;
  APNS_TOPIC?: string;
  APNS_ENDPOINT?: string;
  APNS_SANDBOX_ENDPOINT?: string;
  FCM_SERVICE_ACCOUNT?: string;
  FCM_ENDPOINT?: string;
  VAPID_PUBLIC_KEY?: string;
  VAPID_PRIVATE_KEY?: string;
  VAPID_SUBJECT?: string;
  PUSH_RETRY_BASE_SECONDS?: string;
  MEDIA_MAX_BYTES?: string;
  MEDIA_SINGLE_PUT_MAX_BYTES?: string;
  MEDIA_PART_BYTES?: string;
  MEDIA_DAILY_QUOTA_BYTES?: string;
  MEDIA_RETENTION_DAYS?: string;
  MEDIA_UPLOAD_TTL_SECONDS?: string;
  MEDIA_UPLOAD_MODE?: string;
  R2_S3_ENDPOINT?: string;
  R2_BUCKET_NAME?: string;
  R2_ACCESS_KEY_ID?: string;
  R2_SECRET_ACCESS_KEY?: string;
  // Abuse controls (docs/OPERATIONS.md "Abuse controls")
  ADMIN_API_SECRET?: string;
  PREKEY_BUNDLE_FETCHES_PER_HOUR?: string;
  SENDS_PER_CHAT_PER_MINUTE?: string;
  DELIVERED_RECEIPT_DELAY_MS?: string;
  NEW_ACCOUNT_AGE_HOURS?: string;
  NEW_ACCOUNT_NEW_CONTACTS_PER_HOUR?: string;
  GROUP_CREATES_PER_HOUR?: string;
  GROUP_ADDS_PER_HOUR?: string;
  LINK_ATTEMPTS_PER_HOUR?: string;
  HANDLE_COOLING_OFF_DAYS?: string;
  MAX_LINKED_DEVICES?: string;
  LINKED_DEVICE_INACTIVE_DAYS?: string;
}

declare global {
  // Lets `env` from "cloudflare:workers" / "cloudflare:test" carry these types in tests.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Cloudflare {
    interface Env extends ParleyTestEnv {}
    // Types `exports` from "cloudflare:workers" (the Worker's own loopback, `exports.default.fetch`
    // in tests) from the main module, as `wrangler types` would.
    interface GlobalProps {
      mainModule: typeof import("./index");
    }
  }
}

interface ParleyTestEnv extends Env {
  /** Only in the workers test pool: the checked-in D1 migrations, applied by test/workers/setup.ts. */
  TEST_MIGRATIONS: import("@cloudflare/vitest-pool-workers").D1Migration[];
}
