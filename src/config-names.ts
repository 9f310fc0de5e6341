/**
 * @module The environment variable behind each configuration setting. Dependency-free so that docs
 * checks and tooling can read it; src/config.ts types it against its schema (a setting without a
 * variable does not compile). docs/OPERATIONS.md lists exactly these (test/node/docs.test.ts).
 */
export const CONFIG_ENV_NAMES = {
  environment: "PARLEY_ENV",
  verificationSender: "VERIFICATION_SENDER",
  verificationWebhookUrl: "VERIFICATION_WEBHOOK_URL",
  verificationWebhookSecret: "VERIFICATION_WEBHOOK_SECRET",
  authTokenSecret: "AUTH_TOKEN_SECRET",
  authTokenTtlSeconds: "AUTH_TOKEN_TTL_SECONDS",
  inboxRetentionDays: "INBOX_RETENTION_DAYS",
  inboxMaxEntries: "INBOX_MAX_ENTRIES",
  inboxMaxBytes: "INBOX_MAX_BYTES",
} as const;
