/**
 * @module Reconnect and retry delays: exponential with jitter ("equal jitter": half fixed, half
 * random), so a herd of clients that lost the server at once does not return at once.
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** attempt);
  return ceiling / 2 + random() * (ceiling / 2);
}
