/**
 * Issue 13 acceptance, round 2: the web client's linked devices and groups in Chromium against the
 * real local server. Alice links a second browser to her account by pasting its link code into
 * her primary browser's Settings; the new browser opens with the history her primary sent, and
 * both of her browsers receive Bob's next message. Unlinking it from the primary closes the
 * second browser out. Screenshots of the new screens go to test-artifacts/web/.
 */
import { describe, expect, it } from "vitest";
import { findInFiles } from "../node/support/files";
import { serverForThisFile } from "../node/support/suite-server";
import { browserForThisFile, screenshot } from "./support/chromium";
import { DESKTOP, openApp, PHONE, type Person, POLL, pageErrors, registerAs, sendText } from "./support/people";

const fixture = serverForThisFile("web-devices");
const browser = browserForThisFile();

/** Every text typed in this file: none may reach the server's state. */
const TEXTS = ["before the link, to bob", "bob answers before the link", "bob after the link, to both browsers", "bob after the unlink"];

const open = (viewport: { width: number; height: number }) => openApp(browser(), fixture.server().url, viewport);
const incomingTexts = (person: Person) => person.page.locator(".message.incoming .text").allTextContents();

describe("the web client: link this browser, linked devices", () => {
  let alice: Person;
  let bob: Person;
  let aliceLaptop: Person;

  it("alice and bob register and talk (history for the link to carry)", async () => {
    [alice, bob] = await Promise.all([open(DESKTOP), open(PHONE)]);
    await Promise.all([registerAs(alice, "alice"), registerAs(bob, "bob")]);
    await alice.page.getByLabel("Start a chat with").fill("bob");
    await alice.page.getByRole("button", { name: "Start" }).click();
    await sendText(alice.page, TEXTS[0]!);
    await bob.page.locator('.chat-item[data-chat="alice"]').click();
    await expect.poll(() => incomingTexts(bob), POLL).toEqual([TEXTS[0]]);
    await sendText(bob.page, TEXTS[1]!);
    await expect.poll(() => incomingTexts(alice), POLL).toEqual([TEXTS[1]]);
  }, 180_000);

  it("a second browser links to alice's account by its pasted link code and opens with her history", async () => {
    aliceLaptop = await open(DESKTOP);
    await aliceLaptop.page.getByRole("button", { name: "Link to an existing account" }).click();
    const code = aliceLaptop.page.getByLabel("Link code");
    await expect.poll(() => code.inputValue(), POLL).toMatch(/^parley-link:/);
    // The QR code is a real image of the payload.
    await expect.poll(() => aliceLaptop.page.locator(".link-qr img").evaluate((img: HTMLImageElement) => img.naturalWidth).catch(() => 0), POLL).toBeGreaterThan(100);
    await screenshot(aliceLaptop.page, "08-link-this-browser");

    await alice.page.getByRole("button", { name: "Settings" }).click();
    // A link code that is not one is refused where it was pasted.
    await alice.page.getByLabel("Link a device").fill("parley-link:not-a-code");
    await alice.page.getByRole("button", { name: "Link device" }).click();
    await expect.poll(() => alice.page.locator(".devices-status").textContent(), POLL).toMatch(/^Linking failed/);

    await alice.page.getByLabel("Link a device").fill(await code.inputValue());
    await alice.page.getByRole("button", { name: "Link device" }).click();
    await expect.poll(() => alice.page.locator(".devices-status").textContent(), POLL).toBe("Device 2 linked.");
    await expect.poll(() => alice.page.locator(".device-list li").count(), POLL).toBe(2);
    await screenshot(alice.page, "09-linked-devices");

    // The new browser is alice's, with her chat with bob and its messages so far.
    await aliceLaptop.page.locator(".sidebar-header .me", { hasText: "alice" }).waitFor({ timeout: POLL.timeout });
    const chat = aliceLaptop.page.locator('.chat-item[data-chat="bob"]');
    await expect.poll(() => chat.locator(".last-message").textContent(), POLL).toContain(TEXTS[1]);
    await chat.click();
    await expect.poll(() => aliceLaptop.page.locator(".message .text").allTextContents(), POLL).toEqual([TEXTS[0], TEXTS[1]]);
    expect(await aliceLaptop.page.locator(".message.outgoing .text").allTextContents()).toEqual([TEXTS[0]]);
  }, 180_000);

  it("bob's next message reaches both of alice's browsers", async () => {
    await sendText(bob.page, TEXTS[2]!);
    await expect.poll(() => incomingTexts(aliceLaptop), POLL).toEqual([TEXTS[1], TEXTS[2]]);
    await alice.page.locator('.chat-item[data-chat="bob"]').click();
    await expect.poll(() => incomingTexts(alice), POLL).toEqual([TEXTS[1], TEXTS[2]]);
  }, 180_000);

  it("unlinking the second browser from the primary closes it out; it can start over as a new device", async () => {
    await alice.page.getByRole("button", { name: "Settings" }).click();
    await alice.page.locator('.device-list li[data-device="2"] button').click();
    await expect.poll(() => alice.page.locator(".device-list li").count(), POLL).toBe(1);
    await expect.poll(() => aliceLaptop.page.locator("#terminated-title").textContent(), POLL).toBe("This browser was unlinked");
    await screenshot(aliceLaptop.page, "10-browser-unlinked");

    // Bob still reaches alice's primary, and nothing reaches the unlinked browser.
    await sendText(bob.page, TEXTS[3]!);
    await alice.page.locator('.chat-item[data-chat="bob"]').click();
    await expect.poll(() => incomingTexts(alice), POLL).toEqual([TEXTS[1], TEXTS[2], TEXTS[3]]);
    expect(await aliceLaptop.page.locator(".message").count()).toBe(0);

    // Starting over deletes the old device's keys and history: the welcome screen again.
    await aliceLaptop.page.getByRole("button", { name: "Start over" }).click();
    await aliceLaptop.page.getByLabel("Your handle").waitFor({ timeout: POLL.timeout });
    expect(pageErrors(alice, bob, aliceLaptop)).toEqual([]);
    await Promise.all([alice.context.close(), bob.context.close(), aliceLaptop.context.close()]);
  }, 180_000);

  it("no message text is anywhere in the server's state", async () => {
    await fixture.server().stop();
    const plaintext = await findInFiles(fixture.server().stateDir, TEXTS);
    expect(plaintext.hits).toEqual([]);
    expect(plaintext.scanned).toBeGreaterThan(0);
  }, 60_000);
});
