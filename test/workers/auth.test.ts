/**
 * Issue 2 acceptance: authentication. The challenge -> Ed25519 signature -> token flow and each
 * way it refuses (replayed, forged, expired or foreign challenge; wrong key; unknown device), and
 * bearer tokens on protected routes (missing, malformed, forged, expired -> 401 with
 * unauthorized / token_expired).
 */
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { AUTH_CHALLENGE_TTL_MS, AUTH_CLOCK_SKEW_MS } from "../../src/limits";
import { fromBase64, toBase64, toBase64Url, utf8 } from "../../src/protocol/encoding";
import { authChallengeSignedBytes } from "../../src/protocol/key-signatures";
import { expectError } from "../support/errors";
import { call, login, makeDevice, register, sign, type RegisteredDevice } from "../support/identity";
import { mintToken } from "../support/tokens";
import { startInsideWindow } from "../support/rate-limits";

afterEach(() => {
  vi.useRealTimers();
});

async function challengeFor(accountId: string, deviceId: number) {
  const res = await call("POST", "/v1/auth/challenge", { body: { account_id: accountId, device_id: deviceId } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as { challenge: string; expires_at: number };
}

function answer(device: { accountId: string; deviceId: number }, challenge: string, signature: string) {
  return call("POST", "/v1/auth/token", { body: { account_id: device.accountId, device_id: device.deviceId, challenge, signature } });
}

function signChallenge(secret: Uint8Array, challenge: string): string {
  return sign(secret, authChallengeSignedBytes(fromBase64(challenge)!));
}

/** The challenge with one bit flipped at `byteIndex`. */
function tamper(challenge: string, byteIndex: number): string {
  const bytes = fromBase64(challenge)!;
  bytes[byteIndex]! ^= 0x01;
  return toBase64(bytes);
}

const whoami = (token: string) => call("GET", "/v1/devices", { token });

describe("challenge -> token", () => {
  it("issues a token for a correctly signed challenge", async () => {
    const d = await register();
    const before = Date.now();
    const c = await challengeFor(d.accountId, 1);
    expect(fromBase64(c.challenge)).toHaveLength(40);
    expect(c.expires_at).toBeGreaterThanOrEqual(before + AUTH_CHALLENGE_TTL_MS);
    const res = await answer(d, c.challenge, signChallenge(d.identitySecret, c.challenge));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ token: expect.stringMatching(/^pt1\./), expires_at: expect.any(Number), account_id: d.accountId, device_id: 1 });
    expect(res.body.expires_at).toBeGreaterThanOrEqual(before + 600_000);
    expect((await whoami(res.body.token)).status).toBe(200);
    // Renewal does not revoke earlier tokens: they simply expire.
    expect((await whoami(d.token)).status).toBe(200);
  });

  it("refuses a replayed challenge, also when replays race", async () => {
    const d = await register();
    const c = await challengeFor(d.accountId, 1);
    const signature = signChallenge(d.identitySecret, c.challenge);
    expect((await answer(d, c.challenge, signature)).status).toBe(200);
    expect(expectError(await answer(d, c.challenge, signature), "unauthorized").message).toMatch(/already used/);

    const racing = await challengeFor(d.accountId, 1);
    const sig = signChallenge(d.identitySecret, racing.challenge);
    const results = await Promise.all(Array.from({ length: 5 }, () => answer(d, racing.challenge, sig)));
    expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401, 401, 401]);
  });

  it("refuses a forged challenge (nonce, expiry or MAC altered)", async () => {
    const d = await register();
    const c = await challengeFor(d.accountId, 1);
    for (const byte of [0, 20, 39]) {
      const forged = tamper(c.challenge, byte);
      expect(expectError(await answer(d, forged, signChallenge(d.identitySecret, forged)), "unauthorized").message).toBe("invalid challenge");
    }
    // A challenge of the wrong length never verifies either.
    const short = toBase64(fromBase64(c.challenge)!.subarray(0, 39));
    expectError(await answer(d, short, signChallenge(d.identitySecret, short)), "unauthorized");
    // The untouched challenge still works: failures did not consume it.
    expect((await answer(d, c.challenge, signChallenge(d.identitySecret, c.challenge))).status).toBe(200);
  });

  it("refuses a challenge issued for another device or account", async () => {
    const a = await register();
    const b = await register();
    const forA = await challengeFor(a.accountId, 1);
    // b signs a's challenge with b's key and presents it as b.
    expectError(await answer(b, forA.challenge, signChallenge(b.identitySecret, forA.challenge)), "unauthorized");
    // A challenge for a's device 2 cannot be used for a's device 1.
    const forA2 = await challengeFor(a.accountId, 2);
    expectError(await answer(a, forA2.challenge, signChallenge(a.identitySecret, forA2.challenge)), "unauthorized");
  });

  it("refuses an expired challenge", async () => {
    const d = await register();
    const c = await challengeFor(d.accountId, 1);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(c.expires_at);
    expect(expectError(await answer(d, c.challenge, signChallenge(d.identitySecret, c.challenge)), "unauthorized").message).toBe(
      "challenge expired",
    );
  });

  it("refuses a signature by another key", async () => {
    const d = await register();
    const c = await challengeFor(d.accountId, 1);
    const res = await answer(d, c.challenge, signChallenge(makeDevice().identitySecret, c.challenge));
    expect(expectError(res, "unauthorized").message).toMatch(/signature/);
    // A signature over the bare challenge (no domain label) is not an answer either.
    expectError(await answer(d, c.challenge, sign(d.identitySecret, fromBase64(c.challenge)!)), "unauthorized");
  });

  it("issues challenges for devices that do not exist (revealing nothing) but never a token", async () => {
    const d = await register();
    const c = await challengeFor(d.accountId, 7);
    const ghost = { accountId: d.accountId, deviceId: 7 };
    expect(expectError(await answer(ghost, c.challenge, signChallenge(d.identitySecret, c.challenge)), "unauthorized").message).toMatch(
      /unknown or removed/,
    );
    const unknownAccount = { accountId: crypto.randomUUID(), deviceId: 1 };
    const c2 = await challengeFor(unknownAccount.accountId, 1);
    expectError(await answer(unknownAccount, c2.challenge, signChallenge(d.identitySecret, c2.challenge)), "unauthorized");
  });

  it("the full login helper works end to end", async () => {
    const d = await register();
    expect((await login(d)).status).toBe(200);
  });

  it("rate-limits challenge requests per client IP", async () => {
    const d = await register();
    const from = (ip: string) => call("POST", "/v1/auth/challenge", { body: { account_id: d.accountId, device_id: 1 }, headers: { "cf-connecting-ip": ip } });
    // The local rate limiter counts in fixed windows aligned to the wall-clock minute: start well
    // inside one so that the 101 requests (about a second) cannot straddle a reset.
    await startInsideWindow(60_000, 10_000);
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) statuses.push((await from("198.51.100.7")).status);
    expect(statuses).toEqual(Array(100).fill(200));
    const limited = await from("198.51.100.7");
    expectError(limited, "rate_limited");
    expect(limited.headers.get("retry-after")).toBe("60");
    expect((await from("198.51.100.8")).status).toBe(200);
  });
});

describe("bearer tokens on protected routes", () => {
  let device: RegisteredDevice;
  const principal = () => ({ accountId: device.accountId, deviceId: device.deviceId });

  beforeAll(async () => {
    device = await register();
  });

  it("accepts the registration token", async () => {
    expect((await whoami(device.token)).status).toBe(200);
  });

  it("refuses a missing token", async () => {
    expect(expectError(await call("GET", "/v1/devices"), "unauthorized").message).toBe("missing bearer token");
  });

  it.each([
    ["Basic dXNlcjpwYXNz", /Bearer/],
    ["Bearer", /Bearer/],
    ["Bearer a b", /Bearer/],
    ["Bearer not-a-token", /invalid token/],
    ["Bearer pt1.e30.AAAA", /invalid token/],
    [`Bearer pt1.${"A".repeat(600)}.${"A".repeat(43)}`, /invalid token/],
  ])("refuses a malformed Authorization header: %s", async (header, message) => {
    expect(expectError(await call("GET", "/v1/devices", { headers: { authorization: header } }), "unauthorized").message).toMatch(message);
  });

  it("refuses a token whose claims were altered (MAC no longer matches)", async () => {
    const [prefix, , mac] = device.token.split(".");
    const altered = toBase64Url(utf8(JSON.stringify({ a: device.accountId, d: 2, i: Date.now(), e: Date.now() + 600_000 })));
    expectError(await whoami(`${prefix}.${altered}.${mac}`), "unauthorized");
  });

  it("refuses a token minted under another secret", async () => {
    const token = await mintToken(principal(), { issuedAt: Date.now(), secret: "another-secret-that-is-long-enough-0123456789" });
    expect(expectError(await whoami(token), "unauthorized").message).toBe("invalid token");
  });

  it("refuses an expired token with token_expired", async () => {
    const token = await mintToken(principal(), { issuedAt: Date.now() - 601_000, ttlSeconds: 600 });
    expect(expectError(await whoami(token), "token_expired").message).toMatch(/POST \/v1\/auth\/token/);
  });

  it("a token works until the millisecond it expires", async () => {
    const fresh = await login(device);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(fresh.body.expires_at - 1);
    expect((await whoami(fresh.body.token)).status).toBe(200);
    vi.setSystemTime(fresh.body.expires_at);
    expectError(await whoami(fresh.body.token), "token_expired");
  });

  it("tolerates clock skew for tokens issued slightly in the future, not more", async () => {
    const skewed = await mintToken(principal(), { issuedAt: Date.now() + AUTH_CLOCK_SKEW_MS / 2 });
    expect((await whoami(skewed)).status).toBe(200);
    const future = await mintToken(principal(), { issuedAt: Date.now() + AUTH_CLOCK_SKEW_MS + 60_000 });
    expectError(await whoami(future), "token_expired");
  });

  it("takes ?token= only on WebSocket upgrade requests", async () => {
    const query = `/v1/devices?token=${encodeURIComponent(device.token)}`;
    expectError(await call("GET", query), "unauthorized");
    expect((await call("GET", query, { headers: { upgrade: "websocket" } })).status).toBe(200);
    const expired = await mintToken(principal(), { issuedAt: Date.now() - 601_000 });
    expectError(await call("GET", `/v1/devices?token=${encodeURIComponent(expired)}`, { headers: { upgrade: "websocket" } }), "token_expired");
  });
});
