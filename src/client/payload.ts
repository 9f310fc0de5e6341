/**
 * @module What travels inside the end-to-end encryption: the plaintext payload of a message,
 * versioned JSON, padded before encryption so ciphertext length does not reveal text length
 * (as Signal pads to multiples of 160 bytes). The server never sees any of this.
 */
import { z } from "zod";
import { utf8 } from "../protocol/encoding";

/** Padding block: ciphertext lengths are multiples of this (plus fixed overhead). */
const PAD_BLOCK = 160;
const PAD_MARKER = 0x80;

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
