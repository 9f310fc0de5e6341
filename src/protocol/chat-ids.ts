/**
 * @module Chat identifiers. A 1:1 chat's id is derived from its two account ids, so both sides (and
 * every device) compute the same id without asking the server:
 *   d_ || hex(SHA-256("parley:direct-chat:v1|" || min(a, b) || "|" || max(a, b)))[0..32]
 * Group ids are g_ || 32 random hex digits, assigned at creation. A chat that involves an account
 * in a jurisdiction carries it after the kind ("d_eu_...", see ./jurisdiction.ts).
 */
import { utf8 } from "./encoding";
import { chatIdPrefix, chatJurisdictionFor } from "./jurisdiction";

export async function directChatId(accountA: string, accountB: string): Promise<string> {
  const [low, high] = accountA <= accountB ? [accountA, accountB] : [accountB, accountA];
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
