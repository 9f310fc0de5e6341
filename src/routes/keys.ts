/**
 * @module Prekeys: a device uploads one-time prekeys (X25519, and signed ML-KEM-768), reads how many
 * remain, rotates its signed prekey and its post-quantum last-resort key; anyone authenticated
 * fetches a prekey bundle for an account (one entry per active device, each one-time key handed
 * out at most once, see src/db/prekeys.ts).
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { checkPqPrekeys, checkSignedPrekey, checkUniqueKeyIds } from "../auth/device-keys";
import type { DevicePrincipal } from "../auth/tokens";
import { findAccount, findActiveDevice, listActiveDevices, runBatch, type DeviceRow } from "../db/accounts";
import { database, type Db } from "../db/client";
import { currentDeviceList } from "../db/device-lists";
import { countPrekeys, prekeyInsertStatements, rotateSignedPrekeyStatement, setPqLastResortStatement, takeOneTimePrekeys } from "../db/prekeys";
import { enforceDeviceQuota, isNewAccount } from "../abuse/device-quotas";
import { loadConfig } from "../config";
import { ApiError } from "../errors";
import { MAX_STORED_PREKEYS_PER_DEVICE } from "../limits";
import { AccountId, DeviceIdParam } from "../protocol/common";
import { PqPrekey, PrekeyBundle, PrekeyCount, PrekeyUpload, SignedPrekey } from "../protocol/keys";
import { authErrors, errorResponse, jsonBody, jsonResponse, deviceRoute } from "./openapi-helpers";

const protectedRoute = deviceRoute("keys");

const uploadRoute = createRoute({
  ...protectedRoute,
  method: "put",
  path: "/keys/prekeys",
  summary: "Upload one-time prekeys (at most 100 of each kind per request)",
  request: { body: jsonBody(PrekeyUpload) },
  responses: {
    200: jsonResponse(PrekeyCount, "Keys stored; counts after the upload"),
    409: errorResponse("conflict: the device would hold more than the stored-prekey cap"),
    ...authErrors,
  },
});

const countRoute = createRoute({
  ...protectedRoute,
  method: "get",
  path: "/keys/prekeys",
  summary: "How many one-time prekeys the calling device has left",
  responses: { 200: jsonResponse(PrekeyCount, "Remaining keys"), ...authErrors },
});

const signedPrekeyRoute = createRoute({
  ...protectedRoute,
  method: "put",
  path: "/keys/signed-prekey",
  summary: "Rotate the signed X25519 prekey",
  request: { body: jsonBody(SignedPrekey) },
  responses: { 204: { description: "Rotated" }, ...authErrors },
});

const pqLastResortRoute = createRoute({
  ...protectedRoute,
  method: "put",
  path: "/keys/pq-last-resort",
  summary: "Set or rotate the ML-KEM-768 last-resort prekey",
  request: { body: jsonBody(PqPrekey) },
  responses: { 204: { description: "Stored" }, ...authErrors },
});

const bundleRoute = createRoute({
  ...protectedRoute,
  method: "get",
  path: "/keys/bundle/{account_id}",
  summary: "Fetch a prekey bundle: one entry per active device (or only ?device_id=N)",
  request: {
    params: z.object({ account_id: AccountId }),
    query: z.object({ device_id: DeviceIdParam.optional() }),
  },
  responses: {
    ...authErrors,
    200: jsonResponse(PrekeyBundle, "The bundle"),
    404: errorResponse("not_found: no such account or device"),
    429: errorResponse("rate_limited: the device's hourly bundle quota, or the new-account contact rule (details.reason); Retry-After"),
  },
});

async function callerDevice(db: Db, principal: DevicePrincipal): Promise<DeviceRow> {
  const device = await findActiveDevice(db, principal.accountId, principal.deviceId);
  if (!device) throw new ApiError("unauthorized", "device removed");
  return device;
}

function toCount(counts: { oneTime: number; pq: number }, device: DeviceRow) {
  return { one_time_prekeys: counts.oneTime, pq_one_time_prekeys: counts.pq, pq_last_resort: device.pqLastResortKey !== null };
}

export const keyRoutes = new OpenAPIHono<AppEnv>()
  .openapi(uploadRoute, async (c) => {
    const principal = c.get("principal");
    const body = c.req.valid("json");
    const db = database(c.env.DB);
    const device = await callerDevice(db, principal);
    checkUniqueKeyIds(body.one_time_prekeys, "one_time_prekeys");
    checkUniqueKeyIds(body.pq_one_time_prekeys, "pq_one_time_prekeys");
    await checkPqPrekeys(device.identityKey, body.pq_one_time_prekeys, false, "pq_one_time_prekeys");
    const before = await countPrekeys(db, principal);
    if (
      before.oneTime + body.one_time_prekeys.length > MAX_STORED_PREKEYS_PER_DEVICE ||
      before.pq + body.pq_one_time_prekeys.length > MAX_STORED_PREKEYS_PER_DEVICE
    ) {
      throw new ApiError("conflict", `a device stores at most ${MAX_STORED_PREKEYS_PER_DEVICE} one-time prekeys of each kind`, {
        stored: toCount(before, device),
      });
    }
    await runBatch(db, prekeyInsertStatements(db, principal, body.one_time_prekeys, body.pq_one_time_prekeys));
    return c.json(toCount(await countPrekeys(db, principal), device), 200);
  })
  .openapi(countRoute, async (c) => {
    const principal = c.get("principal");
    const db = database(c.env.DB);
    const device = await callerDevice(db, principal);
    return c.json(toCount(await countPrekeys(db, principal), device), 200);
  })
  .openapi(signedPrekeyRoute, async (c) => {
    const principal = c.get("principal");
    const key = c.req.valid("json");
    const db = database(c.env.DB);
    const device = await callerDevice(db, principal);
    await checkSignedPrekey(device.identityKey, key, "signed_prekey");
    await runBatch(db, [rotateSignedPrekeyStatement(db, principal, key)]);
    return c.body(null, 204);
  })
  .openapi(pqLastResortRoute, async (c) => {
    const principal = c.get("principal");
    const key = c.req.valid("json");
    const db = database(c.env.DB);
    const device = await callerDevice(db, principal);
    await checkPqPrekeys(device.identityKey, [key], true, "pq_last_resort_prekey");
    await runBatch(db, [setPqLastResortStatement(db, principal, key)]);
    return c.body(null, 204);
  })
  .openapi(bundleRoute, async (c) => {
    const { account_id } = c.req.valid("param");
    const { device_id } = c.req.valid("query");
    const principal = c.get("principal");
    const db = database(c.env.DB);
    // Every fetch counts, found or not: draining someone's one-time prekeys, or probing which
    // accounts exist, both cost the caller's own quota.
    await enforceDeviceQuota(c.env, principal, "prekey_bundle_fetches");
    if (!(await findAccount(db, account_id))) throw new ApiError("not_found", "no such account");
    // Starting a session needs a bundle, so this is where a new account's reach is metered.
    if (account_id !== principal.accountId) {
      const requester = await findAccount(db, principal.accountId);
      if (!requester) throw new ApiError("unauthorized", "account deleted");
      if (isNewAccount(loadConfig(c.env), requester.createdAt, Date.now())) {
        await enforceDeviceQuota(c.env, principal, "new_contacts", { target: account_id });
      }
    }
    const devices = (await listActiveDevices(db, account_id)).filter((d) => device_id === undefined || d.deviceId === device_id);
    if (devices.length === 0) throw new ApiError("not_found", device_id === undefined ? "account has no active devices" : "no such active device");
    const [taken, list] = await Promise.all([
      takeOneTimePrekeys(
        db,
        devices.map((d) => ({ accountId: account_id, deviceId: d.deviceId })),
      ),
      currentDeviceList(db, account_id),
    ]);
    return c.json(
      {
        account_id,
        device_list: list ? { list: list.list, signature: list.signature } : null,
        devices: devices.map((d, i) => {
          const pqOneTime = taken.pq[i];
          const pq = pqOneTime
            ? { ...pqOneTime, last_resort: false }
            : d.pqLastResortKey !== null && d.pqLastResortId !== null && d.pqLastResortSignature !== null
              ? { key_id: d.pqLastResortId, public_key: d.pqLastResortKey, signature: d.pqLastResortSignature, last_resort: true }
              : null;
          return {
            device_id: d.deviceId,
            registration_id: d.registrationId,
            identity_key: d.identityKey,
            signed_prekey: { key_id: d.signedPrekeyId, public_key: d.signedPrekey, signature: d.signedPrekeySignature },
            one_time_prekey: taken.oneTime[i] ?? null,
            pq_prekey: pq,
          };
        }),
      },
      200,
    );
  });
