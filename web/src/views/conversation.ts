/**
 * @module The open chat: a header with the peer's online / last-seen / typing status, the messages
 * with delivery ticks, images rendered inline (downloaded and decrypted in the browser) and other
 * files as download links, upload progress, and the composer (text, attachment). The composer is
 * built once per chat so re-rendering on every event never loses what the user is typing. In a
 * group: the members instead of presence, the sender's name on each incoming message, membership
 * changes as notices, and no composer once this account is no longer a member.
 */
import { isGroupChat } from "../../../src/client/index";
import { formatBytes, formatTime, h } from "../dom";
import { type ChatRecord, type StoredMessage, tickOf } from "../history";
import type { Messenger } from "../messenger";
import { tickMark } from "./chat-list";

export class ConversationView {
  readonly element: HTMLElement;
  private readonly title = h("h2", { id: "conversation-title" });
  private readonly status = h("p", { class: "peer-status", "aria-live": "polite" });
  // Not a live region itself: it is re-rendered on every tick change. New incoming messages are
  // announced once through `announcer` instead.
  private readonly list = h("ol", { class: "messages", "aria-label": "Messages", tabindex: "0" });
  private readonly announcer = h("p", { class: "visually-hidden", role: "status", "aria-live": "polite" });
  private readonly media = new Map<string, HTMLElement>();
  /** Rendered items by msg_id with what they showed: unchanged messages keep their element. */
  private readonly items = new Map<string, { signature: string; element: HTMLElement }>();
  private chat: ChatRecord | null = null;
  private readonly composer: HTMLFormElement;
  private readonly leftNote = h("p", { class: "left-note", hidden: true }, "You are no longer a member of this group.");

  constructor(
    private readonly messenger: Messenger,
    readonly chatId: string,
    actions: { back: () => void; safety: () => void; groupInfo: () => void },
  ) {
    const group = isGroupChat(chatId);
    const text = h("textarea", { id: "composer-text", rows: 1, placeholder: "Type a message", autocomplete: "off" });
    const file = h("input", { id: "composer-file", type: "file", class: "visually-hidden" });
    const send = () => {
      const body = text.value.trim();
      if (!body) return;
      text.value = "";
      void messenger.sendText(chatId, body);
    };
    text.addEventListener("input", () => messenger.typed(chatId));
    text.addEventListener("keydown", (event) => {
      // Enter sends, Shift+Enter is a new line (as in WhatsApp Web).
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        send();
      }
    });
    file.addEventListener("change", () => {
      const chosen = file.files?.[0];
      if (chosen) void messenger.sendFile(chatId, chosen, text.value.trim());
      text.value = "";
      file.value = "";
    });
    this.element = h(
      "section",
      { class: "conversation", "aria-labelledby": "conversation-title" },
      h(
        "header",
        { class: "conversation-header" },
        h("button", { class: "back icon", type: "button", "aria-label": "Back to chats", onclick: actions.back }, "←"),
        h("div", { class: "peer" }, this.title, this.status),
        group ? h("button", { type: "button", class: "link", onclick: actions.groupInfo }, "Group info") : h("button", { type: "button", class: "link", onclick: actions.safety }, "Safety number"),
      ),
      this.list,
      this.announcer,
      this.leftNote,
      (this.composer = h(
        "form",
        {
          class: "composer",
          onsubmit: (event: Event) => {
            event.preventDefault();
            send();
          },
        },
        h("label", { for: "composer-file", class: "icon attach", title: "Attach a file" }, h("span", { "aria-hidden": "true" }, "+"), h("span", { class: "visually-hidden" }, "Attach a file")),
        file,
        h("label", { for: "composer-text", class: "visually-hidden" }, "Message"),
        text,
        h("button", { type: "submit", "aria-label": "Send" }, "Send"),
      )),
    );
    queueMicrotask(() => text.focus());
  }

  update(chat: ChatRecord): void {
    this.chat = chat;
    this.title.textContent = chat.peer_handle;
    this.status.textContent = this.statusLine(chat);
    const left = chat.group?.left ?? false;
    this.composer.hidden = left;
    this.leftNote.hidden = !left;
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    const firstRender = this.items.size === 0;
    const fresh = chat.messages.filter((m) => !m.outgoing && !this.items.has(m.id));
    if (!firstRender && fresh.length > 0) {
      this.announcer.textContent = fresh.map((m) => `${m.notice ? "" : `${m.from?.handle ?? chat.peer_handle}: `}${m.text || (m.file ? `sent ${m.file.name ?? "a file"}` : "")}`).join(". ");
    }
    const shown = new Set<string>();
    this.list.replaceChildren(
      ...chat.messages.map((m) => {
        shown.add(m.id);
        const upload = this.messenger.uploads.get(m.id);
        const signature = `${tickOf(chat, m)}|${m.chat_seq}|${m.at}|${upload ? `${upload.sent}/${upload.total}` : ""}`;
        const cached = this.items.get(m.id);
        if (cached?.signature === signature) return cached.element;
        const element = this.messageItem(chat, m);
        this.items.set(m.id, { signature, element });
        return element;
      }),
    );
    for (const id of this.items.keys()) if (!shown.has(id)) this.items.delete(id);
    if (atBottom || chat.messages[chat.messages.length - 1]?.outgoing) this.list.scrollTop = this.list.scrollHeight;
  }

  private statusLine(chat: ChatRecord): string {
    if (this.messenger.isTyping(chat.chat_id)) {
      const who = chat.group ? this.messenger.typingName(chat.chat_id) : undefined;
      return who ? `${who} is typing…` : "typing…";
    }
    if (chat.group) return chat.group.members.map((m) => (m.account === this.messenger.client.account.account_id ? "you" : m.handle)).join(", ");
    const presence = this.messenger.presenceOf(chat.peer_account);
    if (presence?.online) return "online";
    if (presence?.last_seen) return `last seen ${formatTime(presence.last_seen)}`;
    return "";
  }

  private messageItem(chat: ChatRecord, message: StoredMessage): HTMLElement {
    if (message.notice) return h("li", { class: "notice", "data-msg": message.id }, message.text);
    const upload = this.messenger.uploads.get(message.id);
    return h(
      "li",
      { class: `message ${message.outgoing ? "outgoing" : "incoming"}`, "data-msg": message.id },
      message.from ? h("span", { class: "sender" }, message.from.handle) : null,
      message.file ? this.fileBlock(message) : null,
      upload ? h("progress", { max: upload.total, value: upload.sent, "aria-label": `Uploading ${message.file?.name ?? "file"}` }) : null,
      message.text ? h("p", { class: "text" }, message.text) : null,
      h("span", { class: "meta" }, h("time", {}, formatTime(message.at)), message.outgoing ? tickMark(tickOf(chat, message)) : null),
    );
  }

  /** Images inline, anything else as a link; the element is kept across renders (one download each). */
  private fileBlock(message: StoredMessage): HTMLElement {
    const file = message.file!;
    const cached = this.media.get(message.id);
    if (cached) return cached;
    const label = `${file.name ?? "file"} (${formatBytes(file.size)})`;
    let element: HTMLElement;
    if (file.mime.startsWith("image/")) {
      const image = h("img", { class: "image", alt: file.name ?? "image" });
      element = h("figure", { class: "attachment" }, image);
      void this.messenger
        .fileUrl(message.id, file.mime)
        .then((url) => (image.src = url))
        .catch(() => element.replaceChildren(h("p", { class: "error" }, `Could not load ${label}`)));
    } else {
      const link = h("a", { class: "attachment", download: file.name ?? "file", href: "#" }, `↓ ${label}`);
      link.addEventListener("click", (event) => {
        if (link.getAttribute("href") !== "#") return;
        event.preventDefault();
        void this.messenger.fileUrl(message.id, file.mime).then((url) => {
          link.href = url;
          link.click();
        });
      });
      element = link;
    }
    this.media.set(message.id, element);
    return element;
  }

  current(): ChatRecord | null {
    return this.chat;
  }
}
