/**
 * @module Groups (issue 6): create, list mine, read, change settings, add and remove members,
 * leave, change roles, and send. Every change is made by the group's ChatRoom (rules in
 * src/groups/membership.ts), which writes D1 and records the change as an event in the chat.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../app-env";
import type { RoomResult } from "../../durable-objects/chat-room";
import { database } from "../db/client";
import { listGroupsOf, unknownAccounts } from "../db/groups";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { sendGroupMessage } from "../messaging/send";
import { newGroupChatId } from "../protocol/chat-ids";
import { chatRoomStub } from "../placement";
import { enforceDeviceQuota } from "../abuse/device-quotas";
import { blockersOf } from "../db/blocks";
import { AccountId } from "../protocol/common";
import { AddMembers, CreateGroup, GroupId, GroupInfo, GroupList, GroupSendMessage, SetRole, UpdateGroup } from "../protocol/groups";
import type { GroupChangeInputBody } from "../protocol/internal";
import { DeviceMismatch, SendAck, StaleDevices } from "../protocol/messages";
import { authErrors, errorResponse, jsonBody, jsonResponse, deviceRoute } from "./openapi-helpers";

const protectedRoute = deviceRoute("groups");
const groupParam = z.object({ chat_id: GroupId });
const memberParam = z.object({ chat_id: GroupId, account_id: AccountId });
const changeErrors = {
  403: errorResponse("forbidden: not a member, or not allowed (admins only)"),
  404: errorResponse("not_found: no such group, member or account"),
  409: errorResponse("conflict: the group is full (1,024), the last admin cannot step down, or use leave"),
  ...authErrors,
};

const createGroupRoute = createRoute({
  ...protectedRoute,
  method: "post",
  path: "/groups",
  summary: "Create a group with a name and initial members; you become its admin",
  request: { body: jsonBody(CreateGroup) },
  responses: { 201: jsonResponse(GroupInfo, "Created (the 'created' event is in every member's inbox)"), ...changeErrors },
});

const listRoute = createRoute({
  ...protectedRoute,
  method: "get",
  path: "/groups",
  summary: "The groups you are a member of",
  responses: { 200: jsonResponse(GroupList, "Your groups"), ...authErrors },
});

const infoRoute = createRoute({
  ...protectedRoute,
  method: "get",
  path: "/groups/{chat_id}",
  summary: "A group's settings, members and roles (members only)",
  request: { params: groupParam },
  responses: { 200: jsonResponse(GroupInfo, "The group"), 403: errorResponse("forbidden: not a member"), 404: errorResponse("not_found"), ...authErrors },
});

const updateRoute = createRoute({
  ...protectedRoute,
  method: "patch",
  path: "/groups/{chat_id}",
  summary: "Change name, description, avatar reference or who may add members (admins)",
  request: { params: groupParam, body: jsonBody(UpdateGroup) },
  responses: { 200: jsonResponse(GroupInfo, "Changed"), ...changeErrors },
});

const addRoute = createRoute({
  ...protectedRoute,
  method: "post",
  path: "/groups/{chat_id}/members",
  summary: "Add members (admins, or every member when who_can_add is members); existing members are skipped",
  request: { params: groupParam, body: jsonBody(AddMembers) },
  responses: { 200: jsonResponse(GroupInfo, "Added"), ...changeErrors },
});

const removeRoute = createRoute({
  ...protectedRoute,
  method: "delete",
  path: "/groups/{chat_id}/members/{account_id}",
  summary: "Remove a member (admins); they receive the removal event and nothing after it",
  request: { params: memberParam },
  responses: { 200: jsonResponse(GroupInfo, "Removed"), ...changeErrors },
});

const leaveRoute = createRoute({
  ...protectedRoute,
  method: "post",
  path: "/groups/{chat_id}/leave",
  summary: "Leave the group; if you were its last admin, the longest-standing member becomes admin",
  request: { params: groupParam },
  responses: { 204: { description: "Left" }, ...changeErrors },
});

const roleRoute = createRoute({
  ...protectedRoute,
  method: "put",
  path: "/groups/{chat_id}/members/{account_id}/role",
  summary: "Promote a member to admin or demote an admin (admins)",
  request: { params: memberParam, body: jsonBody(SetRole) },
  responses: { 200: jsonResponse(GroupInfo, "Changed"), ...changeErrors },
});

const sendRoute = createRoute({
  ...protectedRoute,
  method: "post",
  path: "/groups/{chat_id}/messages",
  summary: "Send one Sender Key ciphertext to the whole group",
  request: { params: groupParam, body: jsonBody(GroupSendMessage) },
  responses: {
    200: jsonResponse(SendAck, "Accepted: in every inbox, or durably handed to the fanout queue (the 'sent' receipt)"),
    403: errorResponse("forbidden: not a member of the group"),
    404: errorResponse("not_found: no such group"),
    409: jsonResponse(DeviceMismatch, "device_mismatch: missing devices need your sender key (send distributions); drop the extra ones"),
    410: jsonResponse(StaleDevices, "stale_devices: refresh sessions and resend with the same msg_id"),
    503: errorResponse("delivery_pending: accepted, fanout still in progress; resend with the same msg_id"),
    ...authErrors,
  },
});

/** A user who blocks someone is not added to groups by them; the adder is not told (issue 11). */
async function withoutBlockersOf(env: Env, adder: string, accountIds: string[]): Promise<string[]> {
  const blockers = await blockersOf(env.DB, adder, accountIds);
  return accountIds.filter((id) => !blockers.has(id));
}

async function changeGroup(env: Env, chatId: string, input: GroupChangeInputBody) {
  return valueOrThrow(await chatRoomStub(env, chatId).changeGroup(input));
}

function valueOrThrow<T>(result: RoomResult<T>): T {
  if (!result.ok) throw new ApiError(result.code, result.message);
  return result.value;
}

async function requireAccounts(env: Env, accountIds: string[]): Promise<void> {
  const unknown = await unknownAccounts(database(env.DB), accountIds);
  if (unknown.length > 0) throw new ApiError("not_found", `no such account: ${unknown.slice(0, 5).join(", ")}`, { unknown });
}

export const groupRoutes = new OpenAPIHono<AppEnv>()
  .openapi(createGroupRoute, async (c) => {
    const body = c.req.valid("json");
    const principal = c.get("principal");
    const actor = principal.accountId;
    await requireAccounts(c.env, body.members);
    await enforceDeviceQuota(c.env, principal, "group_creates");
    if (body.members.length > 0) await enforceDeviceQuota(c.env, principal, "group_adds", { cost: body.members.length });
    const members = await withoutBlockersOf(c.env, actor, body.members);
    const chatId = newGroupChatId([actor, ...members]);
    const info = await changeGroup(c.env, chatId, {
      actor,
      change: {
        op: "create",
        chat_id: chatId,
        members,
        settings: { name: body.name, description: body.description ?? null, avatar_ref: body.avatar_ref ?? null, who_can_add: body.who_can_add },
      },
    });
    return c.json(info, 201);
  })
  .openapi(listRoute, async (c) => {
    const rows = await listGroupsOf(database(c.env.DB), c.get("principal").accountId);
    return c.json({ groups: rows.map((r) => ({ ...r, chat_id: GroupId.parse(r.chat_id) })) }, 200);
  })
  .openapi(infoRoute, async (c) => {
    const { chat_id } = c.req.valid("param");
    return c.json(valueOrThrow(await chatRoomStub(c.env, chat_id).groupInfo(c.get("principal").accountId)), 200);
  })
  .openapi(updateRoute, async (c) => {
    const { chat_id } = c.req.valid("param");
    const settings = c.req.valid("json");
    return c.json(await changeGroup(c.env, chat_id, { actor: c.get("principal").accountId, change: { op: "update", settings } }), 200);
  })
  .openapi(addRoute, async (c) => {
    const { chat_id } = c.req.valid("param");
    const { account_ids } = c.req.valid("json");
    const principal = c.get("principal");
    await requireAccounts(c.env, account_ids);
    await enforceDeviceQuota(c.env, principal, "group_adds", { cost: account_ids.length });
    const addable = await withoutBlockersOf(c.env, principal.accountId, account_ids);
    // Everyone asked for blocks the adder: nothing changes, and the adder is not told why.
    if (addable.length === 0) return c.json(valueOrThrow(await chatRoomStub(c.env, chat_id).groupInfo(principal.accountId)), 200);
    return c.json(await changeGroup(c.env, chat_id, { actor: principal.accountId, change: { op: "add", account_ids: addable } }), 200);
  })
  .openapi(removeRoute, async (c) => {
    const { chat_id, account_id } = c.req.valid("param");
    return c.json(await changeGroup(c.env, chat_id, { actor: c.get("principal").accountId, change: { op: "remove", account_id } }), 200);
  })
  .openapi(leaveRoute, async (c) => {
    const { chat_id } = c.req.valid("param");
    await changeGroup(c.env, chat_id, { actor: c.get("principal").accountId, change: { op: "leave" } });
    return c.body(null, 204);
  })
  .openapi(roleRoute, async (c) => {
    const { chat_id, account_id } = c.req.valid("param");
    const { role } = c.req.valid("json");
    return c.json(await changeGroup(c.env, chat_id, { actor: c.get("principal").accountId, change: { op: "set_role", account_id, role } }), 200);
  })
  .openapi(sendRoute, async (c) => {
    const { chat_id } = c.req.valid("param");
    return c.json(await sendGroupMessage(c.env, c.get("principal"), chat_id, c.req.valid("json"), c.get("requestId")), 200);
  });
