/**
 * @module Exact per-device quotas (issue 11): how many prekey bundles a device may fetch, how many
 * new people a new account may start sessions with, group creations and adds, link attempts. The
 * counters live in the device's own DeviceInbox (one writer, so they are exact, unlike the
 * per-location rate-limit bindings); the Worker passes the configured limit with every use, so the
 * configuration is read in one place. Exceeding a quota is `429 rate_limited` with Retry-After and
 * `details.reason` naming the quota, so the client can tell its user why.
 */
import type { DevicePrincipal } from "../auth/tokens";
import { loadConfig, type Config } from "../config";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { inboxStub } from "../inbox";
import type { QuotaNameBody } from "../protocol/internal";

const HOUR_MS = 3_600_000;

/** Each quota's configured hourly limit and the message a refused client gets. */
const QUOTAS: Record<QuotaNameBody, { limit: (config: Config) => number; message: string }> = {
  prekey_bundle_fetches: { limit: (c) => c.prekeyBundleFetchesPerHour, message: "too many prekey bundle fetches from this device" },
  new_contacts: {
    limit: (c) => c.newAccountNewContactsPerHour,
    message: "new accounts can start conversations with only a few new people per hour; try again later",
  },
  group_creates: { limit: (c) => c.groupCreatesPerHour, message: "too many groups created from this device" },
  group_adds: { limit: (c) => c.groupAddsPerHour, message: "too many group members added from this device" },
  link_attempts: { limit: (c) => c.linkAttemptsPerHour, message: "too many device link attempts" },
};

/** Reasons the API reports in `details.reason` (new_contacts is the "new account" rule). */
const REASONS: Record<QuotaNameBody, string> = {
  prekey_bundle_fetches: "prekey_bundle_fetches",
  new_contacts: "new_account_contact_velocity",
  group_creates: "group_creates",
  group_adds: "group_adds",
  link_attempts: "link_attempts",
};

/**
 * Uses `cost` units of a device's hourly quota, or throws 429 with Retry-After. With `target`,
 * distinct targets are counted (the same target again within the hour is free).
 */
export async function enforceDeviceQuota(
  env: Env,
  device: DevicePrincipal,
  name: QuotaNameBody,
  opts: { cost?: number; target?: string } = {},
): Promise<void> {
  const quota = QUOTAS[name];
  const limit = quota.limit(loadConfig(env));
  const result = await inboxStub(env, device).consumeQuota({ name, limit, window_ms: HOUR_MS, cost: opts.cost ?? 1, target: opts.target });
  if (result.ok) return;
  if ("removed" in result) throw new ApiError("unauthorized", "device removed");
  const retryAfter = Math.max(1, Math.ceil(result.retry_after_ms / 1000));
  throw new ApiError("rate_limited", quota.message, { reason: REASONS[name], limit, window_seconds: HOUR_MS / 1000, retry_after_seconds: retryAfter }, retryAfter);
}

/** Whether an account created at `createdAt` is still "new" for the contact-velocity rule. */
export function isNewAccount(config: Config, createdAt: number, now: number): boolean {
  return now - createdAt < config.newAccountAgeHours * HOUR_MS;
}
