/**
 * @module Web Push for this browser: registers the service worker (sw.ts), subscribes with the
 * server's VAPID key and hands the subscription to the server. Every step may be unavailable (no
 * service workers over plain http except on localhost, no push service in some browsers, the user
 * said no, the server has no VAPID key): each is reported as a status, never thrown at the app.
 */
import type { Client } from "../../src/client/index";

export type PushStatus = "enabled" | "unsupported" | "not-configured" | "denied" | "failed";

function base64UrlBytes(value: string): Uint8Array<ArrayBuffer> {
  const base64 = value.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(value.length / 4) * 4, "=");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/** Registers the service worker; resolves with it, or null where service workers are unavailable. */
export async function registerServiceWorker(): Promise<ServiceWorkerRegistration | null> {
  if (!("serviceWorker" in navigator)) return null;
  try {
    return await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  } catch {
    return null;
  }
}

/** Subscribes this browser to pushes for this device (asks the user for permission if needed). */
export async function enablePush(client: Client): Promise<{ status: PushStatus; detail?: string }> {
  const registration = await registerServiceWorker();
  if (!registration || !("PushManager" in window) || !("Notification" in window)) return { status: "unsupported" };
  const key = await client.webPushKey().catch(() => null);
  if (!key) return { status: "not-configured" };
  if ((await Notification.requestPermission()) !== "granted") return { status: "denied" };
  try {
    await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlBytes(key) });
    const json = subscription.toJSON();
    if (!json.endpoint || !json.keys?.p256dh || !json.keys.auth) return { status: "failed", detail: "the browser returned an incomplete subscription" };
    await client.registerPush({ platform: "webpush", subscription: { endpoint: json.endpoint, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth } } });
    return { status: "enabled" };
  } catch (err) {
    return { status: "failed", detail: err instanceof Error ? err.message : String(err) };
  }
}

export const PUSH_STATUS_TEXT: Record<PushStatus, string> = {
  enabled: "Notifications are on for this browser.",
  unsupported: "This browser cannot receive push notifications here.",
  "not-configured": "This server has no Web Push key configured.",
  denied: "Notifications are blocked for this site in the browser's settings.",
  failed: "Subscribing to notifications failed.",
};
