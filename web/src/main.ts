/**
 * @module The web app's entry: opens this browser's device store (IndexedDB), shows the welcome
 * screen until the browser is registered, then the two-pane messenger (chat list beside the open
 * chat on desktop; one pane at a time at phone width). Screens are chosen by `view`. A browser just
 * linked to an account first takes over the history its primary sent; a browser whose device was
 * unlinked shows so, and can start over with a fresh device.
 */
import { Client, IndexedDbKeyValueStore } from "../../src/client/index";
import { h } from "./dom";
import { ChatHistory } from "./history";
import { Messenger } from "./messenger";
import { registerServiceWorker } from "./push";
import { chatListItems, newChatForm } from "./views/chat-list";
import { ConversationView } from "./views/conversation";
import { groupInfoScreen, newGroupScreen } from "./views/group";
import { safetyScreen } from "./views/safety";
import { settingsScreen } from "./views/settings";
import { welcomeScreen } from "./views/welcome";

/** One IndexedDB database holds one device: keys, sessions, the SDK's records and the history. */
const DEVICE_DATABASE = "parley-device";

type View =
  | { kind: "chats" }
  | { kind: "chat"; chatId: string }
  | { kind: "safety"; chatId: string }
  | { kind: "settings" }
  | { kind: "new-group" }
  | { kind: "group-info"; chatId: string };

async function main(): Promise<void> {
  const root = document.getElementById("app")!;
  const store = await IndexedDbKeyValueStore.open(DEVICE_DATABASE);
  let client: Client;
  let justLinked = false;
  try {
    client = await Client.open({ server: location.origin, store });
  } catch {
    client = await new Promise<Client>((resolve) =>
      root.replaceChildren(
        welcomeScreen(store, (ready, linked) => {
          justLinked = linked !== null;
          resolve(ready);
        }),
      ),
    );
  }
  void registerServiceWorker();
  messengerLayout(root, client, store, justLinked);
}

/** Shown once the server ended this device for good; starting over deletes its keys and history. */
function terminatedScreen(reason: "device_removed" | "replaced", shutDown: () => Promise<void>): HTMLElement {
  const removed = reason === "device_removed";
  const restart = h("button", { type: "button" }, removed ? "Start over" : "Use Parley here");
  restart.addEventListener("click", () => {
    restart.disabled = true;
    if (!removed) return location.reload();
    // The app's own connection to the database would block its deletion: closed first.
    void shutDown().then(() => {
      const deletion = indexedDB.deleteDatabase(DEVICE_DATABASE);
      deletion.onsuccess = deletion.onerror = () => location.reload();
    });
  });
  return h(
    "main",
    { class: "welcome" },
    h(
      "section",
      { class: "card terminated", role: "alert", "aria-labelledby": "terminated-title" },
      h("h1", { id: "terminated-title" }, removed ? "This browser was unlinked" : "Parley is open elsewhere"),
      h("p", {}, removed ? "It is no longer a device of this account and receives no more messages. Starting over deletes its keys and history from this browser." : "Another tab or window of this browser took over this device."),
      restart,
    ),
  );
}

function messengerLayout(root: HTMLElement, client: Client, store: IndexedDbKeyValueStore, justLinked: boolean): void {
  const messenger = new Messenger(client, new ChatHistory(store));
  let view: View = { kind: "chats" };
  let conversation: ConversationView | null = null;
  /** The group record the open "Group info" screen shows. */
  let groupShown: string | null = null;

  const connection = h("span", { class: "connection", role: "status", "aria-live": "polite" });
  const list = h("nav", { class: "chat-list-container", "aria-label": "Chats" });
  // Problems the user should know about (a send that failed for good, an undecryptable message).
  const alertText = h("span", {});
  const alert = h(
    "div",
    { class: "alert", role: "alert", hidden: true },
    alertText,
    h("button", { type: "button", class: "link", onclick: () => messenger.dismissError() }, "Dismiss"),
  );
  const pane = h("main", { class: "pane", id: "pane" });
  const sidebar = h(
    "aside",
    { class: "sidebar", "aria-label": "Chat list" },
    h(
      "header",
      { class: "sidebar-header" },
      h("span", { class: "avatar", "aria-hidden": "true" }, messenger.handle.slice(0, 1).toUpperCase()),
      h("strong", { class: "me" }, messenger.handle),
      connection,
      h("button", { type: "button", class: "link", onclick: () => show({ kind: "new-group" }) }, "New group"),
      h("button", { type: "button", class: "link", onclick: () => show({ kind: "settings" }) }, "Settings"),
    ),
    alert,
    newChatForm(messenger, (chatId) => show({ kind: "chat", chatId })),
    list,
  );
  const layout = h("div", { class: "layout" }, sidebar, pane);
  root.replaceChildren(layout);

  const show = (next: View) => {
    view = next;
    groupShown = null;
    layout.classList.toggle("pane-open", next.kind !== "chats");
    void messenger.openChat(next.kind === "chat" ? next.chatId : null);
    void renderPane();
  };

  const renderPane = async () => {
    const current = view;
    if (current.kind === "chat") {
      let shown = conversation;
      if (shown?.chatId !== current.chatId) {
        shown = new ConversationView(messenger, current.chatId, {
          back: () => show({ kind: "chats" }),
          safety: () => show({ kind: "safety", chatId: current.chatId }),
          groupInfo: () => show({ kind: "group-info", chatId: current.chatId }),
        });
        conversation = shown;
        pane.replaceChildren(shown.element);
      }
      const chat = await messenger.history.chat(current.chatId);
      // Renders overlap (events and navigation): only the view still on screen is updated.
      if (chat && conversation === shown) shown.update(chat);
      return;
    }
    conversation = null;
    if (current.kind === "new-group") pane.replaceChildren(newGroupScreen(messenger, (chatId) => show({ kind: "chat", chatId }), () => show({ kind: "chats" })));
    if (current.kind === "group-info") {
      const chat = await messenger.history.chat(current.chatId);
      // Rebuilt only when the group changed (a member added or removed), not on every event.
      const signature = JSON.stringify(chat?.group ?? null);
      if (chat?.group && view === current && signature !== groupShown) {
        groupShown = signature;
        pane.replaceChildren(groupInfoScreen(messenger, chat, () => show({ kind: "chat", chatId: current.chatId })));
      }
    }
    if (current.kind === "chats") pane.replaceChildren(h("div", { class: "placeholder" }, h("p", {}, "Pick a chat, or start one by handle.")));
    if (current.kind === "settings") {
      const screen = await settingsScreen(messenger, () => show({ kind: "chats" }));
      if (view === current) pane.replaceChildren(screen);
    }
    if (current.kind === "safety") {
      const chat = await messenger.history.chat(current.chatId);
      const screen = chat && (await safetyScreen(messenger, chat, () => show({ kind: "chat", chatId: current.chatId })));
      if (screen && view === current) pane.replaceChildren(screen);
    }
  };

  let ended = false;
  const render = async () => {
    if (ended) return;
    if (messenger.terminated) {
      ended = true;
      const closing = client.close();
      root.replaceChildren(terminatedScreen(messenger.terminated, () => closing.then(() => store.close())));
      return;
    }
    connection.textContent = messenger.connection === "open" ? "" : messenger.connection === "connecting" ? "connecting…" : "offline";
    alert.hidden = messenger.lastError === null;
    alertText.textContent = messenger.lastError ?? "";
    const chats = await messenger.history.chats();
    // The list is rebuilt: keep keyboard focus on the same chat across it.
    const focused = list.contains(document.activeElement) ? (document.activeElement as HTMLElement).dataset.chat : undefined;
    list.replaceChildren(chatListItems(messenger, chats, (chatId) => show({ kind: "chat", chatId })));
    if (focused) list.querySelector<HTMLElement>(`[data-chat="${CSS.escape(focused)}"]`)?.focus();
    if (view.kind === "chat" || view.kind === "group-info") await renderPane();
  };
  // Coalesces bursts of events (a backlog replay) into one render per frame (a timer: hidden tabs get no animation frames).
  let scheduled = false;
  messenger.onChange(() => {
    if (scheduled) return;
    scheduled = true;
    setTimeout(() => {
      scheduled = false;
      void render();
    }, 16);
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && view.kind !== "chats") show(view.kind === "safety" || view.kind === "group-info" ? { kind: "chat", chatId: view.chatId } : { kind: "chats" });
  });
  show({ kind: "chats" });
  // A browser just linked first takes over the history its primary sent (before new messages land).
  const imported = justLinked ? messenger.importLinkedHistory().catch((err: unknown) => console.error("parley: history import failed", err)) : Promise.resolve();
  void imported.then(() => messenger.start()).then(render);
}

void main();
