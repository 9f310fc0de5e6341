/**
 * Push providers and the queue consumer, each against fake provider endpoints that verify what the
 * real ones verify (test/support/push-fakes.ts): the RFC 8291 example as a vector, provider
 * requests, token caching, answer classification, and the consumer's ack/retry/delete decisions.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { loadPushConfig, type ApnsConfig, type FcmConfig, type WebPushConfig } from "../../src/config";
import type { Env } from "../../src/env";
import { fromBase64, toBase64, toBase64Url } from "../../src/protocol/encoding";
import { directChatId } from "../../src/protocol/chat-ids";
import { WAKE_PAYLOAD } from "../../src/protocol/push";
import { ApnsProvider, newProviderTokenCache } from "../../src/push/apns";
import { FcmProvider } from "../../src/push/fcm";
import { parseRetryAfter } from "../../src/push/provider";
import { WebPushProvider } from "../../src/push/webpush";
import { encryptWebPush } from "../../src/push/webpush-encryption";
import worker from "../../src/index";
import vector from "../vectors/rfc8291-webpush.json";
import { call, register, type RegisteredDevice } from "../support/identity";
import { decryptWebPush, FakePushServices } from "../support/push-fakes";

let fake: FakePushServices;
beforeAll(async () => {
  fake = await FakePushServices.start();
});

function configured<T>(c: { ok: true; config: T } | { ok: false; reason: string } | null): T {
  if (!c?.ok) throw new Error(`test push config missing: ${JSON.stringify(c)}`);
  return c.config;
}
const apnsConfig = (): ApnsConfig => configured(loadPushConfig(env).apns);
const fcmConfig = (): FcmConfig => configured(loadPushConfig(env).fcm);
const webPushConfig = (): WebPushConfig => configured(loadPushConfig(env).webpush);

const b64u = (s: string) => fromBase64(s)!;
const randomHex = (bytes: number) => [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");

async function p256Pair(d: string, publicPoint: string, usages: ("deriveBits" | "sign")[]) {
  const point = b64u(publicPoint);
  const jwk: JsonWebKey = { kty: "EC", crv: "P-256", d, x: toBase64Url(point.subarray(1, 33)), y: toBase64Url(point.subarray(33)) };
  return crypto.subtle.importKey("jwk", jwk, { name: "ECDH", namedCurve: "P-256" }, false, usages);
}

describe("RFC 8291 section 5 example", () => {
  it("encrypts to the published body, byte for byte", async () => {
    const body = await encryptWebPush(
      new TextEncoder().encode(vector.plaintext),
      { p256dh: b64u(vector.ua_public), auth: b64u(vector.auth_secret) },
      { privateKey: await p256Pair(vector.as_private, vector.as_public, ["deriveBits"]), publicKey: b64u(vector.as_public) },
      b64u(vector.salt),
    );
    expect(toBase64Url(body)).toBe(vector.body);
  });

  it("the receiving fake decrypts the published body (and refuses a tampered one)", async () => {
    const ua = { privateKey: await p256Pair(vector.ua_private, vector.ua_public, ["deriveBits"]), publicKey: b64u(vector.ua_public), auth: b64u(vector.auth_secret) };
    expect(new TextDecoder().decode(await decryptWebPush(b64u(vector.body), ua))).toBe(vector.plaintext);
    const tampered = b64u(vector.body);
    tampered[tampered.length - 1]! ^= 1;
    await expect(decryptWebPush(tampered, ua)).rejects.toThrow();
  });

  it("refuses malformed subscription keys and salts", async () => {
    const ephemeral = { privateKey: await p256Pair(vector.as_private, vector.as_public, ["deriveBits"]), publicKey: b64u(vector.as_public) };
    const msg = new Uint8Array(4);
    await expect(encryptWebPush(msg, { p256dh: new Uint8Array(64), auth: new Uint8Array(16) }, ephemeral, new Uint8Array(16))).rejects.toThrow(/p256dh/);
    await expect(encryptWebPush(msg, { p256dh: b64u(vector.ua_public), auth: new Uint8Array(15) }, ephemeral, new Uint8Array(16))).rejects.toThrow(/auth/);
    await expect(encryptWebPush(msg, { p256dh: b64u(vector.ua_public), auth: new Uint8Array(16) }, ephemeral, new Uint8Array(8))).rejects.toThrow(/salt/);
  });
});

describe("APNs provider", () => {
  it("sends a contentless alert with the push headers, to production or sandbox, accepted by the verifying fake", async () => {
    const provider = new ApnsProvider(apnsConfig());
    const prod = randomHex(32);
    const sandbox = randomHex(32);
    expect(await provider.send({ platform: "apns", token: prod, environment: "production" }, WAKE_PAYLOAD)).toEqual({ outcome: "delivered" });
    expect(await provider.send({ platform: "apns", token: sandbox, environment: "sandbox" }, WAKE_PAYLOAD)).toEqual({ outcome: "delivered" });
    expect(fake.problems).toEqual([]);
    const [a, b] = [fake.apns.find((r) => r.token === prod)!, fake.apns.find((r) => r.token === sandbox)!];
    expect(a.environment).toBe("production");
    expect(b.environment).toBe("sandbox");
    expect(a.headers).toMatchObject({ "apns-push-type": "alert", "apns-priority": "10", "apns-collapse-id": "parley-inbox", "apns-topic": "chat.parley.test" });
    expect(a.body).toEqual({ aps: { alert: { "loc-key": "PARLEY_NEW_MESSAGES" }, "mutable-content": 1, sound: "default" }, parley: { type: "wake", hint: "parley-inbox" } });
  });

  it("reuses its provider token, renews it before the hour is up, and re-mints after ExpiredProviderToken", async () => {
    // The clock starts 55 minutes in the past so every token it mints is still inside the hour the
    // fake (like APNs) accepts, measured by the real clock.
    let now = Date.now() - 55 * 60 * 1000;
    const provider = new ApnsProvider(apnsConfig(), () => now, newProviderTokenCache());
    const token = randomHex(32);
    const authOf = () => fake.apns.filter((r) => r.token === token).map((r) => r.headers.authorization);
    await provider.send({ platform: "apns", token, environment: "production" }, WAKE_PAYLOAD);
    now += 40 * 60 * 1000;
    await provider.send({ platform: "apns", token, environment: "production" }, WAKE_PAYLOAD);
    expect(new Set(authOf()).size).toBe(1);
    now += 10 * 60 * 1000; // 50 minutes after minting: inside the renewal margin
    await provider.send({ platform: "apns", token, environment: "production" }, WAKE_PAYLOAD);
    expect(new Set(authOf()).size).toBe(2);

    fake.respond.apns = (t) => (t === token ? Response.json({ reason: "ExpiredProviderToken" }, { status: 403 }) : undefined);
    expect(await provider.send({ platform: "apns", token, environment: "production" }, WAKE_PAYLOAD)).toMatchObject({ outcome: "retry" });
    fake.respond.apns = undefined;
    await provider.send({ platform: "apns", token, environment: "production" }, WAKE_PAYLOAD);
    expect(new Set(authOf()).size).toBe(3);
    expect(fake.problems).toEqual([]);
  });

  it("classifies APNs answers: 410 and BadDeviceToken unregistered, 429 with Retry-After, 500 retry", async () => {
    const provider = new ApnsProvider(apnsConfig());
    const send = async (res: Response) => {
      const token = randomHex(32);
      fake.respond.apns = (t) => (t === token ? res : undefined);
      try {
        return await provider.send({ platform: "apns", token, environment: "production" }, WAKE_PAYLOAD);
      } finally {
        fake.respond.apns = undefined;
      }
    };
    expect(await send(Response.json({ reason: "Unregistered", timestamp: 1 }, { status: 410 }))).toMatchObject({ outcome: "unregistered" });
    expect(await send(Response.json({ reason: "BadDeviceToken" }, { status: 400 }))).toMatchObject({ outcome: "unregistered" });
    expect(await send(Response.json({ reason: "TooManyRequests" }, { status: 429, headers: { "retry-after": "42" } }))).toMatchObject({ outcome: "retry", retryAfterSeconds: 42 });
    expect(await send(Response.json({ reason: "InternalServerError" }, { status: 500 }))).toMatchObject({ outcome: "retry" });
    expect(await send(Response.json({ reason: "PayloadTooLarge" }, { status: 413 }))).toMatchObject({ outcome: "rejected" });
  });
});

describe("FCM provider", () => {
  it("exchanges a verified RS256 assertion for an access token once, then sends data messages with it", async () => {
    const provider = new FcmProvider(fcmConfig());
    const before = fake.oauthExchanges.length;
    const tokens = [`fcm-token-${crypto.randomUUID()}`, `fcm-token-${crypto.randomUUID()}`];
    for (const token of tokens) expect(await provider.send({ platform: "fcm", token }, WAKE_PAYLOAD)).toEqual({ outcome: "delivered" });
    expect(fake.problems).toEqual([]);
    expect(fake.oauthExchanges.length - before).toBeLessThanOrEqual(1); // cached (another test may have minted it)
    const sent = fake.fcm.find((r) => r.token === tokens[0])!;
    expect(sent.body).toEqual({
      message: {
        token: tokens[0],
        data: { type: "wake", hint: "parley-inbox" },
        android: { priority: "HIGH", collapse_key: "parley-inbox", ttl: "86400s" },
        apns: {
          headers: { "apns-push-type": "background", "apns-priority": "5", "apns-collapse-id": "parley-inbox" },
          payload: { aps: { "content-available": 1 } },
        },
      },
    });
  });

  it("classifies FCM answers: UNREGISTERED, 429 Retry-After, 401 re-mints the access token", async () => {
    const provider = new FcmProvider(fcmConfig());
    const send = async (res: () => Response) => {
      const token = `fcm-token-${crypto.randomUUID()}`;
      fake.respond.fcm = (t) => (t === token ? res() : undefined);
      try {
        return await provider.send({ platform: "fcm", token }, WAKE_PAYLOAD);
      } finally {
        fake.respond.fcm = undefined;
      }
    };
    const unregistered = () =>
      Response.json({ error: { code: 404, status: "NOT_FOUND", details: [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode: "UNREGISTERED" }] } }, { status: 404 });
    expect(await send(unregistered)).toMatchObject({ outcome: "unregistered" });
    expect(await send(() => Response.json({ error: { code: 429, status: "RESOURCE_EXHAUSTED" } }, { status: 429, headers: { "retry-after": "17" } }))).toMatchObject({ outcome: "retry", retryAfterSeconds: 17 });
    expect(await send(() => Response.json({ error: { code: 400, status: "INVALID_ARGUMENT" } }, { status: 400 }))).toMatchObject({ outcome: "rejected" });
    const exchanges = fake.oauthExchanges.length;
    expect(await send(() => Response.json({ error: { code: 401, status: "UNAUTHENTICATED" } }, { status: 401 }))).toMatchObject({ outcome: "retry" });
    expect(await provider.send({ platform: "fcm", token: `fcm-token-${crypto.randomUUID()}` }, WAKE_PAYLOAD)).toEqual({ outcome: "delivered" });
    expect(fake.oauthExchanges.length).toBe(exchanges + 1);
  });
});

describe("Web Push provider", () => {
  it("encrypts the wake payload for the subscription and signs VAPID; the fake browser decrypts it", async () => {
    const provider = new WebPushProvider(webPushConfig());
    const sub = await fake.subscribe();
    const result = await provider.send({ platform: "webpush", endpoint: sub.endpoint, ...sub.keys }, WAKE_PAYLOAD);
    expect(result).toEqual({ outcome: "delivered" });
    expect(fake.problems).toEqual([]);
    const got = fake.webpush.find((r) => r.endpoint === sub.endpoint)!;
    expect(JSON.parse(got.plaintext)).toEqual({ type: "wake", hint: "parley-inbox" });
    expect(got.headers).toMatchObject({ "content-encoding": "aes128gcm", urgency: "high", topic: "parley-inbox", ttl: "86400" });
  });

  it("classifies answers: 410 and 404 unregistered, 429 and 503 honour Retry-After (seconds or date)", async () => {
    const provider = new WebPushProvider(webPushConfig());
    const send = async (res: Response) => {
      const sub = await fake.subscribe();
      fake.respond.webpush = (e) => (e === sub.endpoint ? res : undefined);
      try {
        return await provider.send({ platform: "webpush", endpoint: sub.endpoint, ...sub.keys }, WAKE_PAYLOAD);
      } finally {
        fake.respond.webpush = undefined;
      }
    };
    expect(await send(new Response(null, { status: 410 }))).toMatchObject({ outcome: "unregistered" });
    expect(await send(new Response(null, { status: 404 }))).toMatchObject({ outcome: "unregistered" });
    expect(await send(new Response(null, { status: 429, headers: { "retry-after": "120" } }))).toMatchObject({ outcome: "retry", retryAfterSeconds: 120 });
    const at = new Date(Date.now() + 90_000).toUTCString();
    const r = await send(new Response(null, { status: 503, headers: { "retry-after": at } }));
    expect(r.outcome).toBe("retry");
    expect(r.outcome === "retry" && r.retryAfterSeconds).toBeGreaterThanOrEqual(85);
  });

  it("parseRetryAfter clamps to what a queue delay can express and ignores garbage", () => {
    expect(parseRetryAfter("999999", 0)).toBe(12 * 3600);
    expect(parseRetryAfter("soon", 0)).toBeUndefined();
    expect(parseRetryAfter(null, 0)).toBeUndefined();
  });
});

// ---- the consumer, one batch at a time ---------------------------------------------------------------

let bobCounter = 0;
/** A device with a push registration and one un-ACKed message in its inbox (no job queued for it). */
async function deviceWithPending(registration: unknown): Promise<{ bob: RegisteredDevice; upToSeq: number }> {
  const [alice, bob] = [await register(), await register()];
  const put = await call("PUT", "/v1/push-token", { token: bob.token, body: registration });
  expect(put.status, JSON.stringify(put.body)).toBe(204);
  bobCounter++;
  // Straight into the inbox without its address: the inbox then cannot schedule a job itself, so
  // the batch below is the only one for this device.
  await env.DEVICE_INBOX.getByName(`${bob.accountId}.${bob.deviceId}`).enqueue([
    {
      kind: "message",
      chat_id: await directChatId(alice.accountId, bob.accountId),
      chat_seq: 1,
      msg_id: `consumer-test-${bobCounter}-${crypto.randomUUID()}`.slice(0, 64),
      sender: { account_id: alice.accountId, device_id: 1 },
      server_ts: Date.now(),
      type: "message",
      content: toBase64(new TextEncoder().encode("ciphertext")),
    },
  ]);
  return { bob, upToSeq: 1 };
}

/** Runs one job through the consumer; `retries` records the options of each retry() call. */
async function runBatch(bob: RegisteredDevice, upToSeq: number, opts: { attempts?: number; env?: Partial<Env> } = {}) {
  const batch = createMessageBatch("parley-push", [
    { id: crypto.randomUUID(), timestamp: new Date(), attempts: opts.attempts ?? 1, body: { account_id: bob.accountId, device_id: bob.deviceId, up_to_seq: upToSeq } },
  ]);
  // getQueueResult reports which messages were retried but not their delay: watch retry() for it.
  const retry = vi.spyOn(batch.messages[0]!, "retry");
  const ctx = createExecutionContext();
  await worker.queue(batch, { ...env, ...opts.env });
  const result = await getQueueResult(batch, ctx);
  return { ...result, retries: retry.mock.calls.map((call) => call[0]) };
}

async function storedToken(device: { accountId: string; deviceId: number }) {
  return env.DB.prepare(`SELECT platform, token FROM push_tokens WHERE account_id = ? AND device_id = ?`).bind(device.accountId, device.deviceId).first();
}

describe("push consumer", () => {
  it("acks a delivered push and never pushes the same seq twice (a redelivered job is a no-op)", async () => {
    const sub = await fake.subscribe();
    const { bob, upToSeq } = await deviceWithPending({ platform: "webpush", subscription: sub });
    const first = await runBatch(bob, upToSeq);
    expect(first.explicitAcks).toHaveLength(1);
    expect(first.retryMessages).toEqual([]);
    const again = await runBatch(bob, upToSeq);
    expect(again.explicitAcks).toHaveLength(1);
    expect(fake.webpush.filter((r) => r.endpoint === sub.endpoint)).toHaveLength(1);
  });

  it("retries a 5xx with exponential backoff from the configured base", async () => {
    const token = `fcm-token-${crypto.randomUUID()}`;
    const { bob, upToSeq } = await deviceWithPending({ platform: "fcm", token });
    fake.respond.fcm = (t) => (t === token ? Response.json({ error: { code: 500, status: "INTERNAL" } }, { status: 500 }) : undefined);
    try {
      const result = await runBatch(bob, upToSeq, { attempts: 3, env: { PUSH_RETRY_BASE_SECONDS: "5" } });
      expect(result.explicitAcks).toEqual([]);
      expect(result.retryMessages).toHaveLength(1);
      expect(result.retries).toEqual([{ delaySeconds: 20 }]);
    } finally {
      fake.respond.fcm = undefined;
    }
  });

  it("retries a 429 after the provider's Retry-After", async () => {
    const token = randomHex(32);
    const { bob, upToSeq } = await deviceWithPending({ platform: "apns", token });
    fake.respond.apns = (t) => (t === token ? Response.json({ reason: "TooManyRequests" }, { status: 429, headers: { "retry-after": "30" } }) : undefined);
    try {
      const result = await runBatch(bob, upToSeq);
      expect(result.retryMessages).toHaveLength(1);
      expect(result.retries).toEqual([{ delaySeconds: 30 }]);
    } finally {
      fake.respond.apns = undefined;
    }
  });

  it("deletes the token when the provider says it is gone (410) and acks", async () => {
    const sub = await fake.subscribe();
    const { bob, upToSeq } = await deviceWithPending({ platform: "webpush", subscription: sub });
    fake.respond.webpush = (e) => (e === sub.endpoint ? new Response(null, { status: 410 }) : undefined);
    try {
      const result = await runBatch(bob, upToSeq);
      expect(result.explicitAcks).toHaveLength(1);
      expect(await storedToken(bob)).toBeNull();
    } finally {
      fake.respond.webpush = undefined;
    }
  });

  it("fails a job for an unconfigured provider permanently, with a log naming what to set", async () => {
    const token = `fcm-token-${crypto.randomUUID()}`;
    const { bob, upToSeq } = await deviceWithPending({ platform: "fcm", token });
    const errors = vi.spyOn(console, "error");
    const result = await runBatch(bob, upToSeq, { env: { FCM_SERVICE_ACCOUNT: undefined } });
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toEqual([]);
    expect(fake.fcm.some((r) => r.token === token)).toBe(false);
    expect(errors.mock.calls.flat().join("\n")).toMatch(/push_rejected.*FCM is not configured/);
    errors.mockRestore();
  });

  it("skips an acknowledged or malformed job without sending", async () => {
    const token = `fcm-token-${crypto.randomUUID()}`;
    const { bob } = await deviceWithPending({ platform: "fcm", token });
    // up_to_seq 0 is not a valid job: acked as malformed.
    const bad = await runBatch(bob, 0);
    expect(bad.explicitAcks).toHaveLength(1);
    expect(fake.fcm.some((r) => r.token === token)).toBe(false);
  });
});
