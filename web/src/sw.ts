/**
 * @module The service worker: shows a notification when a Web Push arrives and focuses the app on
 * a click. The push carries no content and no sender (docs/API.md "Push notifications"), so the
 * notification is generic; an open app window already received the messages over its socket.
 */
/// <reference lib="webworker" />
declare const self: ServiceWorkerGlobalScope;

self.addEventListener("install", () => void self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      // A visible window is connected and shows the message itself.
      if (windows.some((w) => w.visibilityState === "visible")) return;
      await self.registration.showNotification("Parley", { body: "You have new messages", tag: "parley-inbox" });
    })(),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const open = windows[0];
      if (open) await open.focus();
      else await self.clients.openWindow("/");
    })(),
  );
});

export {};
