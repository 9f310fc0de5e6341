/**
 * @module Every limit of the client cryptography, each with its reason. Format versions live next
 * to their formats (messages in double-ratchet.ts / x3dh.ts, records in state/), not here.
 */

/**
 * Largest forward jump of a message counter within one chain, as libsignal's MAX_FORWARD_JUMPS.
 * A peer may legitimately send many messages we never see (we were offline, the server expired
 * them), but deriving keys costs two HMACs each: a forged counter of 2^32 must not make us spin.
 */
export const MAX_FORWARD_JUMPS = 25_000;

/**
 * Skipped message keys kept per session (libsignal MAX_MESSAGE_KEYS). Oldest are evicted first:
 * a message that late is lost, which bounds both memory and the window in which a stolen state
 * still opens old traffic (forward secrecy).
 */
export const MAX_SKIPPED_MESSAGE_KEYS = 2_000;

/**
 * Receiving chains kept per session state (libsignal MAX_RECEIVER_CHAINS): messages sent before
 * the peer saw our latest ratchet key still arrive after we moved on.
 */
export const MAX_RECEIVER_CHAINS = 5;

/**
 * Archived (previous) session states kept per peer device (libsignal ARCHIVED_STATES_MAX_LENGTH):
 * when both sides start a session at once, or one side resets, late messages of the older
 * session still decrypt.
 */
export const MAX_ARCHIVED_SESSIONS = 40;

/** Sender-key states per (group, sender) (libsignal MAX_SENDER_KEY_STATES): survives rotations in flight. */
export const MAX_SENDER_KEY_STATES = 5;

/** Skipped sender-key message keys kept per sender-key state: same reasoning as 1:1 sessions. */
export const MAX_SENDER_KEY_SKIPPED = 2_000;

/**
 * Chain steps a group message may cost while its signature check still runs (group-cipher.ts
 * overlaps the two): a forged counter must not make us derive thousands of chain keys (two HMACs
 * each) for nothing, so a larger jump waits for the verdict first.
 */
export const SENDER_KEY_STEPS_BEFORE_VERIFIED = 32;

/** Imported WebCrypto keys cached by content: an import costs 30-700 µs, a lookup well under 1 µs. */
export const KEY_CACHE_ENTRIES = 512;

/**
 * Media chunk size. Every WebCrypto call costs ~150 µs of main-thread work in Node 20 whatever its
 * size (measured: docs/PERFORMANCE.md), and each chunk needs two (AES-GCM, SHA-512): 256 KiB
 * chunks amortise that to a few percent while a ranged read fetches at most one extra chunk on
 * each side; tag and digest cost 48 bytes per chunk (0.02 %).
 */
export const MEDIA_CHUNK_BYTES = 256 * 1024;

/** Chunk sizes a decryptor accepts from a header: bounded so a forged header cannot make us buffer gigabytes. */
export const MEDIA_MIN_CHUNK_BYTES = 1024;
export const MEDIA_MAX_CHUNK_BYTES = 4 * 1024 * 1024;

/** Chunks encrypted/decrypted concurrently: WebCrypto runs on the thread pool, so 2 cores both work. */
export const MEDIA_PARALLEL_CHUNKS = 8;

/**
 * Media chunk hashes (SHA-512) handed to the thread pool at once when AES-GCM runs synchronously
 * (node:crypto); the main thread hashes the rest itself. Two keep the pool busy while the main
 * thread seals the next chunk; more would only queue copies of chunks.
 */
export const MEDIA_POOL_HASHES = 2;

/** Devices per account in a signed device list (WhatsApp allows 1 + 4 linked; headroom for growth). */
export const MAX_DEVICES_PER_ACCOUNT = 32;

/**
 * How old a signed device list may be before it is stale. The primary re-signs on every change
 * and at least this often; an old list replayed by the server would hide newly added or removed
 * devices.
 */
export const DEVICE_LIST_MAX_AGE_MS = 30 * 24 * 60 * 60 * 1000;

/** Clock skew tolerated for device-list timestamps from the future. */
export const DEVICE_LIST_MAX_CLOCK_SKEW_MS = 10 * 60 * 1000;

/** Group plaintexts and 1:1 plaintexts are bounded so a single message cannot exhaust memory. */
export const MAX_PLAINTEXT_BYTES = 256 * 1024;

/** Safety-number hash iterations (Signal's NumericFingerprintGenerator uses 5200): slows brute-forcing a colliding key. */
export const SAFETY_NUMBER_ITERATIONS = 5_200;
