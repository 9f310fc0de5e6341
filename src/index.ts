/**
 * @module Worker entry: HTTP through the Hono app, queue consumers dispatched by queue name, and
 * the Durable Object classes wrangler.toml binds (re-exported).
 */
import { createApp } from "./app";
import type { Env } from "./env";
import { FANOUT_DLQ_NAME, FANOUT_QUEUE_NAME, handleFanoutBatch, handleFanoutDeadLetters } from "./groups/fanout-consumer";
import { handlePushBatch, handlePushDeadLetters, PUSH_DLQ_NAME, PUSH_QUEUE_NAME } from "./push/consumer";
import { logEvent } from "./log";
import { recordMetric } from "./metrics";
import { cleanupMedia } from "./media/cleanup";
import { unlinkInactiveDevices } from "./devices/inactive";
import { queueBaseName } from "./queue-names";

export { ChatRoom } from "../durable-objects/chat-room";
export { DeviceInbox } from "../durable-objects/device-inbox";
export { PresenceRoom } from "../durable-objects/presence-room";
export { ProvisioningRoom } from "../durable-objects/provisioning-room";

const app = createApp();

export default {
  fetch: app.fetch,
  async queue(batch, env) {
    recordMetric(env, {
      name: "queue_batch",
      queue: queueBaseName(batch.queue),
      messages: batch.messages.length,
      maxAttempts: batch.messages.reduce((max, m) => Math.max(max, m.attempts), 0),
    });
    switch (queueBaseName(batch.queue)) {
      case FANOUT_QUEUE_NAME:
        return handleFanoutBatch(batch, env);
      case FANOUT_DLQ_NAME:
        return handleFanoutDeadLetters(batch);
      case PUSH_QUEUE_NAME:
        return handlePushBatch(batch, env);
      case PUSH_DLQ_NAME:
        return handlePushDeadLetters(batch);
      default:
        // A queue this Worker consumes but has no handler for yet: keep the messages (they retry,
        // then dead-letter) rather than acknowledging work nobody did.
        logEvent("error", "queue_unhandled", { queue: batch.queue });
        batch.retryAll();
    }
  },
  // Cron trigger (wrangler.toml [triggers]): media retention and inactive linked devices. waitUntil
  // keeps the sweeps alive past the handler's return; a failed run is simply retried by the next tick.
  scheduled: async (_controller, env, ctx) => {
    ctx.waitUntil(cleanupMedia(env, Date.now()));
    ctx.waitUntil(unlinkInactiveDevices(env, Date.now()));
  },
} satisfies ExportedHandler<Env>;
