/**
 * @module Settings: who sees this user's last seen and online status (kept by the server, which
 * enforces it), whether this browser sends read receipts (a local choice), push notifications, and
 * the account's linked devices (views/devices.ts).
 */
import { h } from "../dom";
import type { Messenger } from "../messenger";
import { enablePush, PUSH_STATUS_TEXT } from "../push";
import { devicesSection } from "./devices";

const AUDIENCES = [
  ["everyone", "Everyone"],
  ["contacts", "My contacts"],
  ["nobody", "Nobody"],
] as const;
type Audience = (typeof AUDIENCES)[number][0];

function audienceSelect(id: string, label: string, value: Audience, onChange: (value: Audience) => void): HTMLElement {
  const select = h("select", { id, name: id }, ...AUDIENCES.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
  select.addEventListener("change", () => onChange(select.value as Audience));
  return h("div", { class: "field" }, h("label", { for: id }, label), select);
}

export async function settingsScreen(messenger: Messenger, back: () => void): Promise<HTMLElement> {
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  const saved = (what: string) => (status.textContent = `${what} saved.`);
  const failed = (err: unknown) => (status.textContent = `Could not save: ${err instanceof Error ? err.message : String(err)}`);
  const [privacy, preferences] = await Promise.all([messenger.client.privacy(), messenger.preferences()]);

  const receipts = h("input", { id: "read-receipts", type: "checkbox", checked: preferences.send_read_receipts });
  receipts.addEventListener("change", () =>
    messenger
      .setPreferences({ ...preferences, send_read_receipts: receipts.checked })
      .then(() => saved("Read receipts"))
      .catch(failed),
  );
  const pushStatus = h("p", { id: "push-status", "aria-live": "polite" }, "Get a notification when a message arrives while Parley is closed.");
  const pushButton = h("button", { type: "button" }, "Enable notifications");
  pushButton.addEventListener("click", () => {
    pushButton.disabled = true;
    void enablePush(messenger.client).then(({ status: result, detail }) => {
      pushStatus.textContent = PUSH_STATUS_TEXT[result] + (detail ? ` (${detail})` : "");
      pushStatus.dataset.status = result;
      pushButton.disabled = result === "enabled";
    });
  });

  return h(
    "section",
    { class: "settings", "aria-labelledby": "settings-title" },
    h("header", { class: "conversation-header" }, h("button", { class: "back icon", type: "button", "aria-label": "Back", onclick: back }, "←"), h("h2", { id: "settings-title" }, "Settings")),
    h(
      "div",
      { class: "settings-body" },
      h("p", {}, "Signed in as ", h("strong", {}, messenger.handle), ` (device ${messenger.client.account.device_id}).`),
      h(
        "fieldset",
        {},
        h("legend", {}, "Privacy"),
        audienceSelect("privacy-last-seen", "Who sees my last seen", privacy.last_seen, (v) => void messenger.client.setPrivacy({ last_seen: v }).then(() => saved("Last seen")).catch(failed)),
        audienceSelect("privacy-online", "Who sees when I am online", privacy.online, (v) => void messenger.client.setPrivacy({ online: v }).then(() => saved("Online")).catch(failed)),
        h("div", { class: "field checkbox" }, receipts, h("label", { for: "read-receipts" }, "Send read receipts")),
      ),
      h("fieldset", {}, h("legend", {}, "Notifications"), pushStatus, pushButton),
      status,
      devicesSection(messenger),
    ),
  );
}
