/**
 * @module The `fanout` queue consumer (large groups): each job hands one group entry to a batch of
 * device inboxes. Idempotent: an inbox takes a group chat position once, ever (DeviceInbox
 * `group_seen`), so a redelivered or retried job, even after some inboxes took it and the device
 * ACKed it, creates no second entry. A job whose inboxes did not all answer is retried whole;
 * past max_retries it goes to the dead-letter queue, whose consumer logs it.
 */
import type { Env } from "../env";
import { inboxStub } from "../inbox";
import { chatRoomStub } from "../placement";
import { describeError, logEvent } from "../log";
import { FanoutJob, type FanoutJobBody, type InboxEntryInputBody } from "../protocol/internal";

export const FANOUT_QUEUE_NAME = "parley-fanout";
export const FANOUT_DLQ_NAME = "parley-fanout-dlq";

/** Jobs of one batch handled at once; each calls up to GROUP_FANOUT_BATCH_DEVICES inboxes in parallel. */
const JOBS_IN_PARALLEL = 4;

export async function handleFanoutBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const messages = [...batch.messages];
  for (let i = 0; i < messages.length; i += JOBS_IN_PARALLEL) {
    await Promise.all(messages.slice(i, i + JOBS_IN_PARALLEL).map((message) => handleFanoutMessage(message, env)));
  }
}

async function handleFanoutMessage(message: Message<unknown>, env: Env): Promise<void> {
  const parsed = FanoutJob.safeParse(message.body);
  if (!parsed.success) {
    // Retrying cannot fix a malformed job; it would only reach the dead-letter queue later.
    logEvent("error", "fanout_job_invalid", { id: message.id, issue: parsed.error.issues[0]?.message ?? "unknown" });
    message.ack();
    return;
  }
  try {
    const failed = await deliverFanoutJob(env, parsed.data);
    if (failed === 0) message.ack();
    else {
      logEvent("warn", "fanout_job_retry", { chat_id: parsed.data.chat_id, chat_seq: parsed.data.chat_seq, failed, attempts: message.attempts });
      message.retry({ delaySeconds: Math.min(2 ** message.attempts, 60) });
    }
  } catch (err) {
    logEvent("warn", "fanout_job_retry", { chat_id: parsed.data.chat_id, chat_seq: parsed.data.chat_seq, error: describeError(err), attempts: message.attempts });
    message.retry({ delaySeconds: Math.min(2 ** message.attempts, 60) });
  }
}

/** Hands the job's entry to each of its inboxes; returns how many did not take it. */
export async function deliverFanoutJob(env: Env, job: FanoutJobBody): Promise<number> {
  const entry: InboxEntryInputBody | null = job.entry ?? (await chatRoomStub(env, job.chat_id).fanoutEntry(job.chat_seq));
  if (!entry) {
    // The ChatRoom pruned it: the message is older than the retention window, nothing to deliver.
    logEvent("warn", "fanout_entry_gone", { chat_id: job.chat_id, chat_seq: job.chat_seq });
    return 0;
  }
  const results = await Promise.allSettled(
    job.devices.map(([accountId, deviceId]) => inboxStub(env, { accountId, deviceId }).enqueue([entry], { account_id: accountId, device_id: deviceId })),
  );
  return results.filter((r) => r.status === "rejected").length;
}

/** Jobs that failed every retry: logged for the operator (docs/OPERATIONS.md, "Failure modes"). */
export async function handleFanoutDeadLetters(batch: MessageBatch<unknown>): Promise<void> {
  for (const message of batch.messages) {
    const parsed = FanoutJob.safeParse(message.body);
    logEvent(
      "error",
      "fanout_dead_lettered",
      parsed.success ? { chat_id: parsed.data.chat_id, chat_seq: parsed.data.chat_seq, devices: parsed.data.devices.length } : { id: message.id },
    );
    message.ack();
  }
}
