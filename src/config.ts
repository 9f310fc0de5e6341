/**
 * @module Typed, validated configuration from vars and secrets. Invalid configuration fails the
 * request with a clear `config_invalid` error naming the offending variable (and is logged), rather
 * than misbehaving quietly. Parsed once per env object.
 */
import { z } from "zod";
import type { Env } from "./env";
import { CONFIG_ENV_NAMES } from "./config-names";
import { ApiError } from "./errors";

const ConfigSchema = z
  .object({
    environment: z.enum(["development", "test", "staging", "production"]),
    verificationSender: z.enum(["dev", "webhook"]),
    verificationWebhookUrl: z.url({ protocol: /^https?$/ }).optional(),
    verificationWebhookSecret: z.string().min(16).optional(),
    authTokenSecret: z.string().min(32, "AUTH_TOKEN_SECRET must be at least 32 characters"),
    authTokenTtlSeconds: z.coerce.number().int().min(60).max(3600),
    inboxRetentionDays: z.coerce.number().int().min(1).max(365),
    inboxMaxEntries: z.coerce.number().int().min(100).max(10_000_000),
    inboxMaxBytes: z.coerce.number().int().min(1_000_000).max(8_000_000_000),
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
    verificationSender: env.VERIFICATION_SENDER ?? "dev",
    verificationWebhookUrl: env.VERIFICATION_WEBHOOK_URL || undefined,
    verificationWebhookSecret: env.VERIFICATION_WEBHOOK_SECRET || undefined,
    authTokenSecret: env.AUTH_TOKEN_SECRET ?? "",
    authTokenTtlSeconds: env.AUTH_TOKEN_TTL_SECONDS ?? "600",
    inboxRetentionDays: env.INBOX_RETENTION_DAYS ?? "30",
    inboxMaxEntries: env.INBOX_MAX_ENTRIES ?? "100000",
    inboxMaxBytes: env.INBOX_MAX_BYTES ?? String(1024 * 1024 * 1024),
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
