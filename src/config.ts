/**
 * @module Typed, validated configuration from vars and secrets. Invalid configuration fails the
 * request with a clear `config_invalid` error naming the offending variable (and is logged), rather
 * than misbehaving quietly. Parsed once per env object.
 */
import { z } from "zod";
import type { Env } from "./env";
import { CONFIG_ENV_NAMES } from "./config-names";
import { ApiError } from "./errors";
import { LOG_THRESHOLDS } from "./log";
import { MAX_LINKED_DEVICES_CEILING, MEDIA_MAX_WORKER_BODY_BYTES, MEDIA_MIN_PART_BYTES } from "./limits";
import { MAX_FANOUT_JOB_DEVICES } from "./protocol/internal";

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

const ConfigSchema = z
  .object({
    environment: z.enum(["development", "test", "staging", "production"]),
    // "debug" adds a line per accepted message (message_submitted): a cost per send in CPU and log
    // volume that production does not need; the send metric counts every answered send at either level.
    logLevel: z.enum(LOG_THRESHOLDS),
    verificationSender: z.enum(["dev", "webhook"]),
    verificationWebhookUrl: z.url({ protocol: /^https?$/ }).optional(),
    verificationWebhookSecret: z.string().min(16).optional(),
    authTokenSecret: z.string().min(32, "AUTH_TOKEN_SECRET must be at least 32 characters"),
    authTokenTtlSeconds: z.coerce.number().int().min(60).max(3600),
    inboxRetentionDays: z.coerce.number().int().min(1).max(365),
    inboxMaxEntries: z.coerce.number().int().min(100).max(10_000_000),
    inboxMaxBytes: z.coerce.number().int().min(1_000_000).max(8_000_000_000),
    // How long an inbox collects the "delivered" receipts its device's ACKs owe before handing them
    // to the ChatRooms in one round (0: at once). Trades the sender's tick delay for fewer RPCs.
    deliveredReceiptDelayMs: z.coerce.number().int().min(0).max(5000),
    // Groups (issue 6): above this many recipient devices a group entry fans out through the
    // fanout queue in batches of groupFanoutBatchDevices; at or below it the ChatRoom delivers inline.
    groupQueueFanoutThreshold: z.coerce.number().int().min(0).max(100_000),
    groupFanoutBatchDevices: z.coerce.number().int().min(1).max(MAX_FANOUT_JOB_DEVICES),
    // Media (issue 8; docs/OPERATIONS.md "Media"). Sizes are of the stored ciphertext.
    mediaMaxBytes: z.coerce.number().int().min(MIB).max(2 * GIB),
    mediaSinglePutMaxBytes: z.coerce.number().int().min(MIB).max(MEDIA_MAX_WORKER_BODY_BYTES),
    mediaPartBytes: z.coerce.number().int().min(MEDIA_MIN_PART_BYTES).max(MEDIA_MAX_WORKER_BODY_BYTES),
    mediaDailyQuotaBytes: z.coerce.number().int().min(MIB).max(1024 * GIB),
    mediaRetentionDays: z.coerce.number().int().min(1).max(3650),
    mediaUploadTtlSeconds: z.coerce.number().int().min(60).max(7 * 86_400),
    mediaUploadMode: z.enum(["worker", "presigned"]),
    r2S3Endpoint: z.url({ protocol: /^https$/ }).optional(),
    r2BucketName: z.string().min(3).optional(),
    r2AccessKeyId: z.string().min(16).optional(),
    r2SecretAccessKey: z.string().min(16).optional(),
    // Abuse controls (issue 11; docs/OPERATIONS.md "Abuse controls"). Exact per-device counters,
    // kept in the device's own DeviceInbox; the coarse per-IP and per-send limits are the
    // [[ratelimits]] bindings in wrangler.toml.
    adminApiSecret: z.string().min(32, "ADMIN_API_SECRET must be at least 32 characters").optional(),
    prekeyBundleFetchesPerHour: z.coerce.number().int().min(1).max(100_000),
    sendsPerChatPerMinute: z.coerce.number().int().min(1).max(100_000),
    newAccountAgeHours: z.coerce.number().int().min(0).max(24 * 365),
    newAccountNewContactsPerHour: z.coerce.number().int().min(1).max(100_000),
    groupCreatesPerHour: z.coerce.number().int().min(1).max(100_000),
    groupAddsPerHour: z.coerce.number().int().min(1).max(1_000_000),
    linkAttemptsPerHour: z.coerce.number().int().min(1).max(10_000),
    handleCoolingOffDays: z.coerce.number().int().min(0).max(3650),
    // Multi-device (issue 10; docs/OPERATIONS.md "Linked devices").
    maxLinkedDevices: z.coerce.number().int().min(0).max(MAX_LINKED_DEVICES_CEILING),
    linkedDeviceInactiveDays: z.coerce.number().int().min(1).max(3650),
  })
  .superRefine((cfg, ctx) => {
    if (cfg.verificationSender === "webhook") {
      // One issue per missing variable, so the error names the one to set.
      for (const key of ["verificationWebhookUrl", "verificationWebhookSecret"] as const) {
        if (!cfg[key]) {
          ctx.addIssue({
            code: "custom",
            path: [key],
            message: "VERIFICATION_SENDER=webhook needs VERIFICATION_WEBHOOK_URL and VERIFICATION_WEBHOOK_SECRET",
          });
        }
      }
    }
    if (cfg.mediaUploadMode === "presigned") {
      for (const key of ["r2S3Endpoint", "r2BucketName", "r2AccessKeyId", "r2SecretAccessKey"] as const) {
        if (!cfg[key]) {
          ctx.addIssue({ code: "custom", path: [key], message: "required when MEDIA_UPLOAD_MODE=presigned" });
        }
      }
    }
    if (cfg.verificationSender === "dev" && cfg.environment === "production") {
      ctx.addIssue({
        code: "custom",
        path: ["verificationSender"],
        message: "the dev verification sender returns codes to the caller and is refused in production",
      });
    }
  });

export type Config = z.infer<typeof ConfigSchema>;

/** The environment variable behind each setting (the full list lives in ./config-names.ts). */
const ENV_NAMES: Record<keyof Config, string> = CONFIG_ENV_NAMES;

const cache = new WeakMap<object, Config>();

export function loadConfig(env: Env): Config {
  const cached = cache.get(env);
  if (cached) return cached;
  const parsed = ConfigSchema.safeParse({
    environment: env.PARLEY_ENV ?? "development",
    logLevel: env.LOG_LEVEL ?? "info",
    verificationSender: env.VERIFICATION_SENDER ?? "dev",
    verificationWebhookUrl: env.VERIFICATION_WEBHOOK_URL || undefined,
    verificationWebhookSecret: env.VERIFICATION_WEBHOOK_SECRET || undefined,
    authTokenSecret: env.AUTH_TOKEN_SECRET ?? "",
    authTokenTtlSeconds: env.AUTH_TOKEN_TTL_SECONDS ?? "600",
    inboxRetentionDays: env.INBOX_RETENTION_DAYS ?? "30",
    inboxMaxEntries: env.INBOX_MAX_ENTRIES ?? "100000",
    inboxMaxBytes: env.INBOX_MAX_BYTES ?? String(1024 * 1024 * 1024),
    deliveredReceiptDelayMs: env.DELIVERED_RECEIPT_DELAY_MS ?? "250",
    groupQueueFanoutThreshold: env.GROUP_QUEUE_FANOUT_THRESHOLD ?? "64",
    groupFanoutBatchDevices: env.GROUP_FANOUT_BATCH_DEVICES ?? "100",
    mediaMaxBytes: env.MEDIA_MAX_BYTES ?? String(100 * MIB),
    mediaSinglePutMaxBytes: env.MEDIA_SINGLE_PUT_MAX_BYTES ?? String(16 * MIB),
    mediaPartBytes: env.MEDIA_PART_BYTES ?? String(8 * MIB),
    mediaDailyQuotaBytes: env.MEDIA_DAILY_QUOTA_BYTES ?? String(2 * GIB),
    mediaRetentionDays: env.MEDIA_RETENTION_DAYS ?? "30",
    mediaUploadTtlSeconds: env.MEDIA_UPLOAD_TTL_SECONDS ?? "86400",
    mediaUploadMode: env.MEDIA_UPLOAD_MODE ?? "worker",
    r2S3Endpoint: env.R2_S3_ENDPOINT || undefined,
    r2BucketName: env.R2_BUCKET_NAME || undefined,
    r2AccessKeyId: env.R2_ACCESS_KEY_ID || undefined,
    r2SecretAccessKey: env.R2_SECRET_ACCESS_KEY || undefined,
    adminApiSecret: env.ADMIN_API_SECRET || undefined,
    prekeyBundleFetchesPerHour: env.PREKEY_BUNDLE_FETCHES_PER_HOUR ?? "200",
    sendsPerChatPerMinute: env.SENDS_PER_CHAT_PER_MINUTE ?? "1000",
    newAccountAgeHours: env.NEW_ACCOUNT_AGE_HOURS ?? "48",
    newAccountNewContactsPerHour: env.NEW_ACCOUNT_NEW_CONTACTS_PER_HOUR ?? "20",
    groupCreatesPerHour: env.GROUP_CREATES_PER_HOUR ?? "20",
    groupAddsPerHour: env.GROUP_ADDS_PER_HOUR ?? "2048",
    linkAttemptsPerHour: env.LINK_ATTEMPTS_PER_HOUR ?? "10",
    handleCoolingOffDays: env.HANDLE_COOLING_OFF_DAYS ?? "30",
    maxLinkedDevices: env.MAX_LINKED_DEVICES ?? "4",
    linkedDeviceInactiveDays: env.LINKED_DEVICE_INACTIVE_DAYS ?? "30",
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = issue.path[0] as keyof Config | undefined;
      return `${key ? ENV_NAMES[key] : "config"}: ${issue.message}`;
    });
    throw new ApiError("config_invalid", `server configuration is invalid: ${problems.join("; ")}`);
  }
  cache.set(env, parsed.data);
  return parsed.data;
}

// ---- push providers ----------------------------------------------------------------------------
// Parsed apart from the main configuration: a broken push credential must not take the messaging
// API down with it. The queue consumer loads it, and a job for a platform whose credentials are
// missing or invalid fails permanently with a log line naming the variable.

const HttpsUrl = z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, ""));
const Pem = z.string().regex(/-----BEGIN PRIVATE KEY-----[\s\S]+-----END PRIVATE KEY-----/, "must be a PKCS#8 PEM private key");

const ApnsConfig = z.object({
  key: Pem,
  keyId: z.string().regex(/^[A-Z0-9]{10}$/, "APNS_KEY_ID must be the 10-character key id"),
  teamId: z.string().regex(/^[A-Z0-9]{10}$/, "APNS_TEAM_ID must be the 10-character team id"),
  topic: z.string().min(1),
  endpoint: HttpsUrl,
  sandboxEndpoint: HttpsUrl,
});

/** The fields of a Google service-account JSON key file that the FCM provider uses. */
const ServiceAccount = z.object({
  project_id: z.string().min(1),
  client_email: z.string().min(3),
  private_key_id: z.string().min(1).optional(),
  private_key: Pem,
  token_uri: HttpsUrl.default("https://oauth2.googleapis.com/token"),
});

const FcmConfig = z.object({ serviceAccount: ServiceAccount, endpoint: HttpsUrl });

const Base64Url = z.string().regex(/^[A-Za-z0-9_-]+$/, "must be base64url without padding");
const WebPushConfig = z.object({
  vapidPublicKey: Base64Url.length(87, "VAPID_PUBLIC_KEY must be the 65-byte uncompressed P-256 point, base64url"),
  vapidPrivateKey: Base64Url.length(43, "VAPID_PRIVATE_KEY must be the 32-byte P-256 scalar, base64url"),
  vapidSubject: z.string().regex(/^(mailto:|https:\/\/)/, "VAPID_SUBJECT must be a mailto: or https: URL"),
});

export type ApnsConfig = z.infer<typeof ApnsConfig>;
export type FcmConfig = z.infer<typeof FcmConfig>;
export type WebPushConfig = z.infer<typeof WebPushConfig>;

/** Per provider: its configuration, null when not configured at all, or why it is unusable. */
export type ProviderConfig<T> = { ok: true; config: T } | { ok: false; reason: string } | null;

export interface PushConfig {
  apns: ProviderConfig<ApnsConfig>;
  fcm: ProviderConfig<FcmConfig>;
  webpush: ProviderConfig<WebPushConfig>;
  /** First retry delay; doubles per attempt up to PUSH_MAX_RETRY_DELAY_SECONDS. */
  retryBaseSeconds: number;
}

/** Parses one provider's variables: all absent means "not configured", some absent is an error. */
function provider<T>(schema: z.ZodType<T>, vars: Record<string, string | undefined>, build: () => unknown): ProviderConfig<T> {
  const present = Object.entries(vars).filter(([, v]) => v);
  if (present.length === 0) return null;
  const missing = Object.entries(vars).filter(([, v]) => !v).map(([k]) => k);
  if (missing.length > 0) return { ok: false, reason: `missing ${missing.join(", ")}` };
  let raw: unknown;
  try {
    raw = build();
  } catch {
    return { ok: false, reason: "not valid JSON" };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: parsed.error.issues.map((i) => `${i.path.join(".") || "value"}: ${i.message}`).join("; ") };
  return { ok: true, config: parsed.data };
}

const pushCache = new WeakMap<object, PushConfig>();

export function loadPushConfig(env: Env): PushConfig {
  const cached = pushCache.get(env);
  if (cached) return cached;
  const retry = z.coerce.number().min(0).max(3600).safeParse(env.PUSH_RETRY_BASE_SECONDS ?? "5");
  const config: PushConfig = {
    apns: provider(ApnsConfig, { APNS_KEY: env.APNS_KEY, APNS_KEY_ID: env.APNS_KEY_ID, APNS_TEAM_ID: env.APNS_TEAM_ID, APNS_TOPIC: env.APNS_TOPIC }, () => ({
      key: env.APNS_KEY,
      keyId: env.APNS_KEY_ID,
      teamId: env.APNS_TEAM_ID,
      topic: env.APNS_TOPIC,
      endpoint: env.APNS_ENDPOINT || "https://api.push.apple.com",
      sandboxEndpoint: env.APNS_SANDBOX_ENDPOINT || "https://api.sandbox.push.apple.com",
    })),
    fcm: provider(FcmConfig, { FCM_SERVICE_ACCOUNT: env.FCM_SERVICE_ACCOUNT }, () => ({
      serviceAccount: JSON.parse(env.FCM_SERVICE_ACCOUNT ?? ""),
      endpoint: env.FCM_ENDPOINT || "https://fcm.googleapis.com",
    })),
    webpush: provider(
      WebPushConfig,
      { VAPID_PUBLIC_KEY: env.VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY: env.VAPID_PRIVATE_KEY, VAPID_SUBJECT: env.VAPID_SUBJECT },
      () => ({ vapidPublicKey: env.VAPID_PUBLIC_KEY, vapidPrivateKey: env.VAPID_PRIVATE_KEY, vapidSubject: env.VAPID_SUBJECT }),
    ),
    retryBaseSeconds: retry.success ? retry.data : 5,
  };
  pushCache.set(env, config);
  return config;
}
