/**
 * @module The "Linked devices" section of Settings. On the primary device: the account's devices
 * with an Unlink button for each companion, and "Link a device", where the link code another
 * browser shows (its QR payload) is pasted to approve it. On a companion: which account it belongs
 * to and a way to unlink itself (log out); the primary manages the rest.
 */
import { PRIMARY_DEVICE_ID } from "../../../src/client/index";
import { h } from "../dom";
import type { Messenger } from "../messenger";

export function devicesSection(messenger: Messenger): HTMLElement {
  const status = h("p", { class: "devices-status", role: "status", "aria-live": "polite" });
  const list = h("ul", { class: "device-list", "aria-label": "Devices of this account" });
  const failed = (what: string) => (err: unknown) => (status.textContent = `${what} failed: ${err instanceof Error ? err.message : String(err)}`);
  const section = h("fieldset", { class: "devices" }, h("legend", {}, "Linked devices"), list);

  const refresh = async () => {
    const { devices } = await messenger.client.devices();
    list.replaceChildren(
      ...devices.map((device) => {
        const self = device.device_id === messenger.client.account.device_id;
        const name = `${device.name ?? "Device"} · device ${device.device_id}${device.device_id === PRIMARY_DEVICE_ID ? " (primary)" : ""}${self ? " (this browser)" : ""}`;
        const unlink = h("button", { type: "button", class: "link", "aria-label": `Unlink ${name}` }, "Unlink");
        unlink.addEventListener("click", () => {
          unlink.disabled = true;
          status.textContent = `Unlinking ${name}…`;
          messenger
            .unlink(device.device_id)
            .then(() => (status.textContent = `${name} unlinked.`))
            .then(refresh)
            .catch(failed("Unlinking"))
            .finally(() => (unlink.disabled = false));
        });
        const removable = messenger.isPrimary ? device.device_id !== PRIMARY_DEVICE_ID : self;
        return h("li", { "data-device": device.device_id }, h("span", {}, name), removable ? unlink : null);
      }),
    );
  };
  void refresh().catch(failed("Loading the devices"));

  if (messenger.isPrimary) {
    const payload = h("textarea", { id: "approve-link-payload", rows: 3, spellcheck: "false", placeholder: "parley-link:…", required: true });
    const approve = h("button", { type: "submit" }, "Link device");
    const form = h(
      "form",
      {
        class: "link-device",
        onsubmit: (event: Event) => {
          event.preventDefault();
          approve.disabled = true;
          status.textContent = "Linking… (the new browser finishes on its own)";
          messenger
            .approveLink(payload.value)
            .then(({ device_id }) => {
              payload.value = "";
              status.textContent = `Device ${device_id} linked.`;
              return refresh();
            })
            .catch(failed("Linking"))
            .finally(() => (approve.disabled = false));
        },
      },
      h("label", { for: "approve-link-payload" }, "Link a device: paste the link code the new browser shows"),
      payload,
      approve,
    );
    section.append(form);
  } else {
    section.append(h("p", {}, "This browser is a linked device; the account's primary device links and unlinks the others."));
  }
  section.append(status);
  return section;
}
