/**
 * @module Presence: privacy settings, a one-shot look at an account's status, and the presence
 * socket of a chat (online status of its members and typing, while the chat is open).
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { blockedEitherWay } from "../db/blocks";
import { database } from "../db/client";
import { privacySettings } from "../db/schema";
import { ApiError } from "../errors";
import { authenticateUpgrade, forwardedUpgrade } from "../middleware/socket-upgrade";
import { areContacts, loadPrivacy, visibility } from "../presence/privacy";
import { AccountId } from "../protocol/common";
import { ChatId } from "../protocol/messages";
import { chatRoomStub, presenceRoomStub } from "../placement";
import { PresenceStatus, PrivacySettings, PrivacyUpdate } from "../protocol/presence";
import { authErrors, bearerSecurity, errorResponse, jsonBody, jsonResponse, deviceRoute } from "./openapi-helpers";

const protectedRoute = deviceRoute("presence");

const getPrivacyRoute = createRoute({
  ...protectedRoute,
  method: "get",
  path: "/privacy",
  summary: "Your presence privacy settings",
  responses: { 200: jsonResponse(PrivacySettings, "Settings"), ...authErrors },
});

const putPrivacyRoute = createRoute({
  ...protectedRoute,
  method: "put",
  path: "/privacy",
  summary: "Change who sees your last seen and online status",
  request: { body: jsonBody(PrivacyUpdate) },
  responses: { 200: jsonResponse(PrivacySettings, "The settings now in force"), ...authErrors },
});

const presenceRoute = createRoute({
  ...protectedRoute,
  method: "get",
  path: "/presence/{account_id}",
  summary: "An account's online status and last seen, as its and your privacy settings allow",
  request: { params: z.object({ account_id: AccountId }) },
  responses: { 200: jsonResponse(PresenceStatus, "Status (null fields: not visible to you)"), ...authErrors },
});

const chatPresenceRoute = createRoute({
  method: "get",
  path: "/chats/{chat_id}/presence",
  tags: ["presence"],
  summary: "WebSocket while a chat is open: members' presence and typing; see docs/API.md",
  security: bearerSecurity,
  request: { params: z.object({ chat_id: ChatId }), query: z.object({ token: z.string().optional() }) },
  responses: {
    101: { description: "Switching protocols" },
    403: errorResponse("forbidden: not a member of the chat"),
    426: errorResponse("upgrade_required: not a WebSocket upgrade"),
    ...authErrors,
  },
});

export const presenceRoutes = new OpenAPIHono<AppEnv>()
  .openapi(getPrivacyRoute, async (c) => {
    const { accountId } = c.get("principal");
    return c.json((await loadPrivacy(c.env, [accountId])).get(accountId)!, 200);
  })
  .openapi(putPrivacyRoute, async (c) => {
    const { accountId } = c.get("principal");
    const next = { ...(await loadPrivacy(c.env, [accountId])).get(accountId)!, ...c.req.valid("json") };
    await database(c.env.DB)
      .insert(privacySettings)
      .values({ accountId, lastSeen: next.last_seen, online: next.online, updatedAt: Date.now() })
      .onConflictDoUpdate({ target: privacySettings.accountId, set: { lastSeen: next.last_seen, online: next.online, updatedAt: Date.now() } });
    return c.json(next, 200);
  })
  .openapi(presenceRoute, async (c) => {
    const viewer = c.get("principal").accountId;
    const { account_id: target } = c.req.valid("param");
    // Blocked either way: nothing is visible (issue 11), as if both hid everything.
    if (target !== viewer && (await blockedEitherWay(database(c.env.DB), target, viewer))) {
      return c.json({ account_id: target, online: null, last_seen: null }, 200);
    }
    const settings = await loadPrivacy(c.env, [target, viewer]);
    const contacts = await areContacts(c.env, target, viewer);
    const may = visibility(settings.get(target)!, settings.get(viewer)!, contacts);
    const status = await presenceRoomStub(c.env, `a:${target}`).status(target);
    return c.json({ account_id: target, online: may.online ? status.online : null, last_seen: may.lastSeen ? status.last_seen : null }, 200);
  })
  .openapi(chatPresenceRoute, async (c) => {
    const principal = await authenticateUpgrade(c.env, c.req.raw);
    const { chat_id } = c.req.valid("param");
    if (!(await chatRoomStub(c.env, chat_id).isMember(principal.accountId))) throw new ApiError("forbidden", "not a member of this chat");
    return presenceRoomStub(c.env, `c:${chat_id}`).fetch(forwardedUpgrade(c.req.raw, principal, { "x-parley-chat": chat_id }));
  });
