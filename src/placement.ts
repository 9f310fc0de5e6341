/**
 * @module Where an account's or chat's state lives: its Durable Objects inside the jurisdiction its
 * id carries (src/protocol/jurisdiction.ts), its media in that jurisdiction's bucket, and, without a
 * jurisdiction, objects created near the device that first uses them (`locationHint`). Every
 * Durable Object stub for a chat or presence room is obtained here, so none is ever created
 * outside its jurisdiction by accident. (Inbox stubs: src/inbox.ts, built on the same rule.)
 */
import type { Env } from "./env";
import { logEvent } from "./log";
import { accountJurisdiction, chatJurisdiction, type Jurisdiction } from "./protocol/jurisdiction";

/**
 * The namespace restricted to a jurisdiction. Local workerd (wrangler dev, the tests) does not
 * implement jurisdictions and throws: there the unrestricted namespace is used, which addresses the
 * same objects by name (the names carry the jurisdiction), so local behaviour is otherwise identical.
 */
export function inJurisdiction<T extends Rpc.DurableObjectBranded | undefined>(
  namespace: DurableObjectNamespace<T>,
  jurisdiction: Jurisdiction | undefined,
): DurableObjectNamespace<T> {
  if (!jurisdiction) return namespace;
  try {
    return namespace.jurisdiction(jurisdiction);
  } catch (err) {
    if (!/not implemented in workerd/i.test(String(err))) throw err;
    if (!warnedUnsupported) logEvent("warn", "jurisdiction_unsupported_locally", { jurisdiction });
    warnedUnsupported = true;
    return namespace;
  }
}
let warnedUnsupported = false;

export function chatRoomStub(env: Env, chatId: string) {
  return inJurisdiction(env.CHAT_ROOM, chatJurisdiction(chatId)).getByName(chatId);
}

/** A presence room by name: "a:<account_id>" (an account's presence) or "c:<chat_id>" (a chat's viewers). */
export function presenceRoomStub(env: Env, room: string) {
  const id = room.slice(2);
  const jurisdiction = room.startsWith("a:") ? accountJurisdiction(id) : chatJurisdiction(id);
  return inJurisdiction(env.PRESENCE_ROOM, jurisdiction).getByName(room);
}

/** The bucket an account's media is stored in. */
export function mediaBucket(env: Env, ownerAccountId: string): R2Bucket {
  return accountJurisdiction(ownerAccountId) === "eu" ? env.MEDIA_EU : env.MEDIA;
}

/** Durable Object location hints by the continent Cloudflare saw the request from (request.cf.continent). */
const HINT_BY_CONTINENT: Record<string, DurableObjectLocationHint> = {
  EU: "weur",
  NA: "enam",
  SA: "sam",
  AS: "apac",
  OC: "oc",
  AF: "afr",
  AN: "oc",
};

/** Where to create a new device's inbox: near the device, unless its account has a jurisdiction. */
export function locationHintFor(request: Request, accountId: string): DurableObjectLocationHint | undefined {
  if (accountJurisdiction(accountId)) return undefined; // The jurisdiction decides.
  const continent = (request as Request & { cf?: { continent?: unknown } }).cf?.continent;
  return typeof continent === "string" ? HINT_BY_CONTINENT[continent] : undefined;
}
