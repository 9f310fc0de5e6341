/**
 * @module Structured logs: one JSON object per line, an event name and scalar fields only. Scalar
 * fields are the guard against leaking content: nobody can log a request body, an envelope or a
 * frame by accident, only ids, counts, codes and durations. Never log tokens, codes, keys,
 * ciphertext or client IPs; test/workers/logging.test.ts checks a whole flow for them.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** The levels LOG_LEVEL can set (src/config.ts): whether per-message debug events are written. */
export const LOG_THRESHOLDS = ["debug", "info"] as const;
export type LogThreshold = (typeof LOG_THRESHOLDS)[number];

/**
 * Writes one event. A debug event is written only when the caller passes the configured
 * threshold and it is "debug": per-message events cost CPU on every send and log volume.
 */
export function logEvent(level: LogLevel, event: string, fields: LogFields = {}, threshold: LogThreshold = "info"): void {
  if (level === "debug" && threshold !== "debug") return;
  const line = JSON.stringify({ level, event, ts: Date.now(), ...fields });
  if (level === "error" || level === "warn") console.error(line);
  else console.log(line);
}

/** A short description of an unknown error for logs: its class and message, never a payload. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 300);
  return String(err).slice(0, 300);
}
