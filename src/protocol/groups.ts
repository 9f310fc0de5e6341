/**
 * @module Wire schemas for groups (issue 6): management requests and answers, the group send (one
 * Sender Key ciphertext for the whole group plus pairwise sender-key distributions for devices that
 * lack the sender's current key), and the membership events that travel in the chat's sequence.
 */
import { z } from "zod";
import { MAX_GROUP_MEMBERS, MAX_GROUP_RECIPIENT_DEVICES, MAX_REGISTRATION_ID } from "../limits";
import { AccountId, base64Bytes, TimestampMs } from "./common";
import { GroupId, GroupRole, WhoCanAdd } from "./group-events";
import { Envelope, MAX_ENVELOPE_BYTES, MsgId } from "./messages";
import { ReferencedMediaIds } from "./media";

export { GroupId, GroupRole, WhoCanAdd };

/**
 * Shown by the server (lists, member UIs). Clients that want them private put ciphertext here or
 * carry the real values inside group messages; the server never interprets them.
 */
const GroupName = z.string().min(1).max(100).meta({ description: "Group name (1-100 characters)" });
const GroupDescription = z.string().max(1000).meta({ description: "Group description (at most 1000 characters)" });
const AvatarRef = z.string().min(1).max(200).meta({ description: "Reference to the avatar (e.g. a media id; the key travels in messages)" });

export const CreateGroup = z
  .strictObject({
    name: GroupName,
    description: GroupDescription.optional(),
    avatar_ref: AvatarRef.optional(),
    who_can_add: WhoCanAdd.default("admins"),
    members: z.array(AccountId).max(MAX_GROUP_MEMBERS - 1).meta({ description: "Initial members besides you (you become the first admin)" }),
  })
  .meta({ id: "CreateGroup" });

export const UpdateGroup = z
  .strictObject({
    name: GroupName.optional(),
    description: GroupDescription.nullable().optional(),
    avatar_ref: AvatarRef.nullable().optional(),
    who_can_add: WhoCanAdd.optional(),
  })
  .refine((u) => Object.keys(u).length > 0, "change at least one field")
  .meta({ id: "UpdateGroup", description: "Fields to change (null clears description or avatar)" });

export const AddMembers = z
  .strictObject({ account_ids: z.array(AccountId).min(1).max(MAX_GROUP_MEMBERS - 1) })
  .meta({ id: "AddMembers" });

export const SetRole = z.strictObject({ role: GroupRole }).meta({ id: "SetRole" });

export const GroupMember = z.object({ account_id: AccountId, role: GroupRole, joined_seq: z.number().int().min(0) });

export const GroupInfo = z
  .object({
    chat_id: GroupId,
    name: z.string(),
    description: z.string().nullable(),
    avatar_ref: z.string().nullable(),
    who_can_add: WhoCanAdd,
    created_by: AccountId,
    created_at: TimestampMs,
    version: z.number().int().min(1).meta({ description: "Grows with every membership or settings change" }),
    members: z.array(GroupMember),
  })
  .meta({ id: "GroupInfo" });

export const GroupSummary = z.object({ chat_id: GroupId, name: z.string(), role: GroupRole, member_count: z.number().int() });
export const GroupList = z.object({ groups: z.array(GroupSummary) }).meta({ id: "GroupList" });

export const KeyHolder = z
  .strictObject({
    account_id: AccountId,
    device_id: z.number().int().min(1).max(1_000_000),
    registration_id: z.number().int().min(1).max(MAX_REGISTRATION_ID),
  })
  .meta({ id: "KeyHolder", description: "A member device that already holds your current sender key, with its registration id" });

export const GroupSendMessage = z
  .strictObject({
    msg_id: MsgId,
    content: base64Bytes({ min: 1, max: MAX_ENVELOPE_BYTES }, "Sender Key ciphertext for the whole group (base64, at most 96 KiB)"),
    key_holders: z.array(KeyHolder).max(MAX_GROUP_RECIPIENT_DEVICES).default([]),
    distributions: z
      .array(Envelope)
      .max(MAX_GROUP_RECIPIENT_DEVICES)
      .default([])
      .meta({ description: "Pairwise-encrypted sender-key distribution for each device that does not hold your current key yet" }),
    media_ids: ReferencedMediaIds,
  })
  .meta({
    id: "GroupSendMessage",
    description:
      "Every active device of every member (and your other devices) must appear exactly once, in key_holders or in distributions; 409 lists the missing and extra ones",
  });

export type CreateGroupBody = z.output<typeof CreateGroup>;
export type UpdateGroupBody = z.output<typeof UpdateGroup>;
export type GroupSendMessageBody = z.output<typeof GroupSendMessage>;
export type GroupInfoBody = z.output<typeof GroupInfo>;
