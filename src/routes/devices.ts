/**
 * @module The caller's own devices (issues 2 and 10): list them, link a new one, publish a new
 * signed device list, remove one. Every device is first class (its own identity key and inbox);
 * the server adds a device only with a list the primary device (1) signed that names it, and
 * removes one when the primary publishes a list without it or the device logs itself out.
 * Removal tombstones the device, deletes its prekeys and push token, refuses its tokens at once
 * and tells its inbox (src/devices/removal.ts). The provisioning channel that carries the signed
 * list to the new device is src/routes/provisioning.ts.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { checkNewDeviceKeys } from "../auth/device-keys";
import { issueToken } from "../auth/tokens";
import { loadConfig } from "../config";
import {
  findAccount,
  findActiveDevice,
  highestDeviceId,
  insertDeviceStatement,
  listActiveDevices,
  listRemovedDevices,
  newDeviceRow,
  removeDevice,
  removeDeviceStatements,
  runBatch,
} from "../db/accounts";
import { database } from "../db/client";
import { currentDeviceList, isDeviceListRace, replaceDeviceListStatements } from "../db/device-lists";
import { prekeyInsertStatements } from "../db/prekeys";
import { afterDeviceRemoved } from "../devices/removal";
import { checkSignedDeviceList, listNames } from "../devices/signed-lists";
import { ApiError } from "../errors";
import { inboxStub } from "../inbox";
import { chatRoomStub, locationHintFor } from "../placement";
import { enforceIpRateLimit } from "../middleware/rate-limit";
import { enforceDeviceQuota } from "../abuse/device-quotas";
import { DeviceList, Registered } from "../protocol/accounts";
import { DeviceIdParam } from "../protocol/common";
import { SignedDeviceList } from "../protocol/device-lists";
import { DevicesChanged, LinkDeviceRequest } from "../protocol/provisioning";
import { authErrors, commonErrors, deviceRoute, errorResponse, jsonBody, jsonResponse } from "./openapi-helpers";

const PRIMARY_DEVICE_ID = 1;
/** How far back GET /v1/devices reports removals (the account learns of auto-unlinks there). */
const REMOVED_DEVICES_WINDOW_MS = 30 * 24 * 3600 * 1000;

const listRoute = createRoute({
  ...deviceRoute("devices"),
  method: "get",
  path: "/devices",
  summary: "List the active devices of the caller's account, its signed device list and recent removals",
  responses: { 200: jsonResponse(DeviceList, "Active devices"), ...authErrors },
});

const linkRoute = createRoute({
  method: "post",
  path: "/devices/link",
  tags: ["devices"],
  summary: "Activate a new (companion) device with a device list the primary signed",
  request: { body: jsonBody(LinkDeviceRequest) },
  responses: {
    201: jsonResponse(Registered, "Device linked; its first bearer token"),
    403: errorResponse("invalid_device_list: not signed by the primary, wrong account, or not naming this device and the account's devices"),
    404: errorResponse("not_found: no such account"),
    409: errorResponse("stale_device_list (not newer than the current list), device_limit_reached, or conflict (device id already used)"),
    ...commonErrors,
  },
});

const publishListRoute = createRoute({
  ...deviceRoute("devices"),
  method: "put",
  path: "/devices/list",
  summary: "Publish a newer signed device list (primary only); active devices it leaves out are unlinked",
  request: { body: jsonBody(SignedDeviceList) },
  responses: {
    204: { description: "Stored; devices left out are removed" },
    403: errorResponse("forbidden (not the primary) or invalid_device_list (bad signature, or names a device that is not active)"),
    409: errorResponse("stale_device_list: not newer than the current list"),
    ...authErrors,
  },
});

const changedRoute = createRoute({
  ...deviceRoute("devices"),
  method: "post",
  path: "/devices/changed",
  summary: "Tell the caller's chats that its account's devices changed (after a link or unlink)",
  request: { body: jsonBody(DevicesChanged) },
  responses: { 204: { description: "Done (chats the account is not in are skipped)" }, ...authErrors },
});

const removeRoute = createRoute({
  ...deviceRoute("devices"),
  method: "delete",
  path: "/devices/{device_id}",
  summary: "Remove a device (primary removes companions; a companion removes itself)",
  request: { params: z.object({ device_id: DeviceIdParam }) },
  responses: {
    204: { description: "Removed" },
    403: errorResponse("forbidden: not allowed to remove that device (or the primary)"),
    404: errorResponse("not_found: no such active device"),
    ...authErrors,
  },
});

export const deviceRoutes = new OpenAPIHono<AppEnv>()
  .openapi(listRoute, async (c) => {
    const principal = c.get("principal");
    const db = database(c.env.DB);
    const now = Date.now();
    const [rows, list, highest, removed] = await Promise.all([
      listActiveDevices(db, principal.accountId),
      currentDeviceList(db, principal.accountId),
      highestDeviceId(db, principal.accountId),
      listRemovedDevices(db, principal.accountId, now - REMOVED_DEVICES_WINDOW_MS),
    ]);
    return c.json(
      {
        devices: rows.map((d) => ({
          device_id: d.deviceId,
          name: d.name,
          identity_key: d.identityKey,
          registration_id: d.registrationId,
          created_at: d.createdAt,
        })),
        device_list: list ? { list: list.list, signature: list.signature } : null,
        next_device_id: highest + 1,
        removed_devices: removed.map((d) => ({ device_id: d.deviceId, name: d.name, removed_at: d.removedAt!, reason: d.removedReason })),
      },
      200,
    );
  })
  .openapi(linkRoute, async (c) => {
    const body = c.req.valid("json");
    await enforceIpRateLimit(c.env, c.req.raw, "link");
    const db = database(c.env.DB);
    const config = loadConfig(c.env);
    const now = Date.now();
    const keys = body.device;
    await checkNewDeviceKeys(keys);

    const { content } = await checkSignedDeviceList(db, body.account_id, body.device_list, now);
    // Only now, with a list the primary really signed, does the attempt count against its quota.
    const account = await findAccount(db, body.account_id);
    if (account?.suspendedAt != null) throw new ApiError("account_suspended", "this account is suspended: it cannot add devices");
    await enforceDeviceQuota(c.env, { accountId: body.account_id, deviceId: PRIMARY_DEVICE_ID }, "link_attempts");
    const newDevice = { deviceId: body.device_id, identityKey: keys.identity_key, registrationId: keys.registration_id };
    const active = await listActiveDevices(db, body.account_id);
    if (!listNames(content, [...active, newDevice])) {
      throw new ApiError("invalid_device_list", "the signed list must name the account's active devices and this device with its keys");
    }
    if (body.device_id <= (await highestDeviceId(db, body.account_id))) throw new ApiError("conflict", "that device id was already used");
    if (active.length - 1 >= config.maxLinkedDevices) {
      throw new ApiError("device_limit_reached", `an account may link at most ${config.maxLinkedDevices} devices besides the primary`, {
        max_linked_devices: config.maxLinkedDevices,
      });
    }
    const ref = { accountId: body.account_id, deviceId: body.device_id };
    try {
      await runBatch(db, [
        insertDeviceStatement(db, newDeviceRow(ref, keys, body.device_name ?? null, now)),
        ...prekeyInsertStatements(db, ref, keys.one_time_prekeys, keys.pq_one_time_prekeys),
        ...replaceDeviceListStatements(db, { accountId: body.account_id, version: content.version, ...body.device_list, createdAt: now }),
      ]);
    } catch (err) {
      // Two links signed from the same list, or the same id twice: the first one wins, atomically.
      if (isDeviceListRace(err)) throw new ApiError("stale_device_list", "another change to the device list landed first");
      if (/UNIQUE constraint failed: devices\./.test(String(err))) throw new ApiError("conflict", "that device id was already used");
      throw err;
    }
    // The first call creates the new device's inbox: near it, or inside the account's jurisdiction.
    await inboxStub(c.env, ref, locationHintFor(c.req.raw, body.account_id)).isActive();
    const token = await issueToken(config.authTokenSecret, ref, config.authTokenTtlSeconds, now);
    return c.json(
      { account_id: body.account_id, device_id: body.device_id, handle: account!.handle, token: token.token, token_expires_at: token.expiresAt },
      201,
    );
  })
  .openapi(publishListRoute, async (c) => {
    const principal = c.get("principal");
    if (principal.deviceId !== PRIMARY_DEVICE_ID) throw new ApiError("forbidden", "only the primary device signs the device list");
    const signed = c.req.valid("json");
    const db = database(c.env.DB);
    const now = Date.now();
    const { content } = await checkSignedDeviceList(db, principal.accountId, signed, now);
    const active = await listActiveDevices(db, principal.accountId);
    const kept = active.filter((d) => content.devices.some((e) => e.deviceId === d.deviceId));
    if (!listNames(content, kept)) {
      throw new ApiError("invalid_device_list", "the signed list may only leave devices out: it names a device that is not active, or other keys");
    }
    const removed = active.filter((d) => !kept.includes(d));
    try {
      await runBatch(db, [
        ...replaceDeviceListStatements(db, { accountId: principal.accountId, version: content.version, ...signed, createdAt: now }),
        ...removed.flatMap((d) => removeDeviceStatements(db, principal.accountId, d.deviceId, now, "unlinked")),
      ]);
    } catch (err) {
      if (isDeviceListRace(err)) throw new ApiError("stale_device_list", "another change to the device list landed first");
      throw err;
    }
    for (const d of removed) await afterDeviceRemoved(c.env, principal.accountId, d.deviceId, "unlinked");
    return c.body(null, 204);
  })
  .openapi(changedRoute, async (c) => {
    const principal = c.get("principal");
    const { chat_ids } = c.req.valid("json");
    // Each chat caches its members' devices for up to a minute; a device linked meanwhile would
    // miss peers' messages until then. Non-members are refused by the room itself (a no-op).
    await Promise.all([...new Set(chat_ids)].map((id) => chatRoomStub(c.env, id).forgetMemberDevices(principal.accountId)));
    return c.body(null, 204);
  })
  .openapi(removeRoute, async (c) => {
    const principal = c.get("principal");
    const { device_id: target } = c.req.valid("param");
    const db = database(c.env.DB);
    if (target === PRIMARY_DEVICE_ID) throw new ApiError("forbidden", "the primary device cannot be removed; delete the account instead");
    if (principal.deviceId !== PRIMARY_DEVICE_ID && principal.deviceId !== target) {
      throw new ApiError("forbidden", "only the primary device can remove other devices");
    }
    // A token outlives its device by up to its lifetime: check the caller is still active here.
    if (!(await findActiveDevice(db, principal.accountId, principal.deviceId))) throw new ApiError("unauthorized", "device removed");
    const reason = principal.deviceId === target ? "logged_out" : "unlinked";
    if (!(await removeDevice(db, principal.accountId, target, Date.now(), reason))) throw new ApiError("not_found", "no such active device");
    await afterDeviceRemoved(c.env, principal.accountId, target, reason);
    return c.body(null, 204);
  });
