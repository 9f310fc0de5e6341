/**
 * @module Wire schemas of the media API (issue 8), shared by the server and the SDK. Media bodies
 * themselves are opaque ciphertext (application/octet-stream); these describe the JSON around them:
 * upload slots, stored results, part listings. Capabilities are opaque strings to clients.
 */
import { z } from "zod";
import { TimestampMs } from "./common";

export const MediaId = z
  .string()
  .regex(/^m_[0-9a-f]{32}$/, "must be a media id")
  .meta({ description: "Media id (m_ + 32 hex)", example: "m_3f2a9c0d1e2b4a5f8c7d6e5f4a3b2c1d" });

/** Attachments a message may name: more than any client sends (an album is one message per file). */
export const MAX_MEDIA_PER_MESSAGE = 32;

export const ReferencedMediaIds = z
  .array(MediaId)
  .max(MAX_MEDIA_PER_MESSAGE)
  .optional()
  .meta({
    description:
      "Media ids the message's attachments name (cleartext, optional): members of the chat may then download them with their device token, and each one's expiry moves to a full retention window from now",
  });

export const ContentClass = z.enum(["image", "video", "audio", "document", "other"]).meta({
  description: "Coarse kind of the file, chosen by the client (the server cannot see the content)",
});

/** `exp.sig`: an expiry (ms) and an HMAC binding it to one media id and one use (upload or download). */
export const Capability = z
  .string()
  .regex(/^[0-9]{1,15}\.[A-Za-z0-9_-]{43}$/, "must be a media capability")
  .meta({ description: "Media capability from the slot or stored response" });

export const CapabilityQuery = z.object({ cap: Capability.optional() });

export const MediaSlotRequest = z
  .object({
    size: z.number().int().min(1).meta({ description: "Exact byte length of the ciphertext to upload" }),
    content_class: ContentClass,
  })
  .strict()
  .meta({ id: "MediaSlotRequest" });

export const MediaSlot = z
  .object({
    media_id: MediaId,
    size: z.number().int(),
    /** Upload capability for every upload route of this media id. */
    cap: Capability,
    upload_expires_at: TimestampMs,
    expires_at: TimestampMs.meta({ description: "When the stored media expires (unless renewed)" }),
    upload: z.discriminatedUnion("mode", [
      z.object({
        mode: z.literal("single"),
        method: z.literal("PUT"),
        url: z.url().meta({ description: "PUT the whole body here (Worker URL, or an R2 presigned URL)" }),
        /** After a presigned PUT the client must call POST /v1/media/{id}/complete (the Worker did not see the body). */
        complete_required: z.boolean(),
      }),
      z.object({
        mode: z.literal("multipart"),
        part_bytes: z.number().int().meta({ description: "Every part but the last has exactly this size" }),
        part_count: z.number().int(),
      }),
    ]),
  })
  .meta({ id: "MediaSlot" });
export type MediaSlotBody = z.output<typeof MediaSlot>;

export const MediaStored = z
  .object({
    media_id: MediaId,
    size: z.number().int(),
    etag: z.string(),
    expires_at: TimestampMs,
    /** Download capability, valid until expires_at: send it (inside the E2EE message) to whoever may fetch. */
    download_cap: Capability,
  })
  .meta({ id: "MediaStored" });
export type MediaStoredBody = z.output<typeof MediaStored>;

export const MediaPartStored = z.object({ part_number: z.number().int(), size: z.number().int() }).meta({ id: "MediaPartStored" });

export const MediaParts = z
  .object({
    media_id: MediaId,
    state: z.enum(["pending", "complete"]),
    part_bytes: z.number().int(),
    part_count: z.number().int(),
    parts: z.array(MediaPartStored),
  })
  .meta({ id: "MediaParts" });
export type MediaPartsBody = z.output<typeof MediaParts>;

export const PartNumberParam = z
  .string()
  .regex(/^[1-9][0-9]{0,4}$/, "must be a part number")
  .transform(Number)
  .meta({ description: "Part number, 1-based" });
