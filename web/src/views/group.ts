/**
 * @module Group screens: "New group" (a name and the members' handles; the creator becomes admin)
 * and "Group info" (members with their roles; admins add and remove members; anyone leaves). The
 * server enforces who may do what; these screens only offer what the user's role allows.
 */
import { ParleyApiError } from "../../../src/client/index";
import { h } from "../dom";
import type { ChatRecord } from "../history";
import type { Messenger } from "../messenger";

function problem(err: unknown): string {
  if (err instanceof ParleyApiError && (err.code === "not_found" || err.code === "invalid_request")) return "No one has that handle.";
  if (err instanceof ParleyApiError && err.code === "forbidden") return "Only the group's admins can do that.";
  return err instanceof Error ? err.message : String(err);
}

function screenHeader(titleId: string, title: string, back: () => void): HTMLElement {
  return h("header", { class: "conversation-header" }, h("button", { class: "back icon", type: "button", "aria-label": "Back", onclick: back }, "←"), h("h2", { id: titleId }, title));
}

export function newGroupScreen(messenger: Messenger, onCreated: (chatId: string) => void, back: () => void): HTMLElement {
  const name = h("input", { id: "group-name", name: "group-name", required: true, maxlength: 100, autocomplete: "off" });
  const members = h("input", { id: "group-members", name: "group-members", required: true, autocomplete: "off", placeholder: "bob, carol" });
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  const create = h("button", { type: "submit" }, "Create group");
  queueMicrotask(() => name.focus());
  return h(
    "section",
    { class: "settings", "aria-labelledby": "new-group-title" },
    screenHeader("new-group-title", "New group", back),
    h(
      "form",
      {
        class: "settings-body",
        onsubmit: (event: Event) => {
          event.preventDefault();
          const handles = members.value.split(/[\s,]+/).filter(Boolean);
          if (handles.length === 0) return void (status.textContent = "Add at least one member.");
          create.disabled = true;
          status.textContent = "Creating…";
          messenger
            .createGroup(name.value, handles)
            .then(onCreated)
            .catch((err: unknown) => (status.textContent = problem(err)))
            .finally(() => (create.disabled = false));
        },
      },
      h("div", { class: "field" }, h("label", { for: "group-name" }, "Group name"), name),
      h("div", { class: "field" }, h("label", { for: "group-members" }, "Members (handles, separated by commas)"), members),
      create,
      status,
    ),
  );
}

export function groupInfoScreen(messenger: Messenger, chat: ChatRecord, back: () => void): HTMLElement {
  const group = chat.group!;
  const me = messenger.client.account.account_id;
  const admin = group.members.some((m) => m.account === me && m.role === "admin");
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  const act = (button: HTMLButtonElement, doing: string, action: () => Promise<void>) => {
    button.disabled = true;
    status.textContent = doing;
    action()
      .then(() => (status.textContent = ""))
      .catch((err: unknown) => (status.textContent = problem(err)))
      .finally(() => (button.disabled = false));
  };

  const members = h(
    "ul",
    { class: "member-list", "aria-label": "Members" },
    ...group.members.map((member) => {
      const remove = h("button", { type: "button", class: "link", "aria-label": `Remove ${member.handle}` }, "Remove");
      remove.addEventListener("click", () => act(remove, `Removing ${member.handle}…`, () => messenger.removeFromGroup(chat.chat_id, member.account)));
      return h(
        "li",
        { "data-member": member.handle },
        h("span", {}, member.account === me ? `${member.handle} (you)` : member.handle),
        member.role === "admin" ? h("span", { class: "role" }, "admin") : null,
        admin && member.account !== me && !group.left ? remove : null,
      );
    }),
  );

  const handle = h("input", { id: "add-member", name: "add-member", autocomplete: "off", required: true, placeholder: "handle" });
  const add = h("button", { type: "submit" }, "Add");
  const addForm = h(
    "form",
    {
      class: "field",
      onsubmit: (event: Event) => {
        event.preventDefault();
        act(add, `Adding ${handle.value}…`, async () => {
          await messenger.addToGroup(chat.chat_id, handle.value);
          handle.value = "";
        });
      },
    },
    h("label", { for: "add-member" }, "Add a member"),
    h("div", { class: "row" }, handle, add),
  );

  const leave = h("button", { type: "button", class: "danger" }, "Leave group");
  leave.addEventListener("click", () => act(leave, "Leaving…", () => messenger.leaveGroup(chat.chat_id)));

  return h(
    "section",
    { class: "settings", "aria-labelledby": "group-info-title" },
    screenHeader("group-info-title", group.name, back),
    h(
      "div",
      { class: "settings-body" },
      group.left
        ? h("p", {}, "You are no longer a member of this group.")
        : h("p", {}, `${group.members.length} members. Messages are end-to-end encrypted with each member's devices.`),
      group.left ? null : members,
      admin && !group.left ? addForm : null,
      group.left ? null : leave,
      status,
    ),
  );
}
