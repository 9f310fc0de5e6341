/**
 * @module The server's randomness, one place to pass in (tests can substitute it).
 */
export function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}
