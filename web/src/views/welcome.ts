/**
 * @module The first screen: register this browser as a new account (keys are generated here, in
 * the browser, and kept in IndexedDB). With the server's dev verification sender the code comes
 * back by itself; otherwise the screen asks for the code the user received. Linking this browser
 * to an existing account as a companion device slots in here once the SDK can link devices.
 */
import { Client, type KeyValueStore } from "../../../src/client/index";
import { h } from "../dom";

export function welcomeScreen(store: KeyValueStore, onRegistered: (client: Client) => void): HTMLElement {
  const status = h("p", { class: "form-status", role: "status", "aria-live": "polite" });
  const handle = h("input", { id: "handle", name: "handle", autocomplete: "username", required: true, placeholder: "alice or +15551234567" });
  const code = h("input", { id: "code", name: "code", inputmode: "numeric", autocomplete: "one-time-code" });
  const codeRow = h("div", { class: "field", hidden: true }, h("label", { for: "code" }, "Verification code"), code);
  const submit = h("button", { type: "submit" }, "Register");
  let codeWaiter: ((code: string) => void) | null = null;

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
          deviceName: `Web (${navigator.platform || "browser"})`,
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
          .then(onRegistered)
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
  );
  queueMicrotask(() => handle.focus());
  return h("main", { class: "welcome" }, form);
}
