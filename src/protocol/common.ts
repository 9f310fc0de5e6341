/**
 * @module Building blocks of the wire schemas: base64 byte strings with exact or bounded lengths,
 * identifiers, timestamps, and the error body. Shared by the server and the SDK.
 */
import { z } from "zod";
import { fromBase64 } from "./encoding";
import { ACCOUNT_ID_PATTERN } from "./jurisdiction";

/**
 * A base64 string (standard padded, or base64url unpadded) decoding to `length` bytes, or to
 * between `min` and `max` bytes. The parsed value stays the string; decode with `fromBase64` where
 * bytes are needed (the schema has already proved it decodes).
 */
export function base64Bytes(opts: { length: number } | { min?: number; max: number }, description?: string) {
  const [min, max] = "length" in opts ? [opts.length, opts.length] : [opts.min ?? 0, opts.max];
  const human = min === max ? `${min} bytes` : `${min}..${max} bytes`;
  // Cheap character-count pre-check so a hostile multi-megabyte string is not decoded.
  const maxChars = Math.ceil(max / 3) * 4;
  return z
    .string()
    .max(maxChars, `must be base64 of ${human}`)
    .refine((s) => {
      const bytes = fromBase64(s);
      return bytes !== null && bytes.length >= min && bytes.length <= max;
    }, `must be base64 of ${human}`)
    .meta({ format: "byte", description: description ?? `base64 of ${human}` });
}

export const AccountId = z
  .string()
  .regex(ACCOUNT_ID_PATTERN, "must be an account id (uuid v4, optionally prefixed with a jurisdiction such as eu-)")
  .meta({
    description: "Account id: a lower-case uuid v4, prefixed with the account's jurisdiction (eu-) when it has one",
    example: "6f1c2a9e-2f4b-4c7d-9a1e-0b2c3d4e5f60",
  });

/** Device ids are small positive integers; the primary device is 1 and ids are never reused. */
export const DeviceId = z.number().int().min(1).max(1_000_000).meta({ description: "Device id (primary = 1)" });
export const DeviceIdParam = z
  .string()
  .regex(/^[1-9][0-9]{0,6}$/, "must be a device id")
  .transform(Number)
  .meta({ description: "Device id (primary = 1)" });

export const KeyId = z.number().int().min(0).max(0xffff_ffff).meta({ description: "Key id (u32)" });

/** Milliseconds since the Unix epoch, as every timestamp on the wire. */
export const TimestampMs = z.number().int().nonnegative().meta({ description: "Unix time in milliseconds" });

export const ErrorBodySchema = z
  .object({
    error: z.object({
      code: z.string().meta({ description: "Stable machine-readable code, e.g. invalid_request" }),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .meta({ id: "Error" });
