/**
 * @module Blocking (issue 11): the caller blocks or unblocks an account, or lists whom it blocks.
 * A block stops the blocked account's messages (dropped at the ChatRoom fanout), typing and
 * presence from reaching the blocker, and hides the blocker's presence from it; the blocked
 * account is never told (its sends succeed as before). Unblocking restores delivery of what is
 * sent from then on; nothing dropped meanwhile comes back.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import { findAccount } from "../db/accounts";
import { addBlock, listBlocks, removeBlock } from "../db/blocks";
import { database } from "../db/client";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { chatRoomStub, presenceRoomStub } from "../placement";
import { directChatId } from "../protocol/chat-ids";
import { AccountId } from "../protocol/common";
import { BlockList } from "../protocol/moderation";
import { authErrors, errorResponse, jsonResponse, deviceRoute } from "./openapi-helpers";

const protectedRoute = deviceRoute("blocks");

const blockRoute = createRoute({
  ...protectedRoute,
  method: "put",
  path: "/blocks/{account_id}",
  summary: "Block an account (idempotent); it is not told",
  request: { params: z.object({ account_id: AccountId }) },
  responses: {
    ...authErrors,
    204: { description: "Blocked" },
    400: errorResponse("invalid_request: you cannot block yourself"),
    404: errorResponse("not_found: no such account"),
  },
});

const unblockRoute = createRoute({
  ...protectedRoute,
  method: "delete",
  path: "/blocks/{account_id}",
  summary: "Unblock an account (idempotent)",
  request: { params: z.object({ account_id: AccountId }) },
  responses: { ...authErrors, 204: { description: "Not blocked (any more)" } },
});

const listRoute = createRoute({
  ...protectedRoute,
  method: "get",
  path: "/blocks",
  summary: "The accounts you block, newest first",
  responses: { ...authErrors, 200: jsonResponse(BlockList, "Blocked accounts") },
});

/**
 * Makes a block or unblock take effect at once in the pair's 1:1 chat and its presence room (both
 * otherwise trust their cached view for up to a minute). Group rooms pick it up from their cache.
 */
async function refreshPair(env: Env, a: string, b: string): Promise<void> {
  const chatId = await directChatId(a, b);
  await Promise.all([chatRoomStub(env, chatId).forgetCachedMembers(), presenceRoomStub(env, `c:${chatId}`).forgetCachedBlocks()]);
}

export const blockRoutes = new OpenAPIHono<AppEnv>()
  .openapi(blockRoute, async (c) => {
    const { accountId } = c.get("principal");
    const { account_id: target } = c.req.valid("param");
    if (target === accountId) throw new ApiError("invalid_request", "you cannot block yourself");
    const db = database(c.env.DB);
    if (!(await findAccount(db, target))) throw new ApiError("not_found", "no such account");
    await addBlock(db, accountId, target, Date.now());
    await refreshPair(c.env, accountId, target);
    return c.body(null, 204);
  })
  .openapi(unblockRoute, async (c) => {
    const { accountId } = c.get("principal");
    const { account_id: target } = c.req.valid("param");
    if (await removeBlock(database(c.env.DB), accountId, target)) await refreshPair(c.env, accountId, target);
    return c.body(null, 204);
  })
  .openapi(listRoute, async (c) => {
    const { accountId } = c.get("principal");
    const rows = await listBlocks(database(c.env.DB), accountId);
    return c.json({ blocked: rows.map((r) => ({ account_id: r.blocked, blocked_at: r.createdAt })) }, 200);
  });
