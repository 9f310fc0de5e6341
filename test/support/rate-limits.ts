/**
 * Test helpers for rate limits. The rate-limit bindings (and the server's exact counters) count in
 * fixed windows aligned to the wall clock: a burst must start well inside one, or a reset in the
 * middle would let it through.
 */

/** Waits, if needed, until at least `needMs` remain in the current `periodMs` window. */
export async function startInsideWindow(periodMs: number, needMs: number): Promise<void> {
  const intoWindow = Date.now() % periodMs;
  if (periodMs - intoWindow < needMs) await new Promise((resolve) => setTimeout(resolve, periodMs - intoWindow + 100));
}
