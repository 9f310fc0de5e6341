/**
 * @module Group identity, roles and membership events: the parts of the group protocol that inbox
 * entries carry (src/protocol/messages.ts), kept apart from the request schemas in ./groups.ts so
 * that both can import them.
 */
import { z } from "zod";
import { AccountId } from "./common";
import { GROUP_ID_PATTERN } from "./jurisdiction";

export const GroupId = z
  .string()
  .regex(GROUP_ID_PATTERN, "must be a group chat id (g_, an optional jurisdiction such as eu_, then 32 hex digits)")
  .meta({ description: "Group chat id: g_ followed by 32 random hex digits (g_eu_ when the group lives in a jurisdiction)" });

export const GroupRole = z.enum(["admin", "member"]).meta({ description: "admin: may add and remove members, change roles and settings" });
export const WhoCanAdd = z.enum(["admins", "members"]).meta({ description: "Who may add members (removing is always admins only)" });

/** What happened to the group; one event per change, in the chat's sequence. */
export const GroupEvent = z
  .discriminatedUnion("type", [
    z.object({
      type: z.literal("created"),
      name: z.string(),
      who_can_add: WhoCanAdd,
      members: z.array(z.object({ account_id: AccountId, role: GroupRole })),
    }),
    z.object({ type: z.literal("members_added"), account_ids: z.array(AccountId) }),
    z.object({ type: z.literal("member_removed"), account_id: AccountId }),
    z.object({ type: z.literal("member_left"), account_id: AccountId, promoted: z.array(AccountId) }),
    z.object({ type: z.literal("role_changed"), account_id: AccountId, role: GroupRole }),
    z.object({
      type: z.literal("settings_changed"),
      name: z.string().optional(),
      description: z.string().nullable().optional(),
      avatar_ref: z.string().nullable().optional(),
      who_can_add: WhoCanAdd.optional(),
    }),
  ])
  .meta({ id: "GroupEvent" });

export type GroupEventBody = z.output<typeof GroupEvent>;
export type GroupRoleBody = z.output<typeof GroupRole>;
