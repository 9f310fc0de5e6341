/**
 * Test helpers for groups: create a group and send to it over HTTP (opaque "Sender Key" bytes: the
 * server never decrypts), and seed many accounts straight into D1 for the 1,024-member tests.
 */
import { env } from "cloudflare:workers";
import { chunkRows, database } from "../../src/db/client";
import { accounts, devices } from "../../src/db/schema";
import { toBase64 } from "../../src/protocol/encoding";
import { call, makeDevice, type JsonResponse } from "./identity";
import { newMsgId, type Addressable, type Recipient } from "./messaging";

export async function createGroup(admin: Addressable, memberIds: string[], extra: Record<string, unknown> = {}): Promise<JsonResponse> {
  return call("POST", "/v1/groups", { token: admin.token, body: { name: "test group", members: memberIds, ...extra } });
}

/** Opaque group ciphertext, deterministic per message so a test can check what arrived. */
export function fakeGroupCiphertext(msgId: string): string {
  return toBase64(new TextEncoder().encode(`group-ct:${msgId}`));
}

export function holder(r: Recipient) {
  return { account_id: r.accountId, device_id: r.deviceId, registration_id: r.registrationId };
}

/** A distribution envelope (pairwise ciphertext of the sender key) for one device. */
export function distributionFor(msgId: string, r: Recipient) {
  return { ...holder(r), type: "message" as const, content: toBase64(new TextEncoder().encode(`skdm:${msgId}:${r.accountId}.${r.deviceId}`)) };
}

/** The body of a group send (HTTP or the socket's group_send frame): holders named, distributions made up. */
export function groupSendBody(opts: { holders?: Recipient[]; distributions?: Recipient[]; msgId?: string; mediaIds?: string[] } = {}) {
  const msgId = opts.msgId ?? newMsgId();
  return {
    msg_id: msgId,
    content: fakeGroupCiphertext(msgId),
    key_holders: (opts.holders ?? []).map(holder),
    distributions: (opts.distributions ?? []).map((r) => distributionFor(msgId, r)),
    ...(opts.mediaIds ? { media_ids: opts.mediaIds } : {}),
  };
}

export async function groupSend(
  from: Addressable,
  chatId: string,
  opts: { holders?: Recipient[]; distributions?: Recipient[]; msgId?: string; mediaIds?: string[] } = {},
): Promise<JsonResponse> {
  return call("POST", `/v1/groups/${chatId}/messages`, { token: from.token, body: groupSendBody(opts) });
}

/**
 * `count` accounts with one device each, written straight into D1 with the rows registration
 * writes (accounts + devices with real public keys): registering 1,024 accounts through the API
 * costs minutes of key generation and verification round trips that these tests are not about.
 */
export async function seedAccounts(count: number): Promise<Recipient[]> {
  const db = database(env.DB);
  const now = Date.now();
  const template = makeDevice({ oneTime: 0, pqLastResort: false }).keys;
  const seeded = Array.from({ length: count }, (_, i) => ({
    accountId: crypto.randomUUID(),
    deviceId: 1,
    registrationId: 1 + (i % 0x3ffe),
    handle: `seed${i}x${Math.floor(Math.random() * 1e9)}`,
  }));
  for (const chunk of chunkRows(seeded, 3)) {
    await db.insert(accounts).values(chunk.map((s) => ({ id: s.accountId, handle: s.handle, createdAt: now })));
  }
  for (const chunk of chunkRows(seeded, 8)) {
    await db.insert(devices).values(
      chunk.map((s) => ({
        accountId: s.accountId,
        deviceId: s.deviceId,
        registrationId: s.registrationId,
        identityKey: template.identity_key,
        signedPrekeyId: template.signed_prekey.key_id,
        signedPrekey: template.signed_prekey.public_key,
        signedPrekeySignature: template.signed_prekey.signature,
        createdAt: now,
      })),
    );
  }
  return seeded.map(({ accountId, deviceId, registrationId }) => ({ accountId, deviceId, registrationId }));
}
