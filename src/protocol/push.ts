/**
 * @module Push notifications on the wire: the push-token registration body (HTTP), the job the
 * inbox puts on the `push` queue, and the payload a device receives. The payload is deliberately
 * contentless (no message text, no sender, no chat): it only tells the app to connect and pull.
 */
import { z } from "zod";
import { MAX_APNS_TOKEN_LENGTH, MAX_FCM_TOKEN_LENGTH, MAX_WEBPUSH_ENDPOINT_LENGTH } from "../limits";
import { AccountId, base64Bytes, DeviceId } from "./common";

export const PushPlatform = z.enum(["apns", "fcm", "webpush"]);
export type PushPlatformName = z.infer<typeof PushPlatform>;

const ApnsRegistration = z.strictObject({
  platform: z.literal("apns"),
  token: z
    .string()
    .regex(/^[0-9a-fA-F]+$/, "must be the hex device token from didRegisterForRemoteNotifications")
    .min(32)
    .max(MAX_APNS_TOKEN_LENGTH),
  /** Development builds get tokens from the sandbox APNs environment; they fail in production. */
  environment: z.enum(["production", "sandbox"]).default("production"),
});

const FcmRegistration = z.strictObject({
  platform: z.literal("fcm"),
  token: z
    .string()
    .min(16)
    .max(MAX_FCM_TOKEN_LENGTH)
    .regex(/^[A-Za-z0-9_:\-.]+$/, "must be an FCM registration token"),
});

const WebPushRegistration = z.strictObject({
  platform: z.literal("webpush"),
  /** `PushSubscription.toJSON()` from the browser, minus `expirationTime`. */
  subscription: z.strictObject({
    endpoint: z.url({ protocol: /^https$/, error: "must be an https URL" }).max(MAX_WEBPUSH_ENDPOINT_LENGTH),
    keys: z.strictObject({
      p256dh: base64Bytes({ length: 65 }, "The subscription's P-256 public key (uncompressed point), base64url"),
      auth: base64Bytes({ length: 16 }, "The subscription's 16-byte authentication secret, base64url"),
    }),
  }),
});

/**
 * The server's VAPID public key, which a browser passes to `pushManager.subscribe` as the
 * `applicationServerKey`: pushes signed with any other key are refused by the push service.
 */
export const WebPushKey = z.strictObject({ vapid_public_key: z.string().regex(/^[A-Za-z0-9_-]{87}$/) }).meta({ id: "WebPushKey" });
export type WebPushKeyBody = z.output<typeof WebPushKey>;

export const PushTokenInput = z
  .discriminatedUnion("platform", [ApnsRegistration, FcmRegistration, WebPushRegistration])
  .meta({ id: "PushTokenInput" });
export type PushTokenInputBody = z.output<typeof PushTokenInput>;

/**
 * A job on the `push` queue: wake this device if anything up to `up_to_seq` (its inbox seq) is
 * still un-ACKed. Nothing about the messages themselves travels through the queue.
 */
export const PushJob = z.strictObject({
  account_id: AccountId,
  device_id: DeviceId,
  up_to_seq: z.number().int().positive(),
});
export type PushJobBody = z.output<typeof PushJob>;

/**
 * What the device receives. `hint` is an opaque collapse key, the same for every push to every
 * device, so it identifies nothing; providers use it to replace an undelivered push with a newer one.
 */
export const PUSH_COLLAPSE_KEY = "parley-inbox";
export const WakePayload = z.strictObject({ type: z.literal("wake"), hint: z.literal(PUSH_COLLAPSE_KEY) });
export type WakePayloadBody = z.output<typeof WakePayload>;
export const WAKE_PAYLOAD: WakePayloadBody = { type: "wake", hint: PUSH_COLLAPSE_KEY };
