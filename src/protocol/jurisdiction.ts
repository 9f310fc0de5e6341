/**
 * @module Data residency in identifiers. An account created in a jurisdiction carries it in its id
 * ("eu-" + uuid v4), and so does every chat that involves such an account ("d_eu_..." / "g_eu_..."),
 * so any Worker or Durable Object can address the account's inboxes, presence and chats inside the
 * jurisdiction from the id alone, with no lookup on the delivery path. Accounts without one keep
 * plain uuids and their objects are placed near where they are first used.
 */
import { z } from "zod";

/** Jurisdictions Durable Objects and R2 both support and that Parley offers. */
export const JURISDICTIONS = ["eu"] as const;
export type Jurisdiction = (typeof JURISDICTIONS)[number];

export const JurisdictionSchema = z
  .enum(JURISDICTIONS)
  .meta({ description: "Keep this account's data (inboxes, chats, media) inside this jurisdiction" });

const UUID_V4 = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";
/** Account ids: an optional "<jurisdiction>-" prefix and a lower-case uuid v4. */
export const ACCOUNT_ID_PATTERN = new RegExp(`^(?:(?:${JURISDICTIONS.join("|")})-)?${UUID_V4}$`);
/** Chat ids: d_ (1:1) or g_ (group), an optional "<jurisdiction>_", and 32 hex digits. */
export const CHAT_ID_PATTERN = new RegExp(`^[dg]_(?:(?:${JURISDICTIONS.join("|")})_)?[0-9a-f]{32}$`);
export const GROUP_ID_PATTERN = new RegExp(`^g_(?:(?:${JURISDICTIONS.join("|")})_)?[0-9a-f]{32}$`);

export function newAccountId(jurisdiction?: Jurisdiction): string {
  return jurisdiction ? `${jurisdiction}-${crypto.randomUUID()}` : crypto.randomUUID();
}

function isJurisdiction(value: string): value is Jurisdiction {
  return (JURISDICTIONS as readonly string[]).includes(value);
}

export function accountJurisdiction(accountId: string): Jurisdiction | undefined {
  const prefix = accountId.slice(0, accountId.indexOf("-"));
  return accountId.length > 36 && isJurisdiction(prefix) ? prefix : undefined;
}

export function chatJurisdiction(chatId: string): Jurisdiction | undefined {
  const parts = chatId.split("_");
  return parts.length === 3 && isJurisdiction(parts[1]!) ? parts[1] : undefined;
}

/**
 * Where a chat among these accounts lives: inside a jurisdiction if any member's account is (the
 * stricter rule wins: a European's messages never leave the EU because the other side is not).
 */
export function chatJurisdictionFor(accountIds: readonly string[]): Jurisdiction | undefined {
  const found = accountIds.map(accountJurisdiction).filter((j): j is Jurisdiction => j !== undefined);
  return found.sort()[0];
}

/** "d_" or "g_" plus the jurisdiction tag, if any: the prefix of a chat id. */
export function chatIdPrefix(kind: "d" | "g", jurisdiction: Jurisdiction | undefined): string {
  return jurisdiction ? `${kind}_${jurisdiction}_` : `${kind}_`;
}
