/**
 * @module Addressing a device's inbox Durable Object. One object per device, named
 * "<account_id>.<device_id>"; device ids are never reused, so a name always means one device.
 */
import type { DevicePrincipal } from "./auth/tokens";
import type { Env } from "./env";

export function inboxName(device: DevicePrincipal): string {
  return `${device.accountId}.${device.deviceId}`;
}

export function inboxStub(env: Env, device: DevicePrincipal) {
  return env.DEVICE_INBOX.getByName(inboxName(device));
}
