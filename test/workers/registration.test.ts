/**
 * Issue 2 acceptance: registration by verified handle. Happy path, every failure of a code
 * (wrong, reused, expired, too many attempts), duplicate handles, per-handle code limits, and the
 * webhook sender that delivers codes in production.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { VERIFICATION_MAX_ATTEMPTS, VERIFICATION_TTL_MS } from "../../src/limits";
import { hmacSha256Hex } from "../support/crypto";
import { expectError } from "../support/errors";
import { call, makeDevice, register, signedPrekey, uniqueHandle } from "../support/identity";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function startVerification(handle: string) {
  const res = await call("POST", "/v1/verifications", { body: { handle } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { verification_id: string; handle: string; expires_at: number; dev_code: string };
}

function createAccount(verificationId: string, code: string, keys = makeDevice().keys, extra: Record<string, unknown> = {}) {
  return call("POST", "/v1/accounts", { body: { verification_id: verificationId, code, device: keys, ...extra } });
}

/** A well-formed code that is certainly not `code`. */
function wrongCode(code: string): string {
  return code.slice(0, -1) + String((Number(code.at(-1)) + 1) % 10);
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("registration happy path", () => {
  it("verifies a username, creates the account with primary device 1 and a working token", async () => {
    const raw = ` ${uniqueHandle("Alice.").toUpperCase()} `;
    const before = Date.now();
    const started = await startVerification(raw);
    expect(started.handle).toBe(raw.trim().toLowerCase());
    expect(started.dev_code).toMatch(/^[0-9]{6}$/);
    expect(started.expires_at).toBeGreaterThanOrEqual(before + VERIFICATION_TTL_MS);
    expect(started.expires_at).toBeLessThanOrEqual(Date.now() + VERIFICATION_TTL_MS);

    const device = makeDevice({ oneTime: 3, pqOneTime: 2 });
    const created = await createAccount(started.verification_id, started.dev_code, device.keys, { device_name: "Alice's phone" });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toEqual({
      account_id: expect.stringMatching(UUID_V4),
      device_id: 1,
      handle: started.handle,
      token: expect.stringMatching(/^pt1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/),
      token_expires_at: expect.any(Number),
    });
    expect(created.body.token_expires_at).toBeGreaterThanOrEqual(before + 600_000);
    expect(created.body.token_expires_at).toBeLessThanOrEqual(Date.now() + 600_000);

    const token = created.body.token as string;
    const listed = await call("GET", "/v1/devices", { token });
    expect(listed.status).toBe(200);
    expect(listed.body.devices).toEqual([
      {
        device_id: 1,
        name: "Alice's phone",
        identity_key: device.identityKey,
        registration_id: device.keys.registration_id,
        created_at: expect.any(Number),
      },
    ]);
    const counts = await call("GET", "/v1/keys/prekeys", { token });
    expect(counts.body).toEqual({ one_time_prekeys: 3, pq_one_time_prekeys: 2, pq_last_resort: true });

    const byHandle = await call("GET", `/v1/accounts/by-handle/${encodeURIComponent(raw.trim())}`, { token });
    expect(byHandle.status).toBe(200);
    expect(byHandle.body).toEqual({ account_id: created.body.account_id, handle: started.handle });
    const byId = await call("GET", `/v1/accounts/${created.body.account_id}`, { token });
    expect(byId.body).toEqual({ account_id: created.body.account_id, handle: started.handle });
  });

  it("normalises phone numbers to E.164", async () => {
    const started = await startVerification("+44 (20) 7946-0018");
    expect(started.handle).toBe("+442079460018");
    const created = await createAccount(started.verification_id, started.dev_code);
    expect(created.status).toBe(201);
    expect(created.body.handle).toBe("+442079460018");
  });

  it("looking up an unknown handle or account is a 404", async () => {
    const { token } = await register();
    expectError(await call("GET", `/v1/accounts/by-handle/${uniqueHandle("nobody")}`, { token }), "not_found");
    expectError(await call("GET", `/v1/accounts/${crypto.randomUUID()}`, { token }), "not_found");
  });
});

describe("registration failures", () => {
  it("a wrong code is refused with the attempts left, and the right code still works", async () => {
    const started = await startVerification(uniqueHandle());
    const err = expectError(await createAccount(started.verification_id, wrongCode(started.dev_code)), "verification_failed");
    expect(err.details).toEqual({ attempts_left: VERIFICATION_MAX_ATTEMPTS - 1 });
    expect((await createAccount(started.verification_id, started.dev_code)).status).toBe(201);
  });

  it("an unknown verification id is a 404", async () => {
    expectError(await createAccount(crypto.randomUUID(), "123456"), "not_found");
  });

  it("a code is single-use", async () => {
    const started = await startVerification(uniqueHandle());
    expect((await createAccount(started.verification_id, started.dev_code)).status).toBe(201);
    expectError(await createAccount(started.verification_id, started.dev_code), "verification_used");
    // Used is checked before the code: a wrong guess learns nothing more.
    expectError(await createAccount(started.verification_id, wrongCode(started.dev_code)), "verification_used");
  });

  it("a code expires after its lifetime", async () => {
    const started = await startVerification(uniqueHandle());
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(started.expires_at - 1);
    // Still valid one millisecond before expiry (checked with a wrong code so it is not used up).
    expectError(await createAccount(started.verification_id, wrongCode(started.dev_code)), "verification_failed");
    vi.setSystemTime(started.expires_at);
    expectError(await createAccount(started.verification_id, started.dev_code), "verification_expired");
  });

  it(`allows ${VERIFICATION_MAX_ATTEMPTS} wrong guesses, then refuses even the right code`, async () => {
    const started = await startVerification(uniqueHandle());
    const left: unknown[] = [];
    for (let i = 0; i < VERIFICATION_MAX_ATTEMPTS; i++) {
      left.push(expectError(await createAccount(started.verification_id, wrongCode(started.dev_code)), "verification_failed").details);
    }
    expect(left).toEqual([4, 3, 2, 1, 0].map((n) => ({ attempts_left: n })));
    expectError(await createAccount(started.verification_id, wrongCode(started.dev_code)), "too_many_attempts");
    expectError(await createAccount(started.verification_id, started.dev_code), "too_many_attempts");
  });

  it("concurrent guesses cannot exceed the attempt budget", async () => {
    const started = await startVerification(uniqueHandle());
    const results = await Promise.all(
      Array.from({ length: 12 }, () => createAccount(started.verification_id, wrongCode(started.dev_code))),
    );
    const codes = results.map((r) => r.body.error.code);
    expect(codes.filter((c) => c === "verification_failed")).toHaveLength(VERIFICATION_MAX_ATTEMPTS);
    expect(codes.filter((c) => c === "too_many_attempts")).toHaveLength(12 - VERIFICATION_MAX_ATTEMPTS);
  });

  it("refuses a verification for a handle that is taken (case-insensitively)", async () => {
    const existing = await register();
    expectError(await call("POST", "/v1/verifications", { body: { handle: existing.handle } }), "handle_taken");
    expectError(await call("POST", "/v1/verifications", { body: { handle: existing.handle.toUpperCase() } }), "handle_taken");
  });

  it("of two verified registrations racing for one handle, only the first gets it", async () => {
    const handle = uniqueHandle();
    const first = await startVerification(handle);
    const second = await startVerification(handle);
    expect((await createAccount(first.verification_id, first.dev_code)).status).toBe(201);
    expectError(await createAccount(second.verification_id, second.dev_code), "handle_taken");
    // Concurrently, too: exactly one account for the handle.
    const racing = uniqueHandle();
    const a = await startVerification(racing);
    const b = await startVerification(racing);
    const results = await Promise.all([createAccount(a.verification_id, a.dev_code), createAccount(b.verification_id, b.dev_code)]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    expect(results.find((r) => r.status === 409)!.body.error.code).toBe("handle_taken");
  });

  it("a bad key signature is a 400 that stores nothing and spends no attempt", async () => {
    const started = await startVerification(uniqueHandle());
    const device = makeDevice();
    const other = makeDevice();
    // The signed prekey is signed by another identity key.
    const forged = { ...device.keys, signed_prekey: signedPrekey(other.identitySecret, 1) };
    const err = expectError(await createAccount(started.verification_id, started.dev_code, forged), "invalid_request");
    expect(err.details).toEqual({ field: "device.signed_prekey" });
    // A PQ prekey signed as one-time but presented as the last-resort key.
    const swapped = { ...device.keys, pq_last_resort_prekey: makeDevice({ pqOneTime: 1 }).keys.pq_one_time_prekeys![0]! };
    expectError(await createAccount(started.verification_id, started.dev_code, swapped), "invalid_request");
    expect(
      expectError(await createAccount(started.verification_id, wrongCode(started.dev_code)), "verification_failed").details,
    ).toEqual({ attempts_left: VERIFICATION_MAX_ATTEMPTS - 1 });
    expect((await createAccount(started.verification_id, started.dev_code, device.keys)).status).toBe(201);
  });

  it("duplicate prekey ids in one registration are refused", async () => {
    const started = await startVerification(uniqueHandle());
    const device = makeDevice({ oneTime: 2 });
    const keys = { ...device.keys, one_time_prekeys: [device.keys.one_time_prekeys![0]!, { ...device.keys.one_time_prekeys![1]!, key_id: 1 }] };
    expect(expectError(await createAccount(started.verification_id, started.dev_code, keys), "invalid_request").details).toEqual({
      field: "device.one_time_prekeys",
    });
  });

  it("limits codes per handle to 5 an hour", async () => {
    const handle = uniqueHandle();
    for (let i = 0; i < 5; i++) await startVerification(handle);
    const res = await call("POST", "/v1/verifications", { body: { handle } });
    expectError(res, "rate_limited");
    expect(res.headers.get("retry-after")).toBe("3600");
  });
});

describe("webhook verification sender", () => {
  const WEBHOOK = {
    PARLEY_ENV: "production",
    VERIFICATION_SENDER: "webhook",
    VERIFICATION_WEBHOOK_URL: "https://sms-gateway.example/parley/codes",
    VERIFICATION_WEBHOOK_SECRET: "webhook-secret-0123456789abcdef",
  };

  it("POSTs the code, signed, to the gateway and never returns it to the caller", async () => {
    const gateway = vi.spyOn(globalThis, "fetch").mockResolvedValue(new Response(null, { status: 204 }));
    const handle = uniqueHandle();
    const started = await call("POST", "/v1/verifications", { body: { handle }, env: WEBHOOK });
    expect(started.status).toBe(201);
    expect(started.body).toEqual({ verification_id: expect.any(String), handle, expires_at: expect.any(Number) });

    expect(gateway).toHaveBeenCalledTimes(1);
    const [url, init] = gateway.mock.calls[0]!;
    expect(url).toBe(WEBHOOK.VERIFICATION_WEBHOOK_URL);
    expect(init?.method).toBe("POST");
    const headers = new Headers(init?.headers);
    expect(headers.get("content-type")).toBe("application/json");
    const body = init?.body as string;
    expect(headers.get("x-parley-signature")).toBe(`sha256=${await hmacSha256Hex(WEBHOOK.VERIFICATION_WEBHOOK_SECRET, body)}`);
    const sent = JSON.parse(body);
    expect(sent).toEqual({ handle, code: expect.stringMatching(/^[0-9]{6}$/), expires_at: started.body.expires_at });

    // The code the gateway received is the one that registers.
    const created = await call("POST", "/v1/accounts", {
      body: { verification_id: started.body.verification_id, code: sent.code, device: makeDevice().keys },
      env: WEBHOOK,
    });
    expect(created.status).toBe(201);
    expect(created.body.handle).toBe(handle);
  });

  it("a failing or unreachable gateway is a 502 upstream_failed", async () => {
    const gateway = vi.spyOn(globalThis, "fetch").mockResolvedValueOnce(new Response("down", { status: 503 }));
    expect(expectError(await call("POST", "/v1/verifications", { body: { handle: uniqueHandle() }, env: WEBHOOK }), "upstream_failed").message).toMatch(/503/);
    gateway.mockRejectedValueOnce(new TypeError("connection refused"));
    expectError(await call("POST", "/v1/verifications", { body: { handle: uniqueHandle() }, env: WEBHOOK }), "upstream_failed");
    expect(gateway).toHaveBeenCalledTimes(2);
  });
});
