/**
 * @module Linking a companion device (issue 10), the SDK side. What travels where:
 *
 * - The QR payload the new device shows: "parley-link:" + base64url(JSON {v, c: channel id,
 *   k: ephemeral X25519 public key, i: its identity key, r: its registration id}).
 * - The provisioning message the primary seals to `k` (src/client/crypto/provisioning.ts) and
 *   drops into the channel: account id, handle, the device id given, the primary identity key,
 *   the signed device list naming the new device, and optionally the key of a history bundle.
 * - The history bundle: recent messages per chat as JSON, encrypted and uploaded through the
 *   media path like any file; only the provisioning message carries its key.
 *
 * Owns these formats and the device-list arithmetic (next version, who is on it); the Client
 * facade (client.ts) runs the steps with its stores and API.
 */
import { z } from "zod";
import { AccountId, base64Bytes, DeviceId } from "../protocol/common";
import { SignedDeviceList, type SignedDeviceListBody } from "../protocol/device-lists";
import { fromBase64, toBase64, toBase64Url } from "../protocol/encoding";
import { IdentityKey } from "../protocol/keys";
import { ProvisioningChannelId } from "../protocol/provisioning";
import { decodeDeviceList, type DeviceListEntry, signDeviceList } from "./crypto/device-list";
import type { KeyPair } from "./crypto/primitives";
import { FileAttachment } from "./payload";
import { type ChatSummary, HistoryMessage } from "./store/client-store";

const PAYLOAD_PREFIX = "parley-link:";

const LinkPayload = z.object({
  v: z.literal(1),
  c: ProvisioningChannelId,
  k: base64Bytes({ length: 32 }),
  i: IdentityKey,
  r: z.number().int().min(1),
});
export type LinkPayload = z.output<typeof LinkPayload>;

export const ProvisioningMessage = z.object({
  v: z.literal(1),
  account_id: AccountId,
  handle: z.string(),
  device_id: DeviceId,
  primary_identity_key: IdentityKey,
  device_list: SignedDeviceList,
  history: FileAttachment.optional(),
});
export type ProvisioningMessage = z.output<typeof ProvisioningMessage>;

export const HistoryBundle = z.object({
  v: z.literal(1),
  chats: z.array(z.object({ chat_id: z.string(), peer_account: z.string(), messages: z.array(HistoryMessage) })),
});
export type HistoryBundle = z.output<typeof HistoryBundle>;

/** MIME type of an uploaded history bundle (it is a file like any other to the server). */
export const HISTORY_BUNDLE_MIME = "application/vnd.parley.history+json";

export function encodeLinkPayload(payload: LinkPayload): string {
  return PAYLOAD_PREFIX + toBase64Url(new TextEncoder().encode(JSON.stringify(payload)));
}

/** Throws when the text is not a link payload this version understands. */
export function decodeLinkPayload(text: string): LinkPayload {
  const trimmed = text.trim();
  if (!trimmed.startsWith(PAYLOAD_PREFIX)) throw new Error("not a parley link payload (it starts with 'parley-link:')");
  const bytes = fromBase64(trimmed.slice(PAYLOAD_PREFIX.length));
  let json: unknown = null;
  try {
    json = bytes ? JSON.parse(new TextDecoder().decode(bytes)) : null;
  } catch {
    // reported below
  }
  const parsed = LinkPayload.safeParse(json);
  if (!parsed.success) throw new Error("malformed parley link payload");
  return parsed.data;
}

export interface ListedDevice {
  device_id: number;
  identity_key: string;
  registration_id: number;
}

/** The next list: `devices` (ascending, the primary first), one version above `current`. */
export async function nextDeviceList(
  primary: KeyPair,
  accountId: string,
  current: SignedDeviceListBody | null | undefined,
  devices: ListedDevice[],
  now: number,
): Promise<SignedDeviceListBody> {
  const version = current ? decodeDeviceList(fromBase64(current.list)!).version + 1 : 1;
  const entries: DeviceListEntry[] = [...devices]
    .sort((a, b) => a.device_id - b.device_id)
    .map((d) => ({ deviceId: d.device_id, identityKey: fromBase64(d.identity_key)!, registrationId: d.registration_id }));
  const signed = await signDeviceList(primary, { accountId, version, timestamp: now, devices: entries });
  return { list: toBase64(signed.list), signature: toBase64(signed.signature) };
}

/** The last `perChat` messages of every chat, newest chats first. */
export function buildHistoryBundle(chats: ChatSummary[], histories: Map<string, HistoryMessage[]>, perChat: number): HistoryBundle {
  return {
    v: 1,
    chats: chats
      .map((c) => ({ chat_id: c.chat_id, peer_account: c.peer_account, messages: (histories.get(c.chat_id) ?? []).slice(-perChat) }))
      .filter((c) => c.messages.length > 0),
  };
}
