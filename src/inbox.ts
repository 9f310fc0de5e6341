/**
 * @module Addressing a device's inbox Durable Object. One object per device, named
 * "<account_id>.<device_id>"; device ids are never reused, so a name always means one device. An
 * account in a jurisdiction has its inboxes created inside it (src/placement.ts).
 */
import type { DevicePrincipal } from "./auth/tokens";
import type { Env } from "./env";
import { inJurisdiction } from "./placement";
import { accountJurisdiction } from "./protocol/jurisdiction";

export function inboxName(device: DevicePrincipal): string {
  return `${device.accountId}.${device.deviceId}`;
}

/** `locationHint` only matters for the call that creates the object (see placement.locationHintFor). */
export function inboxStub(env: Env, device: DevicePrincipal, locationHint?: DurableObjectLocationHint) {
  return inJurisdiction(env.DEVICE_INBOX, accountJurisdiction(device.accountId)).getByName(inboxName(device), locationHint ? { locationHint } : undefined);
}
