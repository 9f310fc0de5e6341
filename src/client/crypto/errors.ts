/**
 * @module The one error type of the client cryptography layer. Every failure a caller can act on
 * carries a stable `code`; callers (the Client facade, the CLI) map codes to behaviour in one place.
 * Messages never include key material or plaintext.
 */

export type CryptoErrorCode =
  /** An argument has the wrong type or length (a programming error or malformed wire data). */
  | "INVALID_INPUT"
  /** A serialized message or record could not be parsed (truncated, unknown version, trailing bytes). */
  | "MALFORMED"
  /** A format version this implementation does not speak. */
  | "UNSUPPORTED_VERSION"
  /** A public key is not acceptable (low-order point, wrong size). */
  | "INVALID_KEY"
  /** An Ed25519 signature did not verify (prekey, device list, group message). */
  | "INVALID_SIGNATURE"
  /** The remote identity key differs from the one trusted for this address. */
  | "UNTRUSTED_IDENTITY"
  /** The bundle has no post-quantum prekey and the caller required one. */
  | "PQ_REQUIRED"
  /** A prekey message names a prekey this device no longer (or never) had. */
  | "UNKNOWN_PREKEY"
  /** No session exists for the address (never set up, archived, or lost). */
  | "NO_SESSION"
  /** Authentication failed ("Bad MAC"): tampered, corrupted, or from a session we do not share. */
  | "INVALID_MESSAGE"
  /** The message key was already used or deleted: a replay or a duplicate delivery. */
  | "DUPLICATE_MESSAGE"
  /** The message counter jumps beyond the forward-skip bound (see limits.ts). */
  | "TOO_FAR_IN_FUTURE"
  /** No sender-key state for this group sender / key id (distribution message not received). */
  | "NO_SENDER_KEY"
  /** Media ciphertext ends early, was reordered, tampered with, or does not match its digest. */
  | "MEDIA_CORRUPT"
  /** A signed device list is older than one already seen, too old, or not signed by the primary. */
  | "STALE_DEVICE_LIST";

/** Codes after which the right reaction is a new session (fetch a bundle, send a prekey message). */
const RESET_CODES: ReadonlySet<CryptoErrorCode> = new Set<CryptoErrorCode>(["NO_SESSION", "INVALID_MESSAGE", "UNKNOWN_PREKEY", "INVALID_KEY"]);

export class CryptoError extends Error {
  override readonly name = "CryptoError";
  constructor(
    readonly code: CryptoErrorCode,
    message: string,
  ) {
    super(message);
  }

  /**
   * True when the session with the sender is unusable and should be re-established rather than
   * retried (the "Bad MAC forever" failure of Signal clients). Duplicates and far jumps are not:
   * the session itself is fine.
   */
  get needsSessionReset(): boolean {
    return RESET_CODES.has(this.code);
  }
}

/** Length check on the way in (noble's `abytes`), raising the typed error. */
export function checkBytes(value: unknown, length: number | undefined, what: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new CryptoError("INVALID_INPUT", `${what}: expected Uint8Array`);
  if (length !== undefined && value.length !== length) {
    throw new CryptoError("INVALID_INPUT", `${what}: expected ${length} bytes, got ${value.length}`);
  }
}
