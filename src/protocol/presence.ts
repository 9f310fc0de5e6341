/**
 * @module Wire schemas for presence and typing: privacy settings, the one-shot presence query,
 * and the frames of a chat's presence socket (GET /v1/chats/{chat_id}/presence). Nothing here is
 * stored durably except the privacy settings and a coarse last-seen time.
 */
import { z } from "zod";
import { AccountId, DeviceId, TimestampMs } from "./common";

export const Visibility = z.enum(["everyone", "contacts", "nobody"]).meta({
  description: "everyone; contacts = accounts you have a 1:1 chat with; nobody. Reciprocal: what you hide you cannot see.",
});

export const PrivacySettings = z
  .strictObject({ last_seen: Visibility, online: Visibility })
  .meta({ id: "PrivacySettings" });

export const PrivacyUpdate = PrivacySettings.partial().meta({ id: "PrivacyUpdate" });

/** online/last_seen are null when the viewer may not see them (privacy), never guessed. */
export const PresenceStatus = z
  .object({
    account_id: AccountId,
    online: z.boolean().nullable(),
    last_seen: TimestampMs.nullable().meta({ description: "When the account was last online, rounded down to the minute" }),
  })
  .meta({ id: "PresenceStatus" });

export const TypingState = z.enum(["typing", "recording", "stopped"]);

/** Client -> server on the inbox socket: the app's visibility, which decides "online". */
export const AppStateFrame = z.strictObject({ type: z.literal("app_state"), state: z.enum(["foreground", "background"]) });

/** Client -> server on a chat's presence socket. */
export const PresenceClientFrame = z.discriminatedUnion("type", [z.strictObject({ type: z.literal("typing"), state: TypingState })]);

/** Server -> client on a chat's presence socket. */
export const PresenceServerFrame = z.discriminatedUnion("type", [
  PresenceStatus.extend({ type: z.literal("presence") }),
  z.object({ type: z.literal("typing"), account_id: AccountId, device_id: DeviceId, state: TypingState }),
  z.object({ type: z.literal("error"), error: z.object({ code: z.string(), message: z.string() }) }),
]);

export type PrivacySettingsBody = z.output<typeof PrivacySettings>;
export type PresenceStatusBody = z.output<typeof PresenceStatus>;
export type PresenceServerFrameBody = z.output<typeof PresenceServerFrame>;
export type TypingStateBody = z.output<typeof TypingState>;
