/**
 * @module Account handles: an E.164 phone number (+ and 7..15 digits, no leading 0) or a username
 * (3..32 characters of a-z 0-9 _ ., starting with a letter). Usernames are case-insensitive and
 * stored lower-cased; phone numbers are stored as given after stripping spaces, dashes and brackets.
 */
import { z } from "zod";

const E164 = /^\+[1-9][0-9]{6,14}$/;
const USERNAME = /^[a-z][a-z0-9_.]{2,31}$/;

export function normalizeHandle(raw: string): string | null {
  const trimmed = raw.trim();
  if (trimmed.startsWith("+")) {
    const phone = trimmed.replace(/[\s\-().]/g, "");
    return E164.test(phone) ? phone : null;
  }
  const username = trimmed.toLowerCase();
  return USERNAME.test(username) ? username : null;
}

export const Handle = z
  .string()
  .max(64)
  .transform((raw, ctx) => {
    const handle = normalizeHandle(raw);
    if (handle === null) {
      ctx.addIssue({
        code: "custom",
        message: "must be an E.164 phone number (+15551234567) or a username (3-32 of a-z 0-9 _ ., starting with a letter)",
      });
      return z.NEVER;
    }
    return handle;
  })
  .meta({ description: "E.164 phone number or username", example: "alice" });
