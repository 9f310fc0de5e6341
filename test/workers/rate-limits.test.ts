/**
 * Issue 11, rate limits: for each limit, traffic up to it is never refused and the first request
 * past it gets 429 `rate_limited` with Retry-After (and `details.reason` where the client can act
 * on it). Per IP (unauthenticated registration), per device (sends, prekey bundle fetches), per
 * device and chat (sends to one person), and the new-account contact-velocity rule. Limits are
 * lowered per request where the configuration allows, so bursts stay short.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { enforceDeviceQuota } from "../../src/abuse/device-quotas";
import { ApiError } from "../../src/errors";
import { hashedClientIp } from "../../src/middleware/rate-limit";
import { expectError } from "../support/errors";
import { call, makeDevice, register, uniqueHandle, type JsonResponse, type RegisteredDevice } from "../support/identity";
import { asRecipient, envelopesFor, newMsgId, send } from "../support/messaging";
import { startInsideWindow } from "../support/rate-limits";

const HOUR_S = 3600;

function expectRetryAfter(res: { headers: Headers }, max: number): number {
  const seconds = Number(res.headers.get("retry-after"));
  expect(seconds).toBeGreaterThanOrEqual(1);
  expect(seconds).toBeLessThanOrEqual(max);
  return seconds;
}

const sendWith = (from: RegisteredDevice, to: RegisteredDevice, vars: Record<string, string>, msgId = newMsgId()) =>
  call("POST", "/v1/messages", { token: from.token, body: { to: to.accountId, msg_id: msgId, envelopes: envelopesFor(msgId, [asRecipient(to)]) }, env: vars });

describe("sends", () => {
  it("limits one device's messages into one chat per minute; retries, other chats and the other side are not affected", async () => {
    const alice = await register();
    const bob = await register();
    const carol = await register();
    const small = { SENDS_PER_CHAT_PER_MINUTE: "5" };
    await startInsideWindow(60_000, 15_000);
    const accepted: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await sendWith(alice, bob, small);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      accepted.push(res.body.msg_id);
    }
    const limited = await sendWith(alice, bob, small);
    expect(expectError(limited, "rate_limited").details).toMatchObject({ reason: "sends_per_chat" });
    expectRetryAfter(limited, 60);
    // A retry of an accepted message is answered (not counted); the limit is per chat and per device.
    const retried = await sendWith(alice, bob, small, accepted[0]);
    expect(retried.status).toBe(200);
    expect(retried.body.duplicate).toBe(true);
    expect((await sendWith(alice, carol, small)).status).toBe(200);
    expect((await sendWith(bob, alice, small)).status).toBe(200);
  });

  it("limits messages per device through SEND_RATE_LIMITER (600 per 10 s)", async () => {
    const alice = await register();
    const bob = await register();
    await startInsideWindow(10_000, 5_000);
    // The binding is the real one the Worker uses: spend most of the window's allowance directly,
    // then the last sends go through the API.
    for (let i = 0; i < 595; i++) expect((await env.SEND_RATE_LIMITER.limit({ key: `${alice.accountId}.1` })).success).toBe(true);
    for (let i = 0; i < 5; i++) expect((await send(alice, bob.accountId, [asRecipient(bob)])).status).toBe(200);
    const limited = await send(alice, bob.accountId, [asRecipient(bob)]);
    expect(expectError(limited, "rate_limited").details).toMatchObject({ reason: "sends_per_device" });
    expect(limited.headers.get("retry-after")).toBe("10");
    // Another device is not affected.
    expect((await send(bob, alice.accountId, [asRecipient(alice)])).status).toBe(200);
  });
});

describe("prekey bundles", () => {
  it("stops one device draining another account's one-time prekeys", async () => {
    const victim = await register({ oneTime: 10 });
    const attacker = await register();
    const neighbour = await register();
    const small = { PREKEY_BUNDLE_FETCHES_PER_HOUR: "5", NEW_ACCOUNT_AGE_HOURS: "0" };
    const fetch = (by: RegisteredDevice) => call("GET", `/v1/keys/bundle/${victim.accountId}`, { token: by.token, env: small });
    for (let i = 0; i < 5; i++) expect((await fetch(attacker)).status).toBe(200);
    const limited = await fetch(attacker);
    expect(expectError(limited, "rate_limited").details).toMatchObject({ reason: "prekey_bundle_fetches", limit: 5 });
    expectRetryAfter(limited, HOUR_S);
    // Unknown accounts cost the quota too (no free probing).
    expectError(await call("GET", `/v1/keys/bundle/${crypto.randomUUID()}`, { token: attacker.token, env: small }), "rate_limited");
    // Half the victim's keys are left, and other devices can still start sessions.
    const counts = await call("GET", "/v1/keys/prekeys", { token: victim.token });
    expect(counts.body.one_time_prekeys).toBe(5);
    const fetched = await fetch(neighbour);
    expect(fetched.status).toBe(200);
    expect(fetched.body.devices[0].one_time_prekey).not.toBeNull();
  });

  it("slows a new account reaching many distinct people, and says why; older accounts are not affected", async () => {
    const targets = await Promise.all(Array.from({ length: 4 }, () => register()));
    const fresh = await register();
    const rule = { NEW_ACCOUNT_NEW_CONTACTS_PER_HOUR: "3", NEW_ACCOUNT_AGE_HOURS: "48" };
    const bundle = (target: RegisteredDevice, vars: Record<string, string>) => call("GET", `/v1/keys/bundle/${target.accountId}`, { token: fresh.token, env: vars });
    for (const target of targets.slice(0, 3)) expect((await bundle(target, rule)).status).toBe(200);
    // The same people again are not new contacts; nor is the account's own bundle.
    expect((await bundle(targets[0]!, rule)).status).toBe(200);
    expect((await bundle(fresh, rule)).status).toBe(200);
    const limited = await bundle(targets[3]!, rule);
    const error = expectError(limited, "rate_limited");
    expect(error.details).toMatchObject({ reason: "new_account_contact_velocity", limit: 3 });
    expect(error.message).toMatch(/new accounts/);
    expectRetryAfter(limited, HOUR_S);
    // Once the account is past the "new" age, the rule no longer applies.
    expect((await bundle(targets[3]!, { ...rule, NEW_ACCOUNT_AGE_HOURS: "0" })).status).toBe(200);
  });
});

describe("exact per-device quotas for the group and linking routes", () => {
  // The group routes (issue 6) and device linking (issue 10) call enforceDeviceQuota; until they
  // land, the quotas are exercised here directly, through the device's real inbox object.
  it.each([
    ["group_creates", "GROUP_CREATES_PER_HOUR"],
    ["group_adds", "GROUP_ADDS_PER_HOUR"],
    ["link_attempts", "LINK_ATTEMPTS_PER_HOUR"],
  ] as const)("%s: up to the configured limit per hour, then 429 with Retry-After", async (name, variable) => {
    const alice = await register();
    const bob = await register();
    const vars = { ...env, [variable]: "3" };
    const device = { accountId: alice.accountId, deviceId: 1 };
    for (let i = 0; i < 3; i++) await enforceDeviceQuota(vars, device, name);
    const refused = await enforceDeviceQuota(vars, device, name).then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ code: "rate_limited", details: { reason: name, limit: 3 } });
    expect((refused as ApiError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect((refused as ApiError).retryAfterSeconds).toBeLessThanOrEqual(HOUR_S);
    // A cost larger than one counts as many (adding several members at once); other devices are apart.
    await enforceDeviceQuota(vars, { accountId: bob.accountId, deviceId: 1 }, name, { cost: 3 });
    await expect(enforceDeviceQuota(vars, { accountId: bob.accountId, deviceId: 1 }, name)).rejects.toMatchObject({ code: "rate_limited" });
  });
});

describe("unauthenticated endpoints", () => {
  /**
   * The per-IP limit of one route (RATE_LIMITER, 100 a minute): 100 requests from one address are
   * all handled (`handled` status), the 101st is refused with `reason`, another address is not.
   */
  async function expectPerIpLimit(from: (ip: string) => Promise<JsonResponse>, handled: number, reason: string, ip: string, otherIp: string) {
    await startInsideWindow(60_000, 15_000);
    const statuses: number[] = [];
    for (let start = 0; start < 100; start += 20) {
      statuses.push(...(await Promise.all(Array.from({ length: 20 }, () => from(ip)))).map((r) => r.status));
    }
    expect(statuses).toEqual(Array(100).fill(handled));
    const limited = await from(ip);
    expect(expectError(limited, "rate_limited").details).toEqual({ reason });
    expect(limited.headers.get("retry-after")).toBe("60");
    expect((await from(otherIp)).status).toBe(handled);
  }

  it("limits verification codes per client IP (100 a minute)", async () => {
    const from = (ip: string) => call("POST", "/v1/verifications", { body: { handle: uniqueHandle("ipv") }, headers: { "cf-connecting-ip": ip } });
    await expectPerIpLimit(from, 201, "verify_per_ip", "203.0.113.20", "203.0.113.21");
  });

  it("limits registrations per client IP (100 a minute), and never keys the limiter by the IP in clear", async () => {
    const device = makeDevice({ oneTime: 0, pqLastResort: false });
    // Below the limit every request is handled (an unknown verification here), none refused.
    const from = (ip: string) =>
      call("POST", "/v1/accounts", { body: { verification_id: crypto.randomUUID(), code: "123456", device: device.keys }, headers: { "cf-connecting-ip": ip } });
    await expectPerIpLimit(from, 404, "register_per_ip", "203.0.113.9", "203.0.113.10");

    const request = (ip: string) => new Request("http://parley.test/", { headers: { "cf-connecting-ip": ip } });
    const today = Date.now();
    const key = await hashedClientIp(env, request("203.0.113.9"), today);
    expect(key).not.toContain("203");
    expect(key).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(await hashedClientIp(env, request("203.0.113.9"), today)).toBe(key);
    expect(await hashedClientIp(env, request("203.0.113.10"), today)).not.toBe(key);
    // The key rotates daily: tomorrow the same address maps to an unrelated value.
    expect(await hashedClientIp(env, request("203.0.113.9"), today + 86_400_000)).not.toBe(key);
  });
});
