/**
 * @module Who may see whose presence. Settings come from D1 (privacy_settings; no row = the
 * defaults). Visibility is reciprocal, as WhatsApp's: a viewer sees a target's last seen (or
 * online) only if the target shares it with the viewer AND the viewer shares their own with the
 * target. "contacts" means the two have a 1:1 chat (its ChatRoom has members).
 */
import { inArray } from "drizzle-orm";
import { database } from "../db/client";
import { privacySettings } from "../db/schema";
import type { Env } from "../env";
import { chatRoomStub } from "../placement";
import { directChatId } from "../protocol/chat-ids";
import type { PrivacySettingsBody } from "../protocol/presence";

export const DEFAULT_PRIVACY: PrivacySettingsBody = { last_seen: "everyone", online: "everyone" };

export async function loadPrivacy(env: Env, accountIds: string[]): Promise<Map<string, PrivacySettingsBody>> {
  const out = new Map<string, PrivacySettingsBody>(accountIds.map((id) => [id, DEFAULT_PRIVACY]));
  if (accountIds.length === 0) return out;
  const rows = await database(env.DB).select().from(privacySettings).where(inArray(privacySettings.accountId, accountIds));
  for (const row of rows) out.set(row.accountId, { last_seen: row.lastSeen, online: row.online });
  return out;
}

/** True when the two accounts have a 1:1 chat (someone sent a message in it). */
export async function areContacts(env: Env, a: string, b: string): Promise<boolean> {
  if (a === b) return true;
  return chatRoomStub(env, await directChatId(a, b)).isMember(a);
}

function shares(setting: PrivacySettingsBody["online"], contacts: boolean): boolean {
  return setting === "everyone" || (setting === "contacts" && contacts);
}

export interface Visibility {
  online: boolean;
  lastSeen: boolean;
}

/** What `viewer` may see of `target`, given both settings and whether they are contacts. */
export function visibility(target: PrivacySettingsBody, viewer: PrivacySettingsBody, contacts: boolean): Visibility {
  return {
    online: shares(target.online, contacts) && shares(viewer.online, contacts),
    lastSeen: shares(target.last_seen, contacts) && shares(viewer.last_seen, contacts),
  };
}
