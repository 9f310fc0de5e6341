/**
 * @module Chat identifiers. A 1:1 chat's id is derived from its two account ids, so both sides (and
 * every device) compute the same id without asking the server:
 *   d_ || hex(SHA-256("parley:direct-chat:v1|" || min(a, b) || "|" || max(a, b)))[0..32]
 * Group ids are g_ || 32 random hex digits, assigned at creation.
 */
import { utf8 } from "./encoding";

export async function directChatId(accountA: string, accountB: string): Promise<string> {
  const [low, high] = accountA <= accountB ? [accountA, accountB] : [accountB, accountA];
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", utf8(`parley:direct-chat:v1|${low}|${high}`)));
  let hex = "";
  for (const byte of digest.subarray(0, 16)) hex += byte.toString(16).padStart(2, "0");
  return `d_${hex}`;
}

/** Group ids: g_ || 32 random hex digits (the 128 bits make them unguessable as well as unique). */
export function newGroupChatId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return `g_${hex}`;
}

export function isGroupChat(chatId: string): boolean {
  return chatId.startsWith("g_");
}
