/**
 * Issue 13 acceptance: the web client in Chromium against the real local server. Alice (desktop
 * layout) and Bob (phone layout) register in two browser contexts, talk, and see delivery and read
 * ticks, typing and online status; an image Alice sends renders on Bob's side; both see the same
 * safety number; settings and push registration work; a message written offline survives a reload
 * and goes out; a reload keeps everything (IndexedDB); and
 * no message text is anywhere in the server's state afterwards. Screenshots of the main screens
 * go to test-artifacts/web/. Linking a second browser and groups: web-client-devices-groups.test.ts.
 */
import { join } from "node:path";
import { build } from "esbuild";
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { findInFiles } from "../node/support/files";
import { serverForThisFile } from "../node/support/suite-server";
import { browserForThisFile, screenshot } from "./support/chromium";
import { DESKTOP, lastOutgoingTick, openApp, PHONE, type Person, POLL, pageErrors, registerAs, squarePng, unlabelledControls } from "./support/people";

const fixture = serverForThisFile("web");
const browser = browserForThisFile();
const root = join(import.meta.dirname, "..", "..");

/** Every text typed in this file: none may reach the server's state. */
const TEXTS = ["hello bob, from the browser", "hi alice! encrypted both ways", "caption of the square", "nobody reads this receipt", "written while offline"];

const open = (viewport: { width: number; height: number }) => openApp(browser(), fixture.server().url, viewport);
const peerStatus = (page: Page) => page.locator(".peer-status").textContent();

describe("the web client, two people in Chromium", () => {
  let alice: Person;
  let bob: Person;

  it("registers alice and bob in the browser (the welcome screen)", async () => {
    alice = await open(DESKTOP);
    bob = await open(PHONE);
    await alice.page.getByLabel("Your handle").waitFor();
    await screenshot(alice.page, "01-welcome");
    await Promise.all([registerAs(alice, "alice"), registerAs(bob, "bob")]);
    // The page shows the empty list, ready to start a chat.
    await expect.poll(() => alice.page.locator(".empty").textContent(), POLL).toContain("No chats yet");
  }, 180_000);

  it("alice writes to bob: sent, then delivered while bob is online, then read once he opens it", async () => {
    // A handle no one has is refused where it was typed, and starts no chat.
    await alice.page.getByLabel("Start a chat with").fill("nobody.here");
    await alice.page.getByRole("button", { name: "Start" }).click();
    await expect.poll(() => alice.page.locator(".new-chat .form-status").textContent(), POLL).toBe("No one has that handle.");
    expect(await alice.page.locator(".chat-item").count()).toBe(0);

    await alice.page.getByLabel("Start a chat with").fill("bob");
    await alice.page.getByRole("button", { name: "Start" }).click();
    await alice.page.getByRole("textbox", { name: "Message", exact: true }).fill(TEXTS[0]!);
    await alice.page.getByRole("textbox", { name: "Message", exact: true }).press("Enter");
    await expect.poll(() => alice.page.locator(".message.outgoing .text").last().textContent(), POLL).toBe(TEXTS[0]);
    await expect.poll(() => lastOutgoingTick(alice.page), POLL).toBe("delivered");

    // Bob's list: the chat, its last message and one unread.
    const item = bob.page.locator('.chat-item[data-chat="alice"]');
    await expect.poll(() => item.locator(".unread").textContent(), POLL).toBe("1");
    expect(await item.locator(".last-message").textContent()).toContain(TEXTS[0]);
    await screenshot(bob.page, "02-chat-list-phone");

    // Keyboard only: focus the chat and press Enter.
    await item.focus();
    await bob.page.keyboard.press("Enter");
    await expect.poll(() => bob.page.locator(".message.incoming .text").last().textContent(), POLL).toBe(TEXTS[0]);
    await expect.poll(() => lastOutgoingTick(alice.page), POLL).toBe("read");
    await expect.poll(() => item.locator(".unread").count(), POLL).toBe(0);
    // Phone width: the open chat replaces the list; the desktop keeps both panes.
    expect(await bob.page.locator(".sidebar").isVisible()).toBe(false);
    expect(await bob.page.getByRole("button", { name: "Back to chats" }).isVisible()).toBe(true);
    expect(await alice.page.locator(".sidebar").isVisible()).toBe(true);
  }, 180_000);

  it("bob answers; each sees the other online and typing", async () => {
    await expect.poll(() => alice.page.locator(".peer-status").textContent(), POLL).toBe("online");
    const composer = bob.page.getByRole("textbox", { name: "Message", exact: true });
    // Typing refreshes every few seconds; keep typing until alice sees it.
    await expect
      .poll(async () => {
        await composer.pressSequentially("typing… ", { delay: 40 });
        return peerStatus(alice.page);
      }, POLL)
      .toBe("typing…");
    expect(await alice.page.locator('.chat-item[data-chat="bob"] .last-message').textContent()).toBe("typing…");
    await screenshot(alice.page, "03-conversation-typing");
    await composer.fill(TEXTS[1]!);
    await composer.press("Enter");
    await expect.poll(() => alice.page.locator(".message.incoming .text").last().textContent(), POLL).toBe(TEXTS[1]);
    await expect.poll(() => peerStatus(alice.page), POLL).not.toBe("typing…");
    await expect.poll(() => lastOutgoingTick(bob.page), POLL).toBe("read");
  }, 180_000);

  it("an image alice sends shows upload progress and renders on bob's side", async () => {
    const png = await squarePng(alice.page);
    await alice.page.evaluate(() => {
      const seen = window as unknown as { sawProgress: boolean };
      seen.sawProgress = false;
      new MutationObserver(() => (seen.sawProgress ||= document.querySelector(".message progress") !== null)).observe(document.body, { childList: true, subtree: true });
    });
    await alice.page.getByRole("textbox", { name: "Message", exact: true }).fill(TEXTS[2]!);
    await alice.page.locator("#composer-file").setInputFiles({ name: "square.png", mimeType: "image/png", buffer: png });

    const image = bob.page.locator(".message.incoming img.image").last();
    await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.naturalWidth).catch(() => 0), POLL).toBe(160);
    expect(await bob.page.locator(".message.incoming .text").last().textContent()).toBe(TEXTS[2]);
    expect(await alice.page.evaluate(() => (window as unknown as { sawProgress: boolean }).sawProgress)).toBe(true);
    await expect.poll(() => alice.page.locator(".message.outgoing img.image").last().evaluate((img: HTMLImageElement) => img.naturalWidth), POLL).toBe(160);
    await expect.poll(() => lastOutgoingTick(alice.page), POLL).toBe("read");
    await screenshot(alice.page, "04-conversation-desktop");
    await screenshot(bob.page, "05-conversation-phone");
  }, 180_000);

  it("both see the same 60-digit safety number", async () => {
    await alice.page.getByRole("button", { name: "Safety number" }).click();
    await bob.page.getByRole("button", { name: "Safety number" }).click();
    const number = (page: Page) => page.locator(".safety-number").getAttribute("data-number");
    await expect.poll(() => number(alice.page), POLL).toMatch(/^\d{60}$/);
    expect(await number(bob.page)).toBe(await number(alice.page));
    await screenshot(alice.page, "06-safety-number");
    await alice.page.keyboard.press("Escape");
    await bob.page.keyboard.press("Escape");
    await alice.page.getByRole("textbox", { name: "Message", exact: true }).waitFor();
  }, 60_000);

  it("settings: privacy is saved, read receipts can be turned off, push registration reports its state", async () => {
    await bob.page.keyboard.press("Escape");
    await bob.page.getByRole("button", { name: "Settings" }).click();
    await bob.page.getByLabel("Who sees my last seen").selectOption("nobody");
    await expect.poll(() => bob.page.locator(".settings .form-status").textContent(), POLL).toBe("Last seen saved.");
    await bob.page.getByLabel("Send read receipts").uncheck();
    await expect.poll(() => bob.page.locator(".settings .form-status").textContent(), POLL).toBe("Read receipts saved.");
    // The local dev server has no VAPID key: the app says so instead of failing.
    await bob.page.getByRole("button", { name: "Enable notifications" }).click();
    await expect.poll(() => bob.page.locator("#push-status").getAttribute("data-status"), POLL).toBe("not-configured");
    expect(await bob.page.evaluate(async () => (await navigator.serviceWorker.getRegistration("/"))?.active?.scriptURL ?? null)).toMatch(/\/sw\.js$/);
    await screenshot(bob.page, "07-settings-phone");
    // Every form control has an accessible name.
    for (const page of [alice.page, bob.page]) expect(await unlabelledControls(page)).toEqual([]);

    // With read receipts off, bob reading alice's next message leaves her tick at "delivered".
    await bob.page.getByRole("button", { name: "Back" }).click();
    await alice.page.getByRole("textbox", { name: "Message", exact: true }).fill(TEXTS[3]!);
    await alice.page.getByRole("textbox", { name: "Message", exact: true }).press("Enter");
    await expect.poll(() => lastOutgoingTick(alice.page), POLL).toBe("delivered");
    await bob.page.locator('.chat-item[data-chat="alice"]').click();
    await expect.poll(() => bob.page.locator(".message.incoming .text").last().textContent(), POLL).toBe(TEXTS[3]);
    await expect.poll(() => bob.page.locator('.chat-item[data-chat="alice"] .unread').count(), POLL).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await lastOutgoingTick(alice.page)).toBe("delivered");
  }, 180_000);

  it("a message written offline waits through a reload and goes out; the reload keeps device, chats and history", async () => {
    await alice.context.setOffline(true);
    const composer = alice.page.getByRole("textbox", { name: "Message", exact: true });
    await composer.fill(TEXTS[4]!);
    await composer.press("Enter");
    await expect.poll(() => lastOutgoingTick(alice.page), POLL).toBe("pending");
    // The SDK's outbox write follows the history write by a few IndexedDB operations.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await alice.page.reload().catch(() => undefined); // offline: the browser's error page
    await alice.context.setOffline(false);
    await alice.page.goto(fixture.server().url);

    const item = alice.page.locator('.chat-item[data-chat="bob"]');
    await expect.poll(() => item.locator(".last-message").textContent(), POLL).toContain(TEXTS[4]);
    await item.click();
    await expect.poll(() => alice.page.locator(".message .text").allTextContents(), POLL).toEqual(TEXTS);
    // Sent from the outbox after the reload; bob (read receipts off) has it: delivered.
    await expect.poll(() => lastOutgoingTick(alice.page), POLL).toBe("delivered");
    await expect.poll(() => bob.page.locator(".message.incoming .text").last().textContent(), POLL).toBe(TEXTS[4]);
    // Alice's own image again, now downloaded and decrypted from the server.
    await expect.poll(() => alice.page.locator(".message.outgoing img.image").last().evaluate((img: HTMLImageElement) => img.naturalWidth).catch(() => 0), POLL).toBe(160);
    expect(pageErrors(alice, bob)).toEqual([]);
    await alice.context.close();
    await bob.context.close();
  }, 180_000);

  it("no message text is anywhere in the server's state", async () => {
    await fixture.server().stop();
    const plaintext = await findInFiles(fixture.server().stateDir, TEXTS);
    expect(plaintext.hits).toEqual([]);
    expect(plaintext.scanned).toBeGreaterThan(0);
    // Handles are stored (they are how people find each other): the scan read the real database.
    expect((await findInFiles(fixture.server().stateDir, ["alice"])).hits.length).toBeGreaterThan(0);
  }, 60_000);
});

describe("IndexedDbKeyValueStore in Chromium", () => {
  it("stores bytes durably across reopen, copies them, deletes, and lists keys", async () => {
    const bundle = await build({
      entryPoints: [join(root, "src", "client", "store", "indexeddb-store.ts")],
      bundle: true,
      platform: "browser",
      format: "iife",
      globalName: "ParleyIdb",
      write: false,
      logLevel: "silent",
    });
    const context = await browser().newContext();
    const page = await context.newPage();
    // IndexedDB needs an origin (about:blank has none): a routed page stands in for one.
    await page.route("**/*", (route) => route.fulfill({ body: "<!doctype html><title>idb</title>", contentType: "text/html" }));
    await page.goto("http://parley-idb.test/");
    await page.addScriptTag({ content: bundle.outputFiles[0]!.text });
    const result = await page.evaluate(async () => {
      const { IndexedDbKeyValueStore } = (window as unknown as { ParleyIdb: typeof import("../../src/client/store/indexeddb-store") }).ParleyIdb;
      const first = await IndexedDbKeyValueStore.open("test-device");
      const value = Uint8Array.of(1, 2, 3);
      await first.put("session/a.1", value);
      value[0] = 99; // the store must have copied it
      await Promise.all(Array.from({ length: 50 }, (_, i) => first.put(`prekey/one-time/${i}`, Uint8Array.of(i))));
      await first.put("gone", Uint8Array.of(7));
      await first.delete("gone");
      first.close();
      const again = await IndexedDbKeyValueStore.open("test-device");
      const read = await again.get("session/a.1");
      return {
        read: read ? [...read] : null,
        isBytes: read instanceof Uint8Array,
        missing: (await again.get("never-written")) === undefined,
        deleted: (await again.get("gone")) === undefined,
        prekey49: [...((await again.get("prekey/one-time/49")) ?? [])],
        keys: (await again.keys()).length,
      };
    });
    expect(result).toEqual({ read: [1, 2, 3], isBytes: true, missing: true, deleted: true, prekey49: [49], keys: 51 });
    await context.close();
  }, 60_000);
});
