/**
 * Issue 13 acceptance, round 2: the web client's linked devices and groups in Chromium against the
 * real local server. Alice links a second browser to her account by pasting its link code into
 * her primary browser's Settings; the new browser opens with the history her primary sent, and
 * both of her browsers receive Bob's next message. Unlinking it from the primary closes the
 * second browser out. Then a third person, Carol: Alice makes a group of the three, every message
 * reaches the other two with its sender's name, and once Alice (the admin) removes Carol, Carol's
 * browser says so and gets nothing more. Screenshots of the new screens go to test-artifacts/web/.
 */
import { describe, expect, it } from "vitest";
import { findInFiles } from "../node/support/files";
import { serverForThisFile } from "../node/support/suite-server";
import { browserForThisFile, screenshot } from "./support/chromium";
import { DESKTOP, lastImageWidth, lastOutgoingTick, openApp, PHONE, type Person, POLL, pageErrors, registerAs, sendText, squarePng, unlabelledControls } from "./support/people";

const fixture = serverForThisFile("web-devices");
const browser = browserForThisFile();

/** Every text typed in this file: none may reach the server's state. */
const TEXTS = ["before the link, to bob", "bob answers before the link", "bob after the link, to both browsers", "bob after the unlink"];
const GROUP_TEXTS = ["alice to the weekend group", "bob replies to the group", "after carol was removed", "carol is back, bob is gone"];

const open = (viewport: { width: number; height: number }) => openApp(browser(), fixture.server().url, viewport);
const incomingTexts = (person: Person) => person.page.locator(".message.incoming .text").allTextContents();

describe("the web client: link this browser, linked devices, groups", () => {
  let alice: Person;
  let bob: Person;
  let aliceLaptop: Person;
  let carol: Person;

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
    expect(await unlabelledControls(aliceLaptop.page)).toEqual([]);

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
    expect(await unlabelledControls(alice.page)).toEqual([]);

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
    expect(pageErrors(aliceLaptop)).toEqual([]);
    await aliceLaptop.context.close();
  }, 180_000);

  it("alice makes a group with bob and carol: every message reaches the other two with its sender's name", async () => {
    carol = await open(PHONE);
    await registerAs(carol, "carol");
    await alice.page.getByRole("button", { name: "New group" }).click();
    await alice.page.getByLabel("Group name").fill("Weekend");
    // A handle no one has is refused and makes no group.
    await alice.page.getByLabel("Members").fill("bob, nobody.here");
    await alice.page.getByRole("button", { name: "Create group" }).click();
    await expect.poll(() => alice.page.locator(".settings .form-status").textContent(), POLL).toBe("No one has that handle.");
    await alice.page.getByLabel("Members").fill("bob, carol");
    await screenshot(alice.page, "11-new-group");
    expect(await unlabelledControls(alice.page)).toEqual([]);
    await alice.page.getByRole("button", { name: "Create group" }).click();
    await expect.poll(() => alice.page.locator("#conversation-title").textContent(), POLL).toBe("Weekend");
    await sendText(alice.page, GROUP_TEXTS[0]!);
    await expect.poll(() => lastOutgoingTick(alice.page), POLL).toBe("sent");

    for (const person of [bob, carol]) {
      if (person === bob) await bob.page.getByRole("button", { name: "Back to chats" }).click();
      const item = person.page.locator('.chat-item[data-chat="Weekend"]');
      await expect.poll(() => item.locator(".last-message").textContent(), POLL).toBe(`alice: ${GROUP_TEXTS[0]}`);
      await item.click();
    }
    // Typing in a group says who (typing refreshes every few seconds: keep typing until alice sees it).
    const composer = bob.page.getByRole("textbox", { name: "Message", exact: true });
    await expect
      .poll(async () => {
        await composer.pressSequentially("… ", { delay: 40 });
        return alice.page.locator(".peer-status").textContent();
      }, POLL)
      .toBe("bob is typing…");
    await sendText(bob.page, GROUP_TEXTS[1]!);
    const senders = (person: Person) => person.page.locator(".message.incoming .sender").allTextContents();
    await expect.poll(() => incomingTexts(carol), POLL).toEqual([GROUP_TEXTS[0], GROUP_TEXTS[1]]);
    expect(await senders(carol)).toEqual(["alice", "bob"]);
    await expect.poll(() => incomingTexts(alice), POLL).toEqual([GROUP_TEXTS[1]]);
    expect(await senders(alice)).toEqual(["bob"]);
    await expect.poll(() => alice.page.locator(".peer-status").textContent(), POLL).toBe("you, bob, carol");
    expect(await alice.page.locator(".notice").first().textContent()).toBe("You created the group “Weekend”");
    // An image in the group: encrypted once with the file's key, rendered by both others.
    await alice.page.locator("#composer-file").setInputFiles({ name: "group.png", mimeType: "image/png", buffer: await squarePng(alice.page) });
    await expect.poll(() => lastImageWidth(bob.page, "incoming"), POLL).toBe(160);
    await expect.poll(() => lastImageWidth(carol.page, "incoming"), POLL).toBe(160);
    await screenshot(alice.page, "12-group-conversation");
    await screenshot(carol.page, "13-group-phone");
  }, 180_000);

  it("alice removes carol: carol's browser says so and gets no more of the group's messages", async () => {
    // Bob is a member, not an admin: his group info offers no Remove.
    await bob.page.getByRole("button", { name: "Group info" }).click();
    await expect.poll(() => bob.page.locator(".member-list li").count(), POLL).toBe(3);
    expect(await bob.page.getByRole("button", { name: /^Remove / }).count()).toBe(0);
    await bob.page.getByRole("button", { name: "Back", exact: true }).click();

    await alice.page.getByRole("button", { name: "Group info" }).click();
    await screenshot(alice.page, "14-group-info");
    expect(await unlabelledControls(alice.page)).toEqual([]);
    await alice.page.getByRole("button", { name: "Remove carol" }).click();
    await expect.poll(() => alice.page.locator(".member-list li").count(), POLL).toBe(2);
    await expect.poll(() => carol.page.locator(".left-note").isVisible(), POLL).toBe(true);
    expect(await carol.page.locator(".notice").last().textContent()).toBe("Alice removed you");
    expect(await carol.page.locator(".composer").isVisible()).toBe(false);

    await alice.page.keyboard.press("Escape");
    await sendText(alice.page, GROUP_TEXTS[2]!);
    await expect.poll(() => incomingTexts(bob), POLL).toEqual([GROUP_TEXTS[0], GROUP_TEXTS[2]]);
    expect(await bob.page.locator(".notice").last().textContent()).toBe("Alice removed carol");
    // Bob has it, and carol's inbox would have had it by now: nothing arrived.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await incomingTexts(carol)).toEqual([GROUP_TEXTS[0], GROUP_TEXTS[1]]);
  }, 180_000);

  it("the admin adds members by handle (an unknown one is refused); a member leaves", async () => {
    await alice.page.getByRole("button", { name: "Group info" }).click();
    await alice.page.getByLabel("Add a member").fill("nobody.here");
    await alice.page.getByRole("button", { name: "Add", exact: true }).click();
    await expect.poll(() => alice.page.locator(".settings .form-status").textContent(), POLL).toBe("No one has that handle.");
    await alice.page.getByLabel("Add a member").fill("carol");
    await alice.page.getByRole("button", { name: "Add", exact: true }).click();
    await expect.poll(() => alice.page.locator(".member-list li").count(), POLL).toBe(3);
    // Carol is back: her composer returns (and, below, the group's messages reach her again).
    await expect.poll(() => carol.page.locator(".composer").isVisible(), POLL).toBe(true);
    expect(await carol.page.locator(".notice").last().textContent()).toBe("Alice added you");

    await bob.page.getByRole("button", { name: "Group info" }).click();
    await bob.page.getByRole("button", { name: "Leave group" }).click();
    await expect.poll(() => alice.page.locator(".member-list li").count(), POLL).toBe(2);
    await alice.page.keyboard.press("Escape");
    await expect.poll(() => alice.page.locator(".notice").last().textContent(), POLL).toBe("Bob left");
    expect(await alice.page.locator(".peer-status").textContent()).toBe("you, carol");
    await sendText(alice.page, GROUP_TEXTS[3]!);
    await expect.poll(() => incomingTexts(carol), POLL).toEqual([GROUP_TEXTS[0], GROUP_TEXTS[1], GROUP_TEXTS[3]]);
    expect(pageErrors(alice, bob, carol)).toEqual([]);
    await Promise.all([alice.context.close(), bob.context.close(), carol.context.close()]);
  }, 180_000);

  it("no message text is anywhere in the server's state", async () => {
    await fixture.server().stop();
    const plaintext = await findInFiles(fixture.server().stateDir, [...TEXTS, ...GROUP_TEXTS]);
    expect(plaintext.hits).toEqual([]);
    expect(plaintext.scanned).toBeGreaterThan(0);
  }, 60_000);
});
