/**
 * @module Chat identifiers. A 1:1 chat's id is derived from its two account ids, so both sides (and
 * every device) compute the same id without asking the server:
 *   d_ || hex(SHA-256("parley:direct-chat:v1|" || min(a, b) || "|" || max(a, b)))[0..32]
 * Group ids are g_ || 32 random hex digits, assigned at creation. A chat that involves an account
 * in a jurisdiction carries it after the kind ("d_eu_...", see ./jurisdiction.ts).
 */
import { utf8 } from "./encoding";
import { chatIdPrefix, chatJurisdictionFor } from "./jurisdiction";

/** Ids already derived (a pure function of the pair; every 1:1 send asks): bounded, emptied when full. */
const directChatIds = new Map<string, string>();
const MAX_REMEMBERED_CHAT_IDS = 10_000;

export async function directChatId(accountA: string, accountB: string): Promise<string> {
  const [low, high] = accountA <= accountB ? [accountA, accountB] : [accountB, accountA];
  const key = `${low}|${high}`;
  const known = directChatIds.get(key);
  if (known !== undefined) return known;
  const id = await deriveDirectChatId(low, high);
  if (directChatIds.size >= MAX_REMEMBERED_CHAT_IDS) directChatIds.clear();
  directChatIds.set(key, id);
  return id;
}

async function deriveDirectChatId(low: string, high: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(`parley:direct-chat:v1|${low}|${high}`)));
  let hex = "";
  for (const byte of digest.subarray(0, 16)) hex += byte.toString(16).padStart(2, "0");
  return `${chatIdPrefix("d", chatJurisdictionFor([low, high]))}${hex}`;
}

/**
 * Group ids: g_ || 32 random hex digits (the 128 bits make them unguessable as well as unique),
 * "g_eu_..." when the creator or an initial member is in the EU jurisdiction (the stricter rule, as
 * for 1:1 chats; the group stays where it was created).
 */
export function newGroupChatId(initialMembers: readonly string[]): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return `${chatIdPrefix("g", chatJurisdictionFor(initialMembers))}${hex}`;
}

export function isGroupChat(chatId: string): boolean {
  return chatId.startsWith("g_");
}
