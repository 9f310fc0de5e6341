/**
 * @module Provisioning channels for device linking (issue 10). The new device opens a channel
 * (no account yet: unauthenticated, rate-limited per IP) and shows its id with an ephemeral
 * public key as a QR code; the account's primary device drops one encrypted provisioning message
 * into it; the new device polls for it with the receive secret only it holds. The message is
 * sealed to the ephemeral key, so the server relays bytes it cannot read. Each channel is one
 * ProvisioningRoom object that deletes itself at expiry (PROVISIONING_TTL_MS) or after pickup.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { PROVISIONING_TTL_MS } from "../limits";
import { enforceIpRateLimit } from "../middleware/rate-limit";
import { toBase64Url, utf8 } from "../protocol/encoding";
import {
  ProvisioningChannel,
  ProvisioningChannelId,
  ProvisioningEnvelope,
  ProvisioningReceived,
  ProvisioningReceiveRequest,
} from "../protocol/provisioning";
import { randomBytes } from "../random";
import { authErrors, commonErrors, deviceRoute, errorResponse, jsonBody, jsonResponse } from "./openapi-helpers";

async function secretHash(secret: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(`parley:provisioning:${secret}`)));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * No jurisdiction (src/placement.ts): the channel is opened before the device knows its account.
 * It holds only ciphertext sealed to the new device, for minutes, near whoever opened it.
 */
function room(env: Env, channelId: string) {
  return env.PROVISIONING_ROOM.getByName(channelId);
}

const ChannelParam = z.object({ channel_id: ProvisioningChannelId });

const openRoute = createRoute({
  method: "post",
  path: "/provisioning",
  tags: ["devices"],
  summary: "Open a provisioning channel for linking this (new) device",
  responses: { 201: jsonResponse(ProvisioningChannel, "Channel opened"), ...commonErrors },
});

const deliverRoute = createRoute({
  ...deviceRoute("devices"),
  method: "put",
  path: "/provisioning/{channel_id}/message",
  summary: "Drop the encrypted provisioning message into a channel (the account's primary device)",
  request: { params: ChannelParam, body: jsonBody(ProvisioningEnvelope) },
  responses: {
    204: { description: "Delivered" },
    403: errorResponse("forbidden: only a primary device links devices"),
    404: errorResponse("not_found: no such channel, or it expired"),
    409: errorResponse("conflict: the channel already holds a message"),
    ...authErrors,
  },
});

const receiveRoute = createRoute({
  method: "post",
  path: "/provisioning/{channel_id}/receive",
  tags: ["devices"],
  summary: "Pick up the provisioning message (the device that opened the channel; poll until not null)",
  request: { params: ChannelParam, body: jsonBody(ProvisioningReceiveRequest) },
  responses: {
    200: jsonResponse(ProvisioningReceived, "The message, or null while the primary has not answered"),
    403: errorResponse("forbidden: wrong receive secret"),
    404: errorResponse("not_found: no such channel, or it expired"),
    ...commonErrors,
  },
});

export const provisioningRoutes = new OpenAPIHono<AppEnv>()
  .openapi(openRoute, async (c) => {
    await enforceIpRateLimit(c.env, c.req.raw, "provision");
    const channelId = toBase64Url(randomBytes(16));
    const receiveSecret = toBase64Url(randomBytes(32));
    const expiresAt = Date.now() + PROVISIONING_TTL_MS;
    if (!(await room(c.env, channelId).open({ secretHash: await secretHash(receiveSecret), expiresAt }))) {
      throw new ApiError("unavailable", "could not open a provisioning channel; try again");
    }
    return c.json({ channel_id: channelId, receive_secret: receiveSecret, expires_at: expiresAt }, 201);
  })
  .openapi(deliverRoute, async (c) => {
    const principal = c.get("principal");
    if (principal.deviceId !== 1) throw new ApiError("forbidden", "only the account's primary device links devices");
    const { channel_id } = c.req.valid("param");
    const result = await room(c.env, channel_id).deliver(c.req.valid("json"));
    if (result === "gone") throw new ApiError("not_found", "no such provisioning channel, or it expired");
    if (result === "already_delivered") throw new ApiError("conflict", "this channel already holds a provisioning message");
    return c.body(null, 204);
  })
  .openapi(receiveRoute, async (c) => {
    const { channel_id } = c.req.valid("param");
    const { receive_secret } = c.req.valid("json");
    const result = await room(c.env, channel_id).receive(await secretHash(receive_secret));
    if (!result.ok) {
      if (result.reason === "gone") throw new ApiError("not_found", "no such provisioning channel, or it expired");
      throw new ApiError("forbidden", "wrong receive secret for this channel");
    }
    return c.json({ envelope: result.envelope }, 200);
  });
