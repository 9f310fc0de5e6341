/**
 * @module The safety-number screen: the 60 digits both people compare (in person or on a call) to
 * be sure no one sits between them. The same number shows on both sides; a different number means
 * a changed or intercepted identity key.
 */
import { h } from "../dom";
import type { ChatRecord } from "../history";
import type { Messenger } from "../messenger";

export async function safetyScreen(messenger: Messenger, chat: ChatRecord, back: () => void): Promise<HTMLElement> {
  const number = await messenger.client.safetyNumberWith(chat.peer_account);
  const groups = number ? (number.displayable.match(/.{5}/g) ?? []) : [];
  return h(
    "section",
    { class: "safety", "aria-labelledby": "safety-title" },
    h(
      "header",
      { class: "conversation-header" },
      h("button", { class: "back icon", type: "button", "aria-label": "Back to the chat", onclick: back }, "←"),
      h("h2", { id: "safety-title" }, `Safety number with ${chat.peer_handle}`),
    ),
    number
      ? h(
          "div",
          { class: "settings-body" },
          h("p", { class: "safety-number", "aria-label": `Safety number: ${groups.join(" ")}`, "data-number": number.displayable }, ...groups.map((g) => h("span", {}, g))),
          h("p", {}, `Compare these digits with the ones on ${chat.peer_handle}'s screen. If they match, your conversation is end-to-end encrypted with no one in between.`),
        )
      : h("p", { class: "settings-body" }, `There is no session with ${chat.peer_handle} yet: send or receive a message first.`),
  );
}
