/**
 * Test helpers for the identity layer: real Ed25519/X25519/ML-KEM-768 keys signed exactly as a
 * client signs them, and a tiny JSON client over the Worker (its default export, or its `fetch`
 * called directly with some vars overridden).
 */
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import worker from "../../src/index";
import type { Env } from "../../src/env";
import { fromBase64, toBase64 } from "../../src/protocol/encoding";
import { authChallengeSignedBytes, pqPrekeySignedBytes, signedPrekeySignedBytes } from "../../src/protocol/key-signatures";
import type { DeviceKeysInput } from "../../src/protocol/keys";

export interface TestDevice {
  identitySecret: Uint8Array;
  identityKey: string;
  keys: DeviceKeysInput;
}

export function sign(secret: Uint8Array, message: Uint8Array): string {
  return toBase64(ed25519.sign(message, secret));
}

export function oneTimePrekeys(startId: number, count: number) {
  return Array.from({ length: count }, (_, i) => ({
    key_id: startId + i,
    public_key: toBase64(x25519.getPublicKey(x25519.utils.randomSecretKey())),
  }));
}

export function pqPrekey(identitySecret: Uint8Array, keyId: number, lastResort: boolean) {
  const { publicKey } = ml_kem768.keygen();
  return { key_id: keyId, public_key: toBase64(publicKey), signature: sign(identitySecret, pqPrekeySignedBytes(keyId, publicKey, lastResort)) };
}

export function signedPrekey(identitySecret: Uint8Array, keyId: number) {
  const pub = x25519.getPublicKey(x25519.utils.randomSecretKey());
  return { key_id: keyId, public_key: toBase64(pub), signature: sign(identitySecret, signedPrekeySignedBytes(keyId, pub)) };
}

export function makeDevice(opts: { oneTime?: number; pqOneTime?: number; pqLastResort?: boolean } = {}): TestDevice {
  const identitySecret = ed25519.utils.randomSecretKey();
  const identityKey = toBase64(ed25519.getPublicKey(identitySecret));
  return {
    identitySecret,
    identityKey,
    keys: {
      identity_key: identityKey,
      registration_id: 1 + Math.floor(Math.random() * 0x3ffe),
      signed_prekey: signedPrekey(identitySecret, 1),
      one_time_prekeys: oneTimePrekeys(1, opts.oneTime ?? 10),
      pq_one_time_prekeys: Array.from({ length: opts.pqOneTime ?? 0 }, (_, i) => pqPrekey(identitySecret, 1 + i, false)),
      ...(opts.pqLastResort === false ? {} : { pq_last_resort_prekey: pqPrekey(identitySecret, 1000, true) }),
    },
  };
}

export interface JsonResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface CallOptions {
  body?: unknown;
  token?: string;
  /** Sent as the body verbatim. */
  raw?: BodyInit;
  /** Content-Type of a body: application/json unless given; null sends none. */
  contentType?: string | null;
  headers?: Record<string, string>;
  /**
   * Vars to override for this request only. The request then goes straight to the Worker's
   * `fetch` with a modified env object (the test and the Worker share one isolate, so a
   * `vi.spyOn(globalThis, "fetch")` in the test also sees the Worker's outbound calls).
   */
  env?: Partial<Env>;
}

/** One request to the Worker; the body is parsed as JSON when there is one. */
export async function call<T = any>(method: string, path: string, opts: CallOptions = {}): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  const contentType = opts.contentType === undefined ? "application/json" : opts.contentType;
  const hasBody = opts.body !== undefined || opts.raw !== undefined;
  const explicit = Object.keys(headers).some((name) => name.toLowerCase() === "content-type");
  if (hasBody && contentType !== null && !explicit) headers["content-type"] = contentType;
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const init: RequestInit = { method, headers, body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)) };
  const url = `http://parley.test${path}`;
  let res: Response;
  if (opts.env) {
    const ctx = createExecutionContext();
    res = await worker.fetch(new Request(url, init), { ...env, ...opts.env }, ctx);
    await waitOnExecutionContext(ctx);
  } else {
    res = await exports.default.fetch(url, init);
  }
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

let handleCounter = 0;
export function uniqueHandle(prefix = "user"): string {
  handleCounter++;
  return `${prefix}${handleCounter}x${Math.floor(Math.random() * 1e6)}`;
}

export interface RegisteredDevice extends TestDevice {
  accountId: string;
  deviceId: number;
  handle: string;
  token: string;
}

export async function register(opts: Parameters<typeof makeDevice>[0] & { handle?: string; jurisdiction?: string } = {}): Promise<RegisteredDevice> {
  const handle = opts.handle ?? uniqueHandle();
  const device = makeDevice(opts);
  const started = await call("POST", "/v1/verifications", { body: { handle } });
  if (started.status !== 201) throw new Error(`verification failed: ${JSON.stringify(started.body)}`);
  const created = await call("POST", "/v1/accounts", {
    body: { verification_id: started.body.verification_id, code: started.body.dev_code, device: device.keys, ...(opts.jurisdiction ? { jurisdiction: opts.jurisdiction } : {}) },
  });
  if (created.status !== 201) throw new Error(`registration failed: ${JSON.stringify(created.body)}`);
  return { ...device, accountId: created.body.account_id, deviceId: created.body.device_id, handle: created.body.handle, token: created.body.token };
}

/** The full challenge -> signature -> token flow a client follows. */
export async function login(device: { accountId: string; deviceId: number; identitySecret: Uint8Array }) {
  const challenge = await call("POST", "/v1/auth/challenge", { body: { account_id: device.accountId, device_id: device.deviceId } });
  const signature = sign(device.identitySecret, authChallengeSignedBytes(fromBase64(challenge.body.challenge)!));
  return call("POST", "/v1/auth/token", {
    body: { account_id: device.accountId, device_id: device.deviceId, challenge: challenge.body.challenge, signature },
  });
}
