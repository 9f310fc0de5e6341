/**
 * @module The `push` queue consumer: turns a job ("wake this device, its inbox has entries up to
 * seq N") into at most one provider request, and turns the provider's answer into ack, retry or
 * token deletion. Idempotent: the inbox is asked before sending (still offline? still un-ACKed?
 * already pushed?) and told after. Queues deliver at least once; a job retried past the consumer's
 * max_retries goes to the dead-letter queue (wrangler.toml).
 */
import { loadPushConfig, type ProviderConfig, type PushConfig } from "../config";
import { database } from "../db/client";
import { deleteStalePushToken, findPushToken, toTarget, type PushTarget } from "../db/push-tokens";
import type { Env } from "../env";
import { inboxStub } from "../inbox";
import { PUSH_MAX_RETRY_DELAY_SECONDS } from "../limits";
import { PushJob, WAKE_PAYLOAD, type PushJobBody } from "../protocol/push";
import { ApnsProvider } from "./apns";
import { FcmProvider } from "./fcm";
import type { PushResult } from "./provider";
import { WebPushProvider } from "./webpush";
import { describeError, logEvent } from "../log";
import { recordMetric } from "../metrics";

export const PUSH_QUEUE_NAME = "parley-push";
export const PUSH_DLQ_NAME = "parley-push-dlq";


/** Exponential backoff from the configured base: base, 2 base, 4 base, ... capped. */
export function backoffSeconds(attempts: number, baseSeconds: number): number {
  return Math.min(baseSeconds * 2 ** Math.max(0, attempts - 1), PUSH_MAX_RETRY_DELAY_SECONDS);
}

function withProvider<T>(config: ProviderConfig<T>, name: string, send: (config: T) => Promise<PushResult>): Promise<PushResult> {
  if (config === null) return Promise.resolve({ outcome: "rejected", detail: `${name} is not configured (see docs/OPERATIONS.md, "Push providers")` });
  if (!config.ok) return Promise.resolve({ outcome: "rejected", detail: `${name} configuration is invalid: ${config.reason}` });
  return send(config.config);
}

function sendTo(target: PushTarget, config: PushConfig): Promise<PushResult> {
  switch (target.platform) {
    case "apns":
      return withProvider(config.apns, "APNs", (c) => new ApnsProvider(c).send(target, WAKE_PAYLOAD));
    case "fcm":
      return withProvider(config.fcm, "FCM", (c) => new FcmProvider(c).send(target, WAKE_PAYLOAD));
    case "webpush":
      return withProvider(config.webpush, "Web Push", (c) => new WebPushProvider(c).send(target, WAKE_PAYLOAD));
  }
}

async function handleJob(message: Message<unknown>, job: PushJobBody, env: Env, config: PushConfig): Promise<void> {
  const device = { account_id: job.account_id, device_id: job.device_id };
  const db = database(env.DB);
  const row = await findPushToken(db, job.account_id, job.device_id);
  if (!row) return message.ack(); // The device registered no token: nothing to wake.
  const target = toTarget(row);
  if (!target) {
    logEvent("warn", "push_token_corrupt", device);
    await deleteStalePushToken(db, job.account_id, job.device_id, row.token);
    return message.ack();
  }
  const inbox = inboxStub(env, { accountId: job.account_id, deviceId: job.device_id });
  const decision = await inbox.pushDecision(job.up_to_seq);
  if (decision !== "push") {
    logEvent("info", "push_skipped", { ...device, reason: decision });
    return message.ack();
  }
  const result = await sendTo(target, config);
  recordMetric(env, { name: "push", platform: target.platform, outcome: result.outcome, attempts: message.attempts });
  switch (result.outcome) {
    case "delivered":
      await inbox.recordPushed(job.up_to_seq);
      logEvent("info", "push_sent", { ...device, platform: target.platform });
      return message.ack();
    case "unregistered":
      await deleteStalePushToken(db, job.account_id, job.device_id, row.token);
      logEvent("info", "push_token_unregistered", { ...device, platform: target.platform, detail: result.detail });
      return message.ack();
    case "rejected":
      logEvent("error", "push_rejected", { ...device, platform: target.platform, detail: result.detail });
      return message.ack();
    case "retry": {
      const delaySeconds = result.retryAfterSeconds ?? backoffSeconds(message.attempts, config.retryBaseSeconds);
      logEvent("warn", "push_retry", { ...device, platform: target.platform, attempts: message.attempts, delaySeconds, detail: result.detail });
      return message.retry({ delaySeconds });
    }
  }
}

export async function handlePushBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const config = loadPushConfig(env);
  await Promise.all(
    batch.messages.map(async (message) => {
      const parsed = PushJob.safeParse(message.body);
      if (!parsed.success) {
        logEvent("error", "push_job_invalid", { id: message.id, issue: parsed.error.issues[0]?.message });
        return message.ack(); // Retrying a malformed job cannot fix it.
      }
      try {
        await handleJob(message, parsed.data, env, config);
      } catch (err) {
        // Network failure, D1 or the inbox unavailable: transient until proven otherwise.
        const delaySeconds = backoffSeconds(message.attempts, config.retryBaseSeconds);
        logEvent("warn", "push_retry", { account_id: parsed.data.account_id, device_id: parsed.data.device_id, attempts: message.attempts, delaySeconds, error: describeError(err) });
        message.retry({ delaySeconds });
      }
    }),
  );
}

/**
 * Jobs that exhausted their retries land in the dead-letter queue. If an operator attaches a
 * consumer to it, each is logged once (for alerting) and dropped: a stale wake-up is worthless.
 */
export async function handlePushDeadLetters(batch: MessageBatch<unknown>): Promise<void> {
  for (const message of batch.messages) {
    const parsed = PushJob.safeParse(message.body);
    logEvent("error", "push_dead_lettered", parsed.success ? { account_id: parsed.data.account_id, device_id: parsed.data.device_id } : { id: message.id });
    message.ack();
  }
}
