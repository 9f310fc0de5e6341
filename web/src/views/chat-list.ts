/**
 * @module The sidebar: this user's chats, newest first, each with the peer, the last message (or
 * "typing…") and the unread count, plus a form to start a chat by handle. Items are buttons, so the list is
 * reachable and usable with the keyboard alone. Groups are listed by name, their last message with
 * its sender.
 */
import { ParleyApiError } from "../../../src/client/index";
import { formatTime, h } from "../dom";
import { type ChatRecord, tickOf, unreadCount } from "../history";
import type { Messenger } from "../messenger";

export function lastLine(chat: ChatRecord): string {
  const last = chat.messages[chat.messages.length - 1];
  if (!last) return "No messages yet";
  const body = last.file ? `File: ${last.file.name ?? "file"}${last.text ? ` ${last.text}` : ""}` : last.text;
  if (last.notice) return body;
  return last.outgoing ? `You: ${body}` : last.from ? `${last.from.handle}: ${body}` : body;
}

export function chatListItems(messenger: Messenger, chats: ChatRecord[], onOpen: (chatId: string) => void): HTMLElement {
  if (chats.length === 0) return h("p", { class: "empty" }, "No chats yet: start one above.");
  return h(
    "ul",
    { class: "chat-list", "aria-label": "Chats" },
    ...chats.map((chat) => {
      const unread = unreadCount(chat);
      const last = chat.messages[chat.messages.length - 1];
      return h(
        "li",
        {},
        h(
          "button",
          {
            "data-group": chat.group ? "true" : undefined,
            class: `chat-item${chat.chat_id === messenger.openChatId ? " active" : ""}`,
            "data-chat": chat.peer_handle,
            "aria-current": chat.chat_id === messenger.openChatId ? "true" : undefined,
            "aria-label": `${chat.peer_handle}${unread ? `, ${unread} unread` : ""}: ${lastLine(chat)}`,
            onclick: () => onOpen(chat.chat_id),
          },
          h("span", { class: "avatar", "aria-hidden": "true" }, chat.peer_handle.slice(0, 1).toUpperCase()),
          h(
            "span",
            { class: "chat-item-body" },
            h("span", { class: "chat-item-top" }, h("strong", {}, chat.peer_handle), h("time", {}, last ? formatTime(last.at) : "")),
            h(
              "span",
              { class: "chat-item-bottom" },
              messenger.isTyping(chat.chat_id)
                ? h("span", { class: "last-message typing" }, "typing…")
                : h("span", { class: "last-message" }, last?.outgoing ? tickMark(tickOf(chat, last)) : "", lastLine(chat)),
              unread ? h("span", { class: "unread", "data-unread": unread, "aria-hidden": "true" }, String(unread)) : null,
            ),
          ),
        ),
      );
    }),
  );
}

/** ✓ sent, ✓✓ delivered, blue ✓✓ read, ○ pending, ! failed (glyphs every system font has); the label carries it for screen readers. */
export function tickMark(tick: ReturnType<typeof tickOf>): HTMLElement {
  const glyph = { pending: "○", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "!" }[tick];
  return h("span", { class: `tick tick-${tick}`, "data-tick": tick, role: "img", "aria-label": tick }, glyph);
}

export function newChatForm(messenger: Messenger, onOpen: (chatId: string) => void): HTMLElement {
  const input = h("input", { id: "new-chat", name: "new-chat", placeholder: "handle", autocomplete: "off", required: true });
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  return h(
    "form",
    {
      class: "new-chat",
      onsubmit: (event: Event) => {
        event.preventDefault();
        status.textContent = "";
        messenger
          .chatWith(input.value)
          .then((chat) => {
            input.value = "";
            onOpen(chat.chat_id);
          })
          .catch((err: unknown) => {
            const unknownHandle = err instanceof ParleyApiError && (err.code === "not_found" || err.code === "invalid_request");
            status.textContent = unknownHandle ? "No one has that handle." : err instanceof Error ? err.message : String(err);
          });
      },
    },
    h("label", { for: "new-chat" }, "Start a chat with"),
    h("div", { class: "row" }, input, h("button", { type: "submit" }, "Start")),
    status,
  );
}
