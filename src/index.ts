/**
 * @module Worker entry: HTTP through the Hono app; queue consumers and scheduled jobs join as the
 * features that need them land. Re-exports the Durable Object classes wrangler.toml binds.
 */
import { createApp } from "./app";
import type { Env } from "./env";

export { ChatRoom } from "../durable-objects/chat-room";
export { DeviceInbox } from "../durable-objects/device-inbox";
export { PresenceRoom } from "../durable-objects/presence-room";

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
