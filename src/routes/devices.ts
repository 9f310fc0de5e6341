/**
 * @module The caller's own devices: list them, remove one. The primary device (1) may remove any
 * companion; a companion may remove itself (log out). Removal tombstones the device, deletes its
 * prekeys and tells its inbox, which closes its socket and refuses its tokens from then on.
 * (Linking new devices is the multi-device work: POST /v1/devices/link, not here yet.)
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { findActiveDevice, listActiveDevices, removeDevice } from "../db/accounts";
import { database } from "../db/client";
import { ApiError } from "../errors";
import { inboxStub } from "../inbox";
import { requireDevice } from "../middleware/auth";
import { DeviceList } from "../protocol/accounts";
import { DeviceIdParam } from "../protocol/common";
import { authErrors, bearerSecurity, errorResponse, jsonResponse } from "./openapi-helpers";

const PRIMARY_DEVICE_ID = 1;

const listRoute = createRoute({
  method: "get",
  path: "/devices",
  tags: ["devices"],
  summary: "List the active devices of the caller's account",
  security: bearerSecurity,
  middleware: [requireDevice] as const,
  responses: { 200: jsonResponse(DeviceList, "Active devices"), ...authErrors },
});

const removeRoute = createRoute({
  method: "delete",
  path: "/devices/{device_id}",
  tags: ["devices"],
  summary: "Remove a device (primary removes companions; a companion removes itself)",
  security: bearerSecurity,
  middleware: [requireDevice] as const,
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
    const rows = await listActiveDevices(database(c.env.DB), principal.accountId);
    return c.json(
      {
        devices: rows.map((d) => ({
          device_id: d.deviceId,
          name: d.name,
          identity_key: d.identityKey,
          registration_id: d.registrationId,
          created_at: d.createdAt,
        })),
      },
      200,
    );
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
    if (!(await removeDevice(db, principal.accountId, target, Date.now()))) throw new ApiError("not_found", "no such active device");
    await inboxStub(c.env, { accountId: principal.accountId, deviceId: target }).deactivate();
    return c.body(null, 204);
  });
