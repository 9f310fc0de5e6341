/**
 * Push end to end: token registration over HTTP, then the real path (ChatRoom -> DeviceInbox ->
 * `push` queue -> consumer -> provider) against the verifying fakes of test/support/push-fakes.ts.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { directChatId } from "../../src/protocol/chat-ids";
import { addCompanionDevice } from "../support/companions";
import { call, register, type RegisteredDevice } from "../support/identity";
import { asRecipient, fakeCiphertext, InboxSocket, newMsgId, send } from "../support/messaging";
import { TEST_VAPID_PUBLIC_KEY } from "../support/push-credentials";
import { FakePushServices } from "../support/push-fakes";

let fake: FakePushServices;
beforeAll(async () => {
  fake = await FakePushServices.start();
});

const randomHex = (bytes: number) => [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function storedToken(device: { accountId: string; deviceId: number }) {
  return env.DB.prepare(`SELECT platform, token FROM push_tokens WHERE account_id = ? AND device_id = ?`).bind(device.accountId, device.deviceId).first();
}

async function putToken(device: RegisteredDevice, body: unknown) {
  return call("PUT", "/v1/push-token", { token: device.token, body });
}

/** Sends `count` messages from alice to bob, 10 in flight at a time; returns their msg_ids. */
async function burst(alice: RegisteredDevice, bob: RegisteredDevice, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < count; start += 10) {
    const batch = Array.from({ length: Math.min(10, count - start) }, () => newMsgId());
    const results = await Promise.all(batch.map((id) => send(alice, bob.accountId, [asRecipient(bob)], id)));
    for (const res of results) expect(res.status, JSON.stringify(res.body)).toBe(200);
    ids.push(...batch);
  }
  return ids;
}

describe("push token registration", () => {
  it("registers each platform, replaces the previous token, and deletes it", async () => {
    const bob = await register();
    const sub = await fake.subscribe();
    expect((await putToken(bob, { platform: "apns", token: randomHex(32), environment: "sandbox" })).status).toBe(204);
    expect(await storedToken(bob)).toMatchObject({ platform: "apns" });
    expect((await putToken(bob, { platform: "fcm", token: "fcm-token-abcdefghijklmnop" })).status).toBe(204);
    expect(await storedToken(bob)).toEqual({ platform: "fcm", token: "fcm-token-abcdefghijklmnop" });
    expect((await putToken(bob, { platform: "webpush", subscription: sub })).status).toBe(204);
    expect(await storedToken(bob)).toEqual({ platform: "webpush", token: sub.endpoint });

    expect((await call("DELETE", "/v1/push-token", { token: bob.token })).status).toBe(204);
    expect(await storedToken(bob)).toBeNull();
    const again = await call("DELETE", "/v1/push-token", { token: bob.token });
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe("not_found");
  });

  it("refuses malformed registrations with a 400 naming the field", async () => {
    const bob = await register();
    const sub = await fake.subscribe();
    const cases: [unknown, RegExp][] = [
      [{ platform: "webpush", subscription: { ...sub, endpoint: sub.endpoint.replace("https:", "http:") } }, /subscription\.endpoint/],
      [{ platform: "webpush", subscription: { ...sub, keys: { ...sub.keys, auth: "AAAA" } } }, /subscription\.keys\.auth/],
      [{ platform: "webpush", subscription: { ...sub, expirationTime: null } }, /subscription/],
      [{ platform: "apns", token: "not-hex-at-all-not-hex-at-all-xx" }, /token/],
      [{ platform: "apns", token: randomHex(32), environment: "staging" }, /environment/],
      [{ platform: "fcm", token: "x".repeat(5000) }, /token/],
      [{ platform: "fcm", token: "fcm-token-abcdefghijklmnop", extra: 1 }, /extra|unrecognized/i],
      [{ platform: "sms", token: "123" }, /platform/],
      [{}, /platform/],
    ];
    for (const [body, message] of cases) {
      const res = await putToken(bob, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
      expect(res.body.error.message).toMatch(message);
    }
    expect((await call("PUT", "/v1/push-token", { body: { platform: "fcm", token: "fcm-token-abcdefghijklmnop" } })).status).toBe(401);
    expect(await storedToken(bob)).toBeNull();
  });

  it("removing a device deletes its token", async () => {
    const alice = await register();
    const companion = await addCompanionDevice(alice.accountId, 2);
    await env.DB.prepare(`INSERT INTO push_tokens (account_id, device_id, platform, token, updated_at) VALUES (?, 2, 'fcm', 'fcm-token-companion-123', 0)`)
      .bind(alice.accountId)
      .run();
    expect(await storedToken(companion)).not.toBeNull();
    expect((await call("DELETE", "/v1/devices/2", { token: alice.token })).status).toBe(204);
    expect(await storedToken(companion)).toBeNull();
  });
});

describe("the Web Push key for browsers", () => {
  it("hands a device the configured VAPID public key, and 404 where Web Push is not configured", async () => {
    const bob = await register();
    const configured = await call("GET", "/v1/push-token/webpush", { token: bob.token });
    expect(configured.status).toBe(200);
    expect(configured.body).toEqual({ vapid_public_key: TEST_VAPID_PUBLIC_KEY });

    const unconfigured = await call("GET", "/v1/push-token/webpush", {
      token: bob.token,
      env: { VAPID_PUBLIC_KEY: undefined, VAPID_PRIVATE_KEY: undefined, VAPID_SUBJECT: undefined },
    });
    expect(unconfigured.status).toBe(404);
    expect(unconfigured.body.error.code).toBe("not_found");
    // Half a configuration is unusable: browsers are told there is none rather than get a key that fails.
    const broken = await call("GET", "/v1/push-token/webpush", { token: bob.token, env: { VAPID_PRIVATE_KEY: undefined } });
    expect(broken.status).toBe(404);
  });
});

describe("push delivery", () => {
  it("an offline device gets exactly one contentless push for a burst of 50 messages", async () => {
    const [alice, bob] = [await register(), await register()];
    const token = randomHex(32);
    expect((await putToken(bob, { platform: "apns", token })).status).toBe(204);
    const ids = await burst(alice, bob, 50);

    const pushes = () => fake.apns.filter((r) => r.token === token);
    await expect.poll(() => pushes().length, { timeout: 10_000 }).toBe(1);
    await sleep(1000); // any second push would have arrived by now (the local queue batches every 50 ms)
    expect(pushes()).toHaveLength(1);
    expect(fake.problems).toEqual([]);

    // No content, no sender: the exact payload, and none of what identifies the conversation.
    const push = pushes()[0]!;
    expect(push.body).toEqual({ aps: { alert: { "loc-key": "PARLEY_NEW_MESSAGES" }, "mutable-content": 1, sound: "default" }, parley: { type: "wake", hint: "parley-inbox" } });
    const everything = JSON.stringify(push);
    const secrets = [alice.accountId, alice.handle, alice.identityKey, await directChatId(alice.accountId, bob.accountId), ...ids, ...ids.map((id) => fakeCiphertext(id, bob))];
    for (const secret of secrets) expect(everything).not.toContain(secret);
  });

  it("no push job at all for a device without a token, until it registers one", async () => {
    const [alice, bob] = [await register(), await register()];
    const jobs: { account_id: string }[] = [];
    const sendJob = env.PUSH_QUEUE.send.bind(env.PUSH_QUEUE);
    const spy = vi.spyOn(env.PUSH_QUEUE, "send").mockImplementation((job, options) => {
      jobs.push(job as { account_id: string });
      return sendJob(job, options);
    });
    try {
      await burst(alice, bob, 3);
      expect(jobs.filter((j) => j.account_id === bob.accountId)).toHaveLength(0);
      expect((await putToken(bob, { platform: "apns", token: randomHex(32) })).status).toBe(204);
      await burst(alice, bob, 1);
      expect(jobs.filter((j) => j.account_id === bob.accountId)).toHaveLength(1);
      // Deleting the token stops the jobs again (after the coalescing window the next burst would push).
      expect((await call("DELETE", "/v1/push-token", { token: bob.token })).status).toBe(204);
      const before = jobs.length;
      await runInDurableObject(env.DEVICE_INBOX.getByName(`${bob.accountId}.1`), (_inbox, state) => state.storage.sql.exec(`DELETE FROM meta WHERE key = 'push_scheduled_at'`));
      await burst(alice, bob, 1);
      expect(jobs.length).toBe(before);
    } finally {
      spy.mockRestore();
    }
  });

  it("no push while the device is online", async () => {
    const [alice, bob] = [await register(), await register()];
    const sub = await fake.subscribe();
    expect((await putToken(bob, { platform: "webpush", subscription: sub })).status).toBe(204);
    const socket = await InboxSocket.open(bob);
    await socket.drain();
    await burst(alice, bob, 5);
    await socket.until(() => socket.messages().length === 5, "5 messages");
    await sleep(1000);
    expect(fake.webpush.filter((r) => r.endpoint === sub.endpoint)).toHaveLength(0);
    socket.close();
  });

  it("a Web Push payload decrypts to the wake message only, and a 410 deletes the subscription", async () => {
    const [alice, bob] = [await register(), await register()];
    const sub = await fake.subscribe();
    expect((await putToken(bob, { platform: "webpush", subscription: sub })).status).toBe(204);
    fake.respond.webpush = (endpoint) => (endpoint === sub.endpoint ? new Response(null, { status: 410 }) : undefined);
    try {
      const [id] = await burst(alice, bob, 1);
      await expect.poll(() => storedToken(bob), { timeout: 10_000 }).toBeNull();
      const got = fake.webpush.filter((r) => r.endpoint === sub.endpoint);
      expect(got).toHaveLength(1);
      expect(JSON.parse(got[0]!.plaintext)).toEqual({ type: "wake", hint: "parley-inbox" });
      for (const secret of [alice.accountId, alice.handle, id!, fakeCiphertext(id!, bob)]) expect(got[0]!.plaintext).not.toContain(secret);
      expect(fake.problems).toEqual([]);
    } finally {
      fake.respond.webpush = undefined;
    }
  });

  it("a persistent 500 is retried, then the job goes to the dead-letter queue", async () => {
    const [alice, bob] = [await register(), await register()];
    const token = `fcm-token-${crypto.randomUUID()}`;
    expect((await putToken(bob, { platform: "fcm", token })).status).toBe(204);
    const errors = vi.spyOn(console, "error");
    fake.respond.fcm = (t) => (t === token ? Response.json({ error: { code: 500, status: "INTERNAL" } }, { status: 500 }) : undefined);
    try {
      await burst(alice, bob, 1);
      const deadLettered = () => errors.mock.calls.flat().some((line) => String(line).includes("push_dead_lettered") && String(line).includes(bob.accountId));
      await expect.poll(deadLettered, { timeout: 20_000, interval: 100 }).toBe(true);
      // The first attempt plus max_retries (5, wrangler.toml), each really sent to FCM.
      expect(fake.fcm.filter((r) => r.token === token)).toHaveLength(6);
      expect(await storedToken(bob)).not.toBeNull(); // a server error says nothing about the token
    } finally {
      fake.respond.fcm = undefined;
      errors.mockRestore();
    }
  });
});
