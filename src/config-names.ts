/**
 * @module The environment variable behind each configuration setting. Dependency-free so that docs
 * checks and tooling can read it; src/config.ts types it against its schema (a setting without a
 * variable does not compile). docs/OPERATIONS.md lists exactly these (test/node/docs.test.ts).
 */
export const CONFIG_ENV_NAMES = {
  environment: "PARLEY_ENV",
  logLevel: "LOG_LEVEL",
  verificationSender: "VERIFICATION_SENDER",
  verificationWebhookUrl: "VERIFICATION_WEBHOOK_URL",
  verificationWebhookSecret: "VERIFICATION_WEBHOOK_SECRET",
  authTokenSecret: "AUTH_TOKEN_SECRET",
  authTokenTtlSeconds: "AUTH_TOKEN_TTL_SECONDS",
  inboxRetentionDays: "INBOX_RETENTION_DAYS",
  inboxMaxEntries: "INBOX_MAX_ENTRIES",
  inboxMaxBytes: "INBOX_MAX_BYTES",
  deliveredReceiptDelayMs: "DELIVERED_RECEIPT_DELAY_MS",
  groupQueueFanoutThreshold: "GROUP_QUEUE_FANOUT_THRESHOLD",
  groupFanoutBatchDevices: "GROUP_FANOUT_BATCH_DEVICES",
  mediaMaxBytes: "MEDIA_MAX_BYTES",
  mediaSinglePutMaxBytes: "MEDIA_SINGLE_PUT_MAX_BYTES",
  mediaPartBytes: "MEDIA_PART_BYTES",
  mediaDailyQuotaBytes: "MEDIA_DAILY_QUOTA_BYTES",
  mediaRetentionDays: "MEDIA_RETENTION_DAYS",
  mediaUploadTtlSeconds: "MEDIA_UPLOAD_TTL_SECONDS",
  mediaUploadMode: "MEDIA_UPLOAD_MODE",
  r2S3Endpoint: "R2_S3_ENDPOINT",
  r2BucketName: "R2_BUCKET_NAME",
  r2AccessKeyId: "R2_ACCESS_KEY_ID",
  r2SecretAccessKey: "R2_SECRET_ACCESS_KEY",
  adminApiSecret: "ADMIN_API_SECRET",
  prekeyBundleFetchesPerHour: "PREKEY_BUNDLE_FETCHES_PER_HOUR",
  sendsPerChatPerMinute: "SENDS_PER_CHAT_PER_MINUTE",
  newAccountAgeHours: "NEW_ACCOUNT_AGE_HOURS",
  newAccountNewContactsPerHour: "NEW_ACCOUNT_NEW_CONTACTS_PER_HOUR",
  groupCreatesPerHour: "GROUP_CREATES_PER_HOUR",
  groupAddsPerHour: "GROUP_ADDS_PER_HOUR",
  linkAttemptsPerHour: "LINK_ATTEMPTS_PER_HOUR",
  handleCoolingOffDays: "HANDLE_COOLING_OFF_DAYS",
  maxLinkedDevices: "MAX_LINKED_DEVICES",
  linkedDeviceInactiveDays: "LINKED_DEVICE_INACTIVE_DAYS",
} as const;

/**
 * Push provider variables, read by `loadPushConfig` in src/config.ts apart from the settings above
 * (a broken push credential must not fail the HTTP API). docs/OPERATIONS.md lists these too.
 */
export const PUSH_CONFIG_ENV_NAMES = {
  apnsKey: "APNS_KEY",
  apnsKeyId: "APNS_KEY_ID",
  apnsTeamId: "APNS_TEAM_ID",
  apnsTopic: "APNS_TOPIC",
  apnsEndpoint: "APNS_ENDPOINT",
  apnsSandboxEndpoint: "APNS_SANDBOX_ENDPOINT",
  fcmServiceAccount: "FCM_SERVICE_ACCOUNT",
  fcmEndpoint: "FCM_ENDPOINT",
  vapidPublicKey: "VAPID_PUBLIC_KEY",
  vapidPrivateKey: "VAPID_PRIVATE_KEY",
  vapidSubject: "VAPID_SUBJECT",
  pushRetryBaseSeconds: "PUSH_RETRY_BASE_SECONDS",
} as const;

/** Every variable the Worker reads, for the docs check. */
export const ALL_CONFIG_ENV_NAMES: string[] = [...Object.values(CONFIG_ENV_NAMES), ...Object.values(PUSH_CONFIG_ENV_NAMES)];
