/**
 * @module What travels inside the end-to-end encryption: the plaintext payload of a message,
 * versioned JSON, padded before encryption so ciphertext length does not reveal text length
 * (as Signal pads to multiples of 160 bytes). The server never sees any of this.
 */
import { z } from "zod";
import { base64Bytes } from "../protocol/common";
import { utf8 } from "../protocol/encoding";
import { Capability, ContentClass, MediaId } from "../protocol/media";

/** Padding block: ciphertext lengths are multiples of this (plus fixed overhead). */
const PAD_BLOCK = 160;
const PAD_MARKER = 0x80;

/** A small preview shown before the download; it rides inside the encrypted message. */
export const MAX_THUMBNAIL_BYTES = 48 * 1024;

/**
 * Everything a recipient needs to fetch, verify and decrypt a file: where it is (media id and the
 * download capability), the file key and ciphertext digest (docs/PROTOCOL.md §7), sizes, and what
 * to show. Only ever sent inside the end-to-end encryption.
 */
export const FileAttachment = z.object({
  media_id: MediaId,
  download_cap: Capability,
  key: base64Bytes({ length: 32 }),
  digest: base64Bytes({ length: 32 }),
  /** Plaintext bytes. */
  size: z.number().int().nonnegative(),
  /** Stored (ciphertext) bytes: a download of any other length is refused before decrypting. */
  cipher_size: z.number().int().positive(),
  mime: z.string().max(255),
  name: z.string().max(255).optional(),
  content_class: ContentClass,
  expires_at: z.number().int(),
  thumbnail: z.object({ mime: z.string().max(255), data: base64Bytes({ max: MAX_THUMBNAIL_BYTES }) }).optional(),
});
export type FileAttachment = z.output<typeof FileAttachment>;

export const MessagePayload = z.discriminatedUnion("kind", [
  z.object({
    v: z.literal(1),
    kind: z.literal("text"),
    text: z.string().max(65_536),
    /** Sender's clock when composed (display only; order comes from chat_seq). */
    sent_at: z.number(),
    /** The 1:1 peer this message is addressed to: lets the sender's other devices file their copy. */
    to: z.string(),
  }),
  z.object({
    v: z.literal(1),
    kind: z.literal("file"),
    file: FileAttachment,
    caption: z.string().max(4096).optional(),
    sent_at: z.number(),
    to: z.string(),
  }),
]);
export type MessagePayloadBody = z.output<typeof MessagePayload>;

export function encodePayload(payload: MessagePayloadBody): Uint8Array {
  const body = utf8(JSON.stringify(payload));
  const padded = new Uint8Array(Math.ceil((body.length + 1) / PAD_BLOCK) * PAD_BLOCK);
  padded.set(body);
  padded[body.length] = PAD_MARKER;
  return padded;
}

/** Strips the padding and parses; null when the plaintext is not a payload this client knows. */
export function decodePayload(padded: Uint8Array): MessagePayloadBody | null {
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (end < 0 || padded[end] !== PAD_MARKER) return null;
  try {
    const parsed = MessagePayload.safeParse(JSON.parse(new TextDecoder().decode(padded.subarray(0, end))));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
