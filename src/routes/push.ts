/**
 * @module The caller's push registration: `PUT /v1/push-token` registers or replaces the device's
 * one token (APNs, FCM or a Web Push subscription), `DELETE /v1/push-token` removes it. Sending
 * pushes is the queue consumer's job (src/push/consumer.ts), not this route's. `GET
 * /v1/push-token/webpush` hands browsers the VAPID public key they subscribe with.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { loadPushConfig } from "../config";
import { findActiveDevice } from "../db/accounts";
import { database } from "../db/client";
import { deletePushToken, putPushToken, toRow } from "../db/push-tokens";
import { inboxStub } from "../inbox";
import { ApiError } from "../errors";
import { PushTokenInput, WebPushKey } from "../protocol/push";
import { authErrors, deviceRoute, errorResponse, jsonBody } from "./openapi-helpers";

const putRoute = createRoute({
  ...deviceRoute("push"),
  method: "put",
  path: "/push-token",
  summary: "Register (or replace) this device's push token",
  request: { body: jsonBody(PushTokenInput, "apns | fcm token, or a Web Push subscription") },
  responses: { 204: { description: "Registered" }, ...authErrors },
});

const deleteRoute = createRoute({
  ...deviceRoute("push"),
  method: "delete",
  path: "/push-token",
  summary: "Remove this device's push token (no more pushes)",
  responses: { 204: { description: "Removed" }, 404: errorResponse("not_found: no push token registered"), ...authErrors },
});

const webPushKeyRoute = createRoute({
  ...deviceRoute("push"),
  method: "get",
  path: "/push-token/webpush",
  summary: "The VAPID public key a browser subscribes with (Web Push)",
  responses: {
    200: { description: "The key", content: { "application/json": { schema: WebPushKey } } },
    404: errorResponse("not_found: Web Push is not configured on this server"),
    ...authErrors,
  },
});

export const pushRoutes = new OpenAPIHono<AppEnv>()
  .openapi(putRoute, async (c) => {
    const principal = c.get("principal");
    const db = database(c.env.DB);
    // A token outlives its device by up to its lifetime: a removed device must not register again.
    if (!(await findActiveDevice(db, principal.accountId, principal.deviceId))) throw new ApiError("unauthorized", "device removed");
    await putPushToken(db, toRow(principal.accountId, principal.deviceId, c.req.valid("json"), Date.now()));
    // D1 first: if telling the inbox fails the request fails too, and the client's retry repeats both.
    await inboxStub(c.env, principal).setPushRegistered(true);
    return c.body(null, 204);
  })
  .openapi(deleteRoute, async (c) => {
    const principal = c.get("principal");
    if (!(await deletePushToken(database(c.env.DB), principal.accountId, principal.deviceId))) {
      throw new ApiError("not_found", "no push token registered for this device");
    }
    await inboxStub(c.env, principal).setPushRegistered(false);
    return c.body(null, 204);
  })
  .openapi(webPushKeyRoute, (c) => {
    // A half-configured provider is an operator error the consumer logs; to a browser it is absent.
    const webpush = loadPushConfig(c.env).webpush;
    if (!webpush?.ok) throw new ApiError("not_found", "Web Push is not configured on this server");
    return c.json({ vapid_public_key: webpush.config.vapidPublicKey }, 200);
  });
