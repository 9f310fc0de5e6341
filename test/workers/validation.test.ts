/**
 * Issue 2 acceptance: hostile input. Oversized, malformed, wrong-typed or unknown-field bodies,
 * bad base64, wrong key lengths and invalid path or query parameters each get one clear 4xx with a
 * stable error code, never a 500. Then a sweep sends junk bodies to every route that takes one.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { ErrorCode } from "../../src/errors";
import { MAX_JSON_BODY_BYTES, MAX_PREKEYS_PER_UPLOAD } from "../../src/limits";
import { toBase64 } from "../../src/protocol/encoding";
import { expectError } from "../support/errors";
import { call, makeDevice, oneTimePrekeys, pqPrekey, register, type CallOptions, type RegisteredDevice } from "../support/identity";
import { documentedOperations, examplePath } from "../support/openapi";

const device = makeDevice({ oneTime: 1 });
const keys = device.keys;
const b64 = (length: number) => toBase64(new Uint8Array(length).fill(7));

function registration(deviceKeys: unknown, extra: Record<string, unknown> = {}) {
  return { verification_id: crypto.randomUUID(), code: "123456", device: deviceKeys, ...extra };
}

/** A 32-byte key whose base64 has non-zero trailing bits: not the one canonical encoding. */
const nonCanonical32 = b64(32).slice(0, 42) + "B=";

interface Case {
  name: string;
  method: string;
  path: string;
  /** Send the registered device's token. */
  auth?: boolean;
  opts?: Omit<CallOptions, "token">;
  code: ErrorCode;
  /** For invalid_request from schema validation: where the first problem is. */
  issuePath?: string;
}

const cases: Case[] = [
  // Body framing
  { name: "malformed JSON", method: "POST", path: "/v1/verifications", opts: { raw: '{"handle": "alice"' }, code: "malformed_json" },
  { name: "empty JSON body", method: "POST", path: "/v1/verifications", opts: { raw: "" }, code: "malformed_json" },
  { name: "JSON null body", method: "POST", path: "/v1/verifications", opts: { raw: "null" }, code: "invalid_request", issuePath: "" },
  { name: "JSON array body", method: "POST", path: "/v1/auth/challenge", opts: { body: [] }, code: "invalid_request", issuePath: "" },
  { name: "JSON string body", method: "PUT", path: "/v1/keys/prekeys", auth: true, opts: { body: "keys" }, code: "invalid_request" },
  {
    name: "text/plain content type",
    method: "POST",
    path: "/v1/verifications",
    opts: { raw: '{"handle":"alice"}', contentType: "text/plain" },
    code: "unsupported_media_type",
  },
  {
    name: "form content type",
    method: "PUT",
    path: "/v1/keys/prekeys",
    auth: true,
    opts: { raw: "one_time_prekeys=1", contentType: "application/x-www-form-urlencoded" },
    code: "unsupported_media_type",
  },
  {
    name: "JSON-lookalike content type",
    method: "PUT",
    path: "/v1/keys/prekeys",
    auth: true,
    opts: { raw: "{}", contentType: "application/json-seq" },
    code: "unsupported_media_type",
  },
  {
    name: "body without a content type",
    method: "PUT",
    path: "/v1/keys/prekeys",
    auth: true,
    opts: { raw: new Blob(['{"one_time_prekeys":[]}']), contentType: null },
    code: "unsupported_media_type",
  },
  {
    name: `body over ${MAX_JSON_BODY_BYTES} bytes`,
    method: "POST",
    path: "/v1/verifications",
    opts: { body: { handle: "alice", pad: "x".repeat(MAX_JSON_BODY_BYTES) } },
    code: "payload_too_large",
  },
  {
    name: "oversized body streamed without Content-Length",
    method: "PUT",
    path: "/v1/keys/prekeys",
    auth: true,
    opts: {
      raw: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(" ".repeat(MAX_JSON_BODY_BYTES + 1)));
          controller.close();
        },
      }),
    },
    code: "payload_too_large",
  },

  // Unknown fields
  { name: "unknown top-level field", method: "POST", path: "/v1/verifications", opts: { body: { handle: "alice", admin: true } }, code: "invalid_request", issuePath: "" },
  { name: "unknown nested field", method: "POST", path: "/v1/accounts", opts: { body: registration({ ...keys, extra: 1 }) }, code: "invalid_request", issuePath: "device" },
  {
    name: "unknown field in a signed prekey",
    method: "PUT",
    path: "/v1/keys/signed-prekey",
    auth: true,
    opts: { body: { ...keys.signed_prekey, private_key: b64(32) } },
    code: "invalid_request",
  },
  { name: "missing required field", method: "POST", path: "/v1/accounts", opts: { body: { code: "123456", device: keys } }, code: "invalid_request", issuePath: "verification_id" },

  // Wrong types and ranges
  { name: "handle is a number", method: "POST", path: "/v1/verifications", opts: { body: { handle: 123 } }, code: "invalid_request", issuePath: "handle" },
  { name: "device_id is a string", method: "POST", path: "/v1/auth/challenge", opts: { body: { account_id: crypto.randomUUID(), device_id: "1" } }, code: "invalid_request", issuePath: "device_id" },
  { name: "device_id is 0", method: "POST", path: "/v1/auth/challenge", opts: { body: { account_id: crypto.randomUUID(), device_id: 0 } }, code: "invalid_request", issuePath: "device_id" },
  { name: "account_id is not a uuid", method: "POST", path: "/v1/auth/challenge", opts: { body: { account_id: "alice", device_id: 1 } }, code: "invalid_request", issuePath: "account_id" },
  { name: "code has 5 digits", method: "POST", path: "/v1/accounts", opts: { body: { ...registration(keys), code: "12345" } }, code: "invalid_request", issuePath: "code" },
  { name: "code is a number", method: "POST", path: "/v1/accounts", opts: { body: { ...registration(keys), code: 123456 } }, code: "invalid_request", issuePath: "code" },
  { name: "registration_id is fractional", method: "POST", path: "/v1/accounts", opts: { body: registration({ ...keys, registration_id: 1.5 }) }, code: "invalid_request", issuePath: "device.registration_id" },
  { name: "registration_id above 14 bits", method: "POST", path: "/v1/accounts", opts: { body: registration({ ...keys, registration_id: 0x4000 }) }, code: "invalid_request", issuePath: "device.registration_id" },
  { name: "key_id is a string", method: "PUT", path: "/v1/keys/prekeys", auth: true, opts: { body: { one_time_prekeys: [{ key_id: "1", public_key: b64(32) }] } }, code: "invalid_request", issuePath: "one_time_prekeys.0.key_id" },
  { name: "key_id is negative", method: "PUT", path: "/v1/keys/prekeys", auth: true, opts: { body: { one_time_prekeys: [{ key_id: -1, public_key: b64(32) }] } }, code: "invalid_request", issuePath: "one_time_prekeys.0.key_id" },
  { name: "key_id beyond u32", method: "PUT", path: "/v1/keys/prekeys", auth: true, opts: { body: { one_time_prekeys: [{ key_id: 2 ** 32, public_key: b64(32) }] } }, code: "invalid_request", issuePath: "one_time_prekeys.0.key_id" },
  { name: "prekey list is an object", method: "PUT", path: "/v1/keys/prekeys", auth: true, opts: { body: { one_time_prekeys: { key_id: 1, public_key: b64(32) } } }, code: "invalid_request", issuePath: "one_time_prekeys" },
  { name: "device_name too long", method: "POST", path: "/v1/accounts", opts: { body: registration(keys, { device_name: "x".repeat(65) }) }, code: "invalid_request", issuePath: "device_name" },

  // Base64 and key lengths
  { name: "identity key not base64", method: "POST", path: "/v1/accounts", opts: { body: registration({ ...keys, identity_key: "!!not base64!!" }) }, code: "invalid_request", issuePath: "device.identity_key" },
  { name: "identity key with non-canonical base64", method: "POST", path: "/v1/accounts", opts: { body: registration({ ...keys, identity_key: nonCanonical32 }) }, code: "invalid_request", issuePath: "device.identity_key" },
  { name: "identity key of 31 bytes", method: "POST", path: "/v1/accounts", opts: { body: registration({ ...keys, identity_key: b64(31) }) }, code: "invalid_request", issuePath: "device.identity_key" },
  { name: "identity key of 33 bytes", method: "POST", path: "/v1/accounts", opts: { body: registration({ ...keys, identity_key: b64(33) }) }, code: "invalid_request", issuePath: "device.identity_key" },
  { name: "signature of 63 bytes", method: "PUT", path: "/v1/keys/signed-prekey", auth: true, opts: { body: { ...keys.signed_prekey, signature: b64(63) } }, code: "invalid_request", issuePath: "signature" },
  { name: "X25519 one-time key of 31 bytes", method: "PUT", path: "/v1/keys/prekeys", auth: true, opts: { body: { one_time_prekeys: [{ key_id: 1, public_key: b64(31) }] } }, code: "invalid_request", issuePath: "one_time_prekeys.0.public_key" },
  { name: "ML-KEM key of 1183 bytes", method: "PUT", path: "/v1/keys/pq-last-resort", auth: true, opts: { body: { key_id: 1, public_key: b64(1183), signature: b64(64) } }, code: "invalid_request", issuePath: "public_key" },
  { name: "multi-megabyte base64 string is refused by its length", method: "PUT", path: "/v1/keys/pq-last-resort", auth: true, opts: { body: { key_id: 1, public_key: "A".repeat(200_000), signature: b64(64) } }, code: "invalid_request", issuePath: "public_key" },
  { name: "challenge longer than 64 bytes", method: "POST", path: "/v1/auth/token", opts: { body: { account_id: crypto.randomUUID(), device_id: 1, challenge: b64(65), signature: b64(64) } }, code: "invalid_request", issuePath: "challenge" },
  { name: "token signature not base64", method: "POST", path: "/v1/auth/token", opts: { body: { account_id: crypto.randomUUID(), device_id: 1, challenge: b64(40), signature: "*".repeat(88) } }, code: "invalid_request", issuePath: "signature" },
  { name: "invalid Ed25519 signature on a signed prekey", method: "PUT", path: "/v1/keys/signed-prekey", auth: true, opts: { body: { ...keys.signed_prekey, signature: b64(64) } }, code: "invalid_request" },

  // Counts
  { name: `${MAX_PREKEYS_PER_UPLOAD + 1} one-time prekeys`, method: "PUT", path: "/v1/keys/prekeys", auth: true, opts: { body: { one_time_prekeys: oneTimePrekeys(1, MAX_PREKEYS_PER_UPLOAD + 1) } }, code: "invalid_request", issuePath: "one_time_prekeys" },
  {
    name: `${MAX_PREKEYS_PER_UPLOAD + 1} PQ prekeys`,
    method: "PUT",
    path: "/v1/keys/prekeys",
    auth: true,
    opts: { body: { pq_one_time_prekeys: Array(MAX_PREKEYS_PER_UPLOAD + 1).fill(pqPrekey(device.identitySecret, 1, false)) } },
    code: "invalid_request",
    issuePath: "pq_one_time_prekeys",
  },
  { name: "registration with 101 one-time prekeys", method: "POST", path: "/v1/accounts", opts: { body: registration({ ...keys, one_time_prekeys: oneTimePrekeys(1, 101) }) }, code: "invalid_request", issuePath: "device.one_time_prekeys" },

  // Handles
  ...["ab", "1alice", "al ice", "alice!", "", "a".repeat(33), "x".repeat(65), "+0123456789", "+12345", "+1234567890123456"].map(
    (handle): Case => ({ name: `bad handle ${JSON.stringify(handle.length > 20 ? `${handle.slice(0, 5)}...(${handle.length})` : handle)}`, method: "POST", path: "/v1/verifications", opts: { body: { handle } }, code: "invalid_request", issuePath: "handle" }),
  ),

  // Path and query parameters
  { name: "bundle for a non-uuid account", method: "GET", path: "/v1/keys/bundle/not-a-uuid", auth: true, code: "invalid_request", issuePath: "account_id" },
  { name: "bundle for an upper-case uuid", method: "GET", path: `/v1/keys/bundle/${crypto.randomUUID().toUpperCase()}`, auth: true, code: "invalid_request", issuePath: "account_id" },
  { name: "bundle with device_id=0", method: "GET", path: `/v1/keys/bundle/${crypto.randomUUID()}?device_id=0`, auth: true, code: "invalid_request", issuePath: "device_id" },
  { name: "bundle with device_id=abc", method: "GET", path: `/v1/keys/bundle/${crypto.randomUUID()}?device_id=abc`, auth: true, code: "invalid_request", issuePath: "device_id" },
  { name: "remove device 0", method: "DELETE", path: "/v1/devices/0", auth: true, code: "invalid_request", issuePath: "device_id" },
  { name: "remove device -1", method: "DELETE", path: "/v1/devices/-1", auth: true, code: "invalid_request", issuePath: "device_id" },
  { name: "remove device abc", method: "DELETE", path: "/v1/devices/abc", auth: true, code: "invalid_request", issuePath: "device_id" },
  { name: "remove device 1e3", method: "DELETE", path: "/v1/devices/1e3", auth: true, code: "invalid_request", issuePath: "device_id" },
  { name: "remove device with 8 digits", method: "DELETE", path: "/v1/devices/12345678", auth: true, code: "invalid_request", issuePath: "device_id" },
  { name: "account lookup by non-uuid", method: "GET", path: "/v1/accounts/12345", auth: true, code: "invalid_request", issuePath: "account_id" },
  { name: "lookup by an invalid handle", method: "GET", path: "/v1/accounts/by-handle/a%20b", auth: true, code: "invalid_request", issuePath: "handle" },
  { name: "lookup by a broken percent-encoding", method: "GET", path: "/v1/accounts/by-handle/%E0%A4%A", auth: true, code: "invalid_request", issuePath: "handle" },
  { name: "bundle with a repeated device_id", method: "GET", path: `/v1/keys/bundle/${crypto.randomUUID()}?device_id=1&device_id=2`, auth: true, code: "invalid_request", issuePath: "device_id" },

  // Routing
  { name: "unknown route", method: "GET", path: "/v1/nope", code: "not_found" },
  { name: "unknown method on a route", method: "PATCH", path: "/v1/devices", auth: true, opts: { body: {} }, code: "not_found" },
];

let caller: RegisteredDevice;
beforeAll(async () => {
  caller = await register();
});

describe("hostile input gets one clear 4xx", () => {
  it.each(cases.map((c) => [`${c.method} ${c.path.slice(0, 60)}: ${c.name}`, c] as const))("%s", async (_title, c) => {
    const res = await call(c.method, c.path, { ...c.opts, token: c.auth ? caller.token : undefined });
    const err = expectError(res, c.code);
    if (c.issuePath !== undefined) {
      expect(err.details.issues[0].path).toBe(c.issuePath);
      expect(err.message).toContain(c.issuePath || "(root)");
    }
  });

  it("none of the refused uploads stored anything", async () => {
    const counts = await call("GET", "/v1/keys/prekeys", { token: caller.token });
    expect(counts.body).toEqual({ one_time_prekeys: caller.keys.one_time_prekeys!.length, pq_one_time_prekeys: 0, pq_last_resort: true });
  });
});

describe("junk bodies on every route that takes one", () => {
  const junk: [string, string][] = [
    ["truncated JSON", '{"a":'],
    ["a number", "42"],
    ["true", "true"],
    ["a foreign object", '{"__proto__":{"admin":true},"constructor":1}'],
    ["deep nesting", "[".repeat(5000) + "]".repeat(5000)],
    ["binary noise", "\u0000\u00ff\ufffd"],
  ];

  it("answers 4xx to each, never 5xx", async () => {
    const doc = await call("GET", "/v1/openapi.json");
    const withBody = documentedOperations(doc.body).filter((op) => op.operation.requestBody);
    expect(withBody.length).toBeGreaterThanOrEqual(6);
    const failures: string[] = [];
    for (const op of withBody) {
      for (const [label, raw] of junk) {
        const res = await call(op.method.toUpperCase(), examplePath(op.path), { raw, token: caller.token });
        const body = res.body as { error?: { code?: string } };
        if (res.status < 400 || res.status >= 500 || typeof body.error?.code !== "string") {
          failures.push(`${op.method} ${op.path} with ${label}: ${res.status} ${JSON.stringify(body)}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });
});
