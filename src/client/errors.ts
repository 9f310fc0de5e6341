/**
 * @module Errors of the client SDK above the cryptography: what the server answered (status, code,
 * details from `{error: {...}}`), and transport failures. Crypto failures stay CryptoError.
 */

export class ParleyApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ParleyApiError";
  }

  /** Worth retrying later with the same request (server busy, fanout pending, rate limited). */
  get retryable(): boolean {
    return this.status === 429 || this.status >= 500;
  }
}

/** The server could not be reached (network down, server restarting). Always retryable. */
export class TransportError extends Error {
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
    this.name = "TransportError";
  }
}
