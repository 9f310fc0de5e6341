/**
 * Data residency: an account registered in the EU jurisdiction has its inboxes, its chats (also
 * with accounts outside it), its presence and its media inside the EU, addressed from the ids alone.
 * Local workerd does not implement Durable Object jurisdictions (it throws), so the namespaces'
 * `jurisdiction()` is observed here: every object of an EU account or chat must be reached through
 * `jurisdiction("eu")`, and nothing else through it. Media is checked in the buckets themselves.
 */
import { env, exports } from "cloudflare:workers";
import { beforeEach, afterEach, describe, expect, it, vi } from "vitest";
import { mediaObjectKey } from "../../src/media/keys";
import { directChatId } from "../../src/protocol/chat-ids";
import { call, makeDevice, register } from "../support/identity";
import { createGroup, groupSend } from "../support/groups";
import { asRecipient, InboxSocket, newMsgId, send } from "../support/messaging";

/** Object names reached through `jurisdiction("eu")`, per namespace, and those reached without it. */
let scoped: Record<string, string[]>;
let unscoped: Record<string, string[]>;

/** The two methods of a Durable Object namespace that address objects, as observed here. */
interface Addressing {
  getByName(name: string, options?: DurableObjectNamespaceGetDurableObjectOptions): unknown;
  jurisdiction(jurisdiction: DurableObjectJurisdiction): unknown;
}

function observe(label: string, binding: object): void {
  const namespace = binding as Addressing;
  const plainGetByName = namespace.getByName.bind(namespace);
  vi.spyOn(namespace, "getByName").mockImplementation((name, options) => {
    (unscoped[label] ??= []).push(name);
    return plainGetByName(name, options);
  });
  vi.spyOn(namespace, "jurisdiction").mockImplementation((jurisdiction) => {
    expect(jurisdiction).toBe("eu");
    // Locally the restricted namespace is the same objects; record what is addressed through it.
    return {
      getByName: (name: string, options?: DurableObjectNamespaceGetDurableObjectOptions) => {
        (scoped[label] ??= []).push(name);
        return plainGetByName(name, options);
      },
    };
  });
}

beforeEach(() => {
  scoped = {};
  unscoped = {};
  observe("inbox", env.DEVICE_INBOX);
  observe("chat", env.CHAT_ROOM);
  observe("presence", env.PRESENCE_ROOM);
});
afterEach(() => vi.restoreAllMocks());

describe("data residency", () => {
  it("keeps an EU account's inboxes, chats and presence inside the EU, also when talking to others", async () => {
    const anna = await register({ jurisdiction: "eu" });
    const bob = await register();
    expect(anna.accountId).toMatch(/^eu-[0-9a-f-]{36}$/);
    expect(bob.accountId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await call("GET", `/v1/accounts/${anna.accountId}`, { token: bob.token })).status).toBe(200);

    const chatId = await directChatId(anna.accountId, bob.accountId);
    expect(chatId).toMatch(/^d_eu_[0-9a-f]{32}$/);
    const toBob = await send(anna, bob.accountId, [asRecipient(bob)], newMsgId());
    expect(toBob.status, JSON.stringify(toBob.body)).toBe(200);
    expect(toBob.body.chat_id).toBe(chatId);
    const toAnna = await send(bob, anna.accountId, [asRecipient(anna)], newMsgId());
    expect(toAnna.status, JSON.stringify(toAnna.body)).toBe(200);

    const socket = await InboxSocket.open(anna);
    const [entry] = await socket.drain();
    expect(entry).toMatchObject({ kind: "message", chat_id: chatId });
    socket.ack(entry!.seq);
    socket.sendFrame({ type: "app_state", state: "foreground" });
    const read = await call("POST", "/v1/receipts/read", { token: anna.token, body: { chat_id: chatId, up_to_seq: 2 } });
    expect(read.status, JSON.stringify(read.body)).toBe(204);
    const receipts = await call("GET", `/v1/chats/${chatId}/messages/2/receipts`, { token: bob.token });
    expect(receipts.status, JSON.stringify(receipts.body)).toBe(200);
    expect(receipts.body.recipients).toEqual([expect.objectContaining({ account_id: anna.accountId, read: true })]);
    expect((await call("GET", `/v1/presence/${anna.accountId}`, { token: bob.token })).status).toBe(200);
    socket.close();

    const annaInbox = `${anna.accountId}.1`;
    expect(scoped.inbox).toContain(annaInbox);
    expect(scoped.chat).toContain(chatId);
    expect(scoped.presence).toContain(`a:${anna.accountId}`);
    // Nothing of Anna's, nor the shared chat, was ever addressed outside the jurisdiction ...
    for (const names of Object.values(unscoped)) for (const name of names) expect(name.includes(anna.accountId) || name === chatId, name).toBe(false);
    // ... and Bob's own objects stay where they are.
    for (const names of Object.values(scoped)) for (const name of names) expect(name.includes(bob.accountId), name).toBe(false);
    expect(unscoped.inbox).toContain(`${bob.accountId}.1`);
  });

  it("places a group with an EU member in the EU: g_eu_ id, its ChatRoom reached through the jurisdiction", async () => {
    const anna = await register({ jurisdiction: "eu" });
    const bob = await register();
    const created = await createGroup(bob, [anna.accountId]);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const chatId = created.body.chat_id as string;
    expect(chatId).toMatch(/^g_eu_[0-9a-f]{32}$/);
    expect((await groupSend(anna, chatId, { distributions: [asRecipient(bob)] })).status).toBe(200);
    expect(scoped.chat).toContain(chatId);
    expect(Object.values(unscoped).flat()).not.toContain(chatId);
    const plain = await createGroup(bob, [(await register()).accountId]);
    expect(plain.body.chat_id).toMatch(/^g_[0-9a-f]{32}$/);
  });

  it("leaves chats between accounts without a jurisdiction unmarked", async () => {
    const a = await register();
    const b = await register();
    const chatId = await directChatId(a.accountId, b.accountId);
    expect(chatId).toMatch(/^d_[0-9a-f]{32}$/);
    expect((await send(a, b.accountId, [asRecipient(b)], newMsgId())).status).toBe(200);
    const reachedInJurisdiction = Object.values(scoped).flat();
    for (const name of [chatId, `${a.accountId}.1`, `${b.accountId}.1`]) expect(reachedInJurisdiction).not.toContain(name);
  });

  it("stores an EU account's media in the EU bucket only", async () => {
    const anna = await register({ jurisdiction: "eu" });
    const body = crypto.getRandomValues(new Uint8Array(4096));
    const slot = await call("POST", "/v1/media", { token: anna.token, body: { size: body.length, content_class: "image" } });
    expect(slot.status, JSON.stringify(slot.body)).toBe(200);
    const url = new URL(slot.body.upload.url);
    const put = await call("PUT", url.pathname + url.search, { raw: body, contentType: "application/octet-stream" });
    expect(put.status, JSON.stringify(put.body)).toBe(200);

    const key = mediaObjectKey(slot.body.media_id);
    expect(await env.MEDIA_EU.head(key)).not.toBeNull();
    expect(await env.MEDIA.head(key)).toBeNull();
    const got = await exports.default.fetch(`http://parley.test/v1/media/${slot.body.media_id}?cap=${encodeURIComponent(put.body.download_cap)}`);
    expect(got.status).toBe(200);
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(body);
  });

  it("refuses an unknown jurisdiction with a 400", async () => {
    const started = await call("POST", "/v1/verifications", { body: { handle: `resid${Math.floor(Math.random() * 1e6)}` } });
    const res = await call("POST", "/v1/accounts", {
      body: { verification_id: started.body.verification_id, code: started.body.dev_code, device: makeDevice().keys, jurisdiction: "mars" },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBeDefined();
  });
});
