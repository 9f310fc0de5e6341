/**
 * @module Structured logs: one JSON object per line, an event name and scalar fields only. Scalar
 * fields are the guard against leaking content: nobody can log a request body, an envelope or a
 * frame by accident, only ids, counts, codes and durations. Never log tokens, codes, keys,
 * ciphertext or client IPs; test/workers/logging.test.ts checks a whole flow for them.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, string | number | boolean | null | undefined>;

export function logEvent(level: LogLevel, event: string, fields: LogFields = {}): void {
  const line = JSON.stringify({ level, event, ts: Date.now(), ...fields });
  if (level === "error" || level === "warn") console.error(line);
  else console.log(line);
}

/** A short description of an unknown error for logs: its class and message, never a payload. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 300);
  return String(err).slice(0, 300);
}
