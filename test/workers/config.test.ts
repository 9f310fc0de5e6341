/**
 * Configuration (src/config.ts): an invalid deployment fails every request with one clear
 * `config_invalid` error naming the variable (and logs it) instead of misbehaving; the dev
 * verification sender, which hands codes to the caller, is refused in production.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import { expectError } from "../support/errors";
import { call, makeDevice, register, uniqueHandle } from "../support/identity";

afterEach(() => {
  vi.restoreAllMocks();
});

const WEBHOOK: Partial<Env> = {
  VERIFICATION_SENDER: "webhook",
  VERIFICATION_WEBHOOK_URL: "https://sms-gateway.example/codes",
  VERIFICATION_WEBHOOK_SECRET: "webhook-secret-0123456789abcdef",
};

const invalid: [string, Partial<Env>, string, RegExp?][] = [
  ["a missing token secret", { AUTH_TOKEN_SECRET: undefined }, "AUTH_TOKEN_SECRET", /at least 32 characters/],
  ["a short token secret", { AUTH_TOKEN_SECRET: "too-short-secret" }, "AUTH_TOKEN_SECRET"],
  ["an unknown environment", { PARLEY_ENV: "prod" }, "PARLEY_ENV"],
  ["an unknown log level", { LOG_LEVEL: "verbose" }, "LOG_LEVEL"],
  ["an unknown sender", { VERIFICATION_SENDER: "sms" }, "VERIFICATION_SENDER"],
  ["a non-numeric token lifetime", { AUTH_TOKEN_TTL_SECONDS: "ten minutes" }, "AUTH_TOKEN_TTL_SECONDS"],
  ["a token lifetime under a minute", { AUTH_TOKEN_TTL_SECONDS: "30" }, "AUTH_TOKEN_TTL_SECONDS"],
  ["a token lifetime over an hour", { AUTH_TOKEN_TTL_SECONDS: "7200" }, "AUTH_TOKEN_TTL_SECONDS"],
  ["the webhook sender without a URL", { ...WEBHOOK, VERIFICATION_WEBHOOK_URL: undefined }, "VERIFICATION_WEBHOOK_URL"],
  ["the webhook sender without a secret", { ...WEBHOOK, VERIFICATION_WEBHOOK_SECRET: undefined }, "VERIFICATION_WEBHOOK_SECRET"],
  ["a non-http webhook URL", { ...WEBHOOK, VERIFICATION_WEBHOOK_URL: "ftp://gateway.example/codes" }, "VERIFICATION_WEBHOOK_URL"],
  ["a short webhook secret", { ...WEBHOOK, VERIFICATION_WEBHOOK_SECRET: "short" }, "VERIFICATION_WEBHOOK_SECRET"],
  ["the dev sender in production", { PARLEY_ENV: "production", VERIFICATION_SENDER: "dev" }, "VERIFICATION_SENDER", /refused in production/],
  ["more linked devices than a send can carry", { MAX_LINKED_DEVICES: "8" }, "MAX_LINKED_DEVICES"],
  ["a non-numeric inactivity period", { LINKED_DEVICE_INACTIVE_DAYS: "a month" }, "LINKED_DEVICE_INACTIVE_DAYS"],
  ["the default (dev) sender in production", { PARLEY_ENV: "production", VERIFICATION_SENDER: undefined }, "VERIFICATION_SENDER", /refused in production/],
];

describe("invalid configuration", () => {
  it.each(invalid)("%s is a config_invalid naming %s", async (_name, overrides, variable, detail) => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const err = expectError(await call("GET", "/v1/health", { env: overrides }), "config_invalid");
    expect(err.message).toMatch(new RegExp(`^server configuration is invalid: .*\\b${variable}: `));
    if (detail) expect(err.message).toMatch(detail);
    // Only the variables at fault are named before a colon.
    for (const named of err.message.matchAll(/\b([A-Z_]{6,}): /g)) expect(named[1]).toBe(variable);
    if (overrides.AUTH_TOKEN_SECRET) expect(err.message).not.toContain(overrides.AUTH_TOKEN_SECRET);
    expect(logged).toHaveBeenCalledWith(expect.stringContaining('"code":"config_invalid"'));
  });

  it("fails registration and authenticated routes too, before anything is stored or sent", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const production = { PARLEY_ENV: "production" };
    const handle = uniqueHandle();
    expectError(await call("POST", "/v1/verifications", { body: { handle }, env: production }), "config_invalid");
    const device = await register();
    expectError(await call("GET", "/v1/devices", { token: device.token, env: { AUTH_TOKEN_SECRET: "short" } }), "config_invalid");
    // Nothing was recorded for the refused request: the handle's hourly code budget is untouched.
    for (let i = 0; i < 5; i++) expect((await call("POST", "/v1/verifications", { body: { handle } })).status).toBe(201);
  });
});

describe("valid configuration", () => {
  it("production with the webhook sender is healthy", async () => {
    const res = await call("GET", "/v1/health", { env: { PARLEY_ENV: "production", ...WEBHOOK } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "ok", environment: "production" });
  });

  it("the token lifetime comes from AUTH_TOKEN_TTL_SECONDS", async () => {
    const ttl = { AUTH_TOKEN_TTL_SECONDS: "120" };
    const before = Date.now();
    const started = await call("POST", "/v1/verifications", { body: { handle: uniqueHandle() }, env: ttl });
    const created = await call("POST", "/v1/accounts", {
      body: { verification_id: started.body.verification_id, code: started.body.dev_code, device: makeDevice().keys },
      env: ttl,
    });
    expect(created.status).toBe(201);
    expect(created.body.token_expires_at).toBeGreaterThanOrEqual(before + 120_000);
    expect(created.body.token_expires_at).toBeLessThanOrEqual(Date.now() + 120_000);
  });
});
