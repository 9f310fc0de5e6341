/**
 * @module Every server-side limit in one place, each with its reason. Configuration (src/config.ts)
 * holds what operators tune per deployment; these are protocol bounds that clients rely on.
 */

/** Request bodies beyond this are refused with 413 before parsing. Prekey uploads are the largest
 * identity-layer bodies: 100 ML-KEM-768 keys (1184 B) with signatures are ~175 KB in base64. */
export const MAX_JSON_BODY_BYTES = 256 * 1024;

/** A send carries up to 16 envelopes of 96 KiB, base64-encoded (~2.1 MB at the extreme). */
export const MAX_MESSAGE_BODY_BYTES = 2 * 1024 * 1024 + 256 * 1024;

/** One-time prekeys per upload, as Signal-Server: bounds a request and keeps D1 batches small. */
export const MAX_PREKEYS_PER_UPLOAD = 100;

/** Stored one-time prekeys per device (each kind): stops a device from filling D1. */
export const MAX_STORED_PREKEYS_PER_DEVICE = 1000;

/** Key ids are unsigned 24-bit in Signal; we allow u32 (they are signed as u32 big-endian). */
export const MAX_KEY_ID = 0xffff_ffff;

/** Registration ids are 14-bit in libsignal; kept as a small positive integer. */
export const MAX_REGISTRATION_ID = 0x3fff;

/** Verification codes: 6 digits, valid 10 minutes, 5 guesses (1 in 200,000 to guess), one use. */
export const VERIFICATION_CODE_DIGITS = 6;
export const VERIFICATION_TTL_MS = 10 * 60 * 1000;
export const VERIFICATION_MAX_ATTEMPTS = 5;

/** An auth challenge must be answered within a minute; it is single-use (recorded in the inbox). */
export const AUTH_CHALLENGE_TTL_MS = 60 * 1000;

/** Tokens may arrive from clocks slightly ahead of ours. */
export const AUTH_CLOCK_SKEW_MS = 30 * 1000;

/**
 * Upper bound of MAX_LINKED_DEVICES (companions per account, default 4 as WhatsApp): a 1:1 send
 * carries one envelope per device of both accounts, at most MAX_ENVELOPES_PER_MESSAGE (16) =
 * 2 x (primary + 7). Raise both together.
 */
export const MAX_LINKED_DEVICES_CEILING = 7;

/** Chats one "devices changed" request may name (the primary's most recent ones). */
export const MAX_DEVICE_CHANGE_CHATS = 500;

/** A provisioning channel (device linking) lives this long: scanning a QR code takes seconds. */
export const PROVISIONING_TTL_MS = 10 * 60 * 1000;

/** Encrypted provisioning message: account, signed list and a history key fit in a few KiB. */
export const MAX_PROVISIONING_MESSAGE_BYTES = 64 * 1024;

/** Encoded signed device list: 32 devices of 40 bytes plus the header (account id up to 256 bytes). */
export const MAX_DEVICE_LIST_BYTES = 2048;

/** The last-active time of a device is written at most this often (on token issuance). */
export const DEVICE_ACTIVITY_WRITE_INTERVAL_MS = 60 * 60 * 1000;

/** Companions unlinked per inactivity sweep run (the cron runs hourly; the rest waits for the next). */
export const INACTIVE_DEVICE_SWEEP_BATCH = 200;

/** A device name is shown in the device list UI; anything longer is noise. */
export const MAX_DEVICE_NAME_LENGTH = 64;

/**
 * At most one push per device per window while it stays offline: a burst of messages becomes one
 * wake-up (the app connects and pulls everything), and a chatty group cannot drain a phone's
 * battery or our provider quota. A device that connects resets the window.
 */
export const PUSH_COALESCE_WINDOW_MS = 60 * 1000;

/** APNs device tokens are 32 bytes (64 hex) today; Apple reserves the right to grow them. */
export const MAX_APNS_TOKEN_LENGTH = 200;
/** FCM registration tokens are ~163 characters; Google documents no bound, so allow headroom. */
export const MAX_FCM_TOKEN_LENGTH = 4096;
/** Web Push endpoints are push-service URLs (~200-500 characters in practice). */
export const MAX_WEBPUSH_ENDPOINT_LENGTH = 2048;

/** Push retries back off exponentially from the configured base, capped here (Queues allow 12 h). */
export const PUSH_MAX_RETRY_DELAY_SECONDS = 15 * 60;
/** A Retry-After longer than this is clamped: Queues refuse delays beyond 12 hours. */
export const QUEUE_MAX_DELAY_SECONDS = 12 * 60 * 60;

/** R2 multipart: every part but the last must be at least 5 MiB (an R2/S3 rule), at most 10,000 parts. */
export const MEDIA_MIN_PART_BYTES = 5 * 1024 * 1024;
export const MEDIA_MAX_PARTS = 10_000;

/** A request body through the Worker: plans start at 100 MB, so one PUT or part stays below 95 MiB. */
export const MEDIA_MAX_WORKER_BODY_BYTES = 95 * 1024 * 1024;

/** Expired rows handled per cleanup run: each costs an R2 call, and a cron invocation has bounded time. */
export const MEDIA_CLEANUP_BATCH = 200;

/** A download link may be cached by a CDN at most this long (and never past the media's expiry). */
export const MEDIA_MAX_CACHE_SECONDS = 365 * 86_400;

/** A report's voluntarily attached plaintext: one message with some context, not an archive. */
export const MAX_REPORT_CONTENT_CHARS = 16_384;
/** Members per group, as WhatsApp. */
export const MAX_GROUP_MEMBERS = 1024;
/** Devices one group send may address: every member with a full device set. */
export const MAX_GROUP_RECIPIENT_DEVICES = MAX_GROUP_MEMBERS * (1 + MAX_LINKED_DEVICES_CEILING);
/**
 * A group send to a full group names every device (~90 bytes each) and, right after a key
 * rotation, carries a pairwise distribution (~2 KB with a PQXDH header) for each of them.
 */
export const MAX_GROUP_MESSAGE_BODY_BYTES = 20 * 1024 * 1024;
