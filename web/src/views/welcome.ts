/**
 * @module The first screen: register this browser as a new account, or link it to an existing
 * account as a companion device. Either way the keys are generated here, in the browser, and kept
 * in IndexedDB. With the server's dev verification sender the registration code comes back by
 * itself; otherwise the screen asks for the code the user received. Linking shows a QR code (and
 * the same payload as text, to paste) for the account's primary device to approve; the history
 * the primary sends along is imported by the caller.
 */
import { Client, type KeyValueStore, type LinkedDevice } from "../../../src/client/index";
import encodeQR from "qr";
import { h } from "../dom";

/** The device name the server shows in the account's device list. */
function deviceName(): string {
  return `Web (${navigator.platform || "browser"})`;
}

export function welcomeScreen(store: KeyValueStore, onReady: (client: Client, linked: LinkedDevice | null) => void): HTMLElement {
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  const handle = h("input", { id: "handle", name: "handle", autocomplete: "username", required: true, placeholder: "alice or +15551234567" });
  const code = h("input", { id: "code", name: "code", inputmode: "numeric", autocomplete: "one-time-code" });
  const codeRow = h("div", { class: "field", hidden: true }, h("label", { for: "code" }, "Verification code"), code);
  const submit = h("button", { type: "submit" }, "Register");
  let codeWaiter: ((code: string) => void) | null = null;
  const root = h("main", { class: "welcome" });

  const form = h(
    "form",
    {
      class: "card",
      "aria-labelledby": "welcome-title",
      onsubmit: (event: Event) => {
        event.preventDefault();
        if (codeWaiter) {
          codeWaiter(code.value.trim());
          codeWaiter = null;
          return;
        }
        submit.disabled = true;
        status.textContent = "Creating your keys and registering…";
        Client.register({
          server: location.origin,
          store,
          handle: handle.value.trim(),
          deviceName: deviceName(),
          verificationCode: () =>
            new Promise<string>((resolve) => {
              codeRow.hidden = false;
              submit.disabled = false;
              submit.textContent = "Verify";
              status.textContent = "Enter the code we sent you.";
              code.focus();
              codeWaiter = resolve;
            }),
        })
          .then((client) => onReady(client, null))
          .catch((err: unknown) => {
            submit.disabled = false;
            submit.textContent = "Register";
            status.textContent = `Registration failed: ${err instanceof Error ? err.message : String(err)}`;
          });
      },
    },
    h("h1", { id: "welcome-title" }, "Parley"),
    h("p", {}, "End-to-end encrypted messaging. Your keys are created in this browser and never leave it."),
    h("div", { class: "field" }, h("label", { for: "handle" }, "Your handle"), handle),
    codeRow,
    submit,
    status,
    h("p", { class: "alternative" }, "Already use Parley on another device? ", h("button", { type: "button", class: "link", onclick: () => root.replaceChildren(linkCard(store, onReady, () => showRegister())) }, "Link to an existing account")),
  );
  const showRegister = () => {
    root.replaceChildren(form);
    handle.focus();
  };
  root.append(form);
  queueMicrotask(() => handle.focus());
  return root;
}

/**
 * Starts a link and shows its payload until the primary approves it (or the channel expires).
 * Going back abandons the attempt: its keys are replaced by the next registration or link.
 */
function linkCard(store: KeyValueStore, onReady: (client: Client, linked: LinkedDevice) => void, back: () => void): HTMLElement {
  let abandoned = false;
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" }, "Creating this browser's keys…");
  const qr = h("figure", { class: "link-qr" });
  const payload = h("textarea", { id: "link-payload", readonly: true, rows: 4, spellcheck: "false" });
  const copy = h("button", { type: "button", disabled: true }, "Copy");
  const again = h("button", { type: "button", hidden: true }, "Try again");
  const card = h(
    "section",
    { class: "card", "aria-labelledby": "link-title" },
    h("h1", { id: "link-title" }, "Link this browser"),
    h("p", {}, "On your primary device open Settings, choose “Link a device”, and scan this code or paste the text below."),
    qr,
    h("div", { class: "field" }, h("label", { for: "link-payload" }, "Link code"), payload),
    h("div", { class: "row" }, copy, again),
    status,
    h(
      "button",
      {
        type: "button",
        class: "link",
        onclick: () => {
          abandoned = true;
          back();
        },
      },
      "Back to registration",
    ),
  );
  copy.addEventListener("click", () => {
    void navigator.clipboard
      .writeText(payload.value)
      .then(() => (status.textContent = "Copied. Waiting for approval…"))
      .catch(() => {
        // No clipboard permission: select the text so the user can copy it by hand.
        payload.select();
      });
  });

  const start = async () => {
    again.hidden = true;
    status.textContent = "Creating this browser's keys…";
    try {
      const pending = await Client.startLink({ server: location.origin, store, deviceName: deviceName() });
      if (abandoned) return;
      payload.value = pending.payload;
      copy.disabled = false;
      const gif = encodeQR(pending.payload, "gif", { scale: 4, border: 2 });
      qr.replaceChildren(h("img", { src: URL.createObjectURL(new Blob([gif], { type: "image/gif" })), alt: "QR code of the link code" }));
      status.textContent = `Waiting for approval (until ${new Date(pending.expiresAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })})…`;
      const linked = await pending.complete();
      if (abandoned) return;
      status.textContent = linked.historyError ? `Linked, but the history could not be imported: ${linked.historyError}` : "Linked.";
      onReady(linked.client, linked);
    } catch (err) {
      if (abandoned) return;
      status.textContent = `Linking failed: ${err instanceof Error ? err.message : String(err)}`;
      again.hidden = false;
    }
  };
  again.addEventListener("click", () => void start());
  void start();
  return card;
}
