/**
 * People in the web client for the browser tests: one browser context each (its own IndexedDB, so
 * its own device), opened at the file's server, with helpers for what every test does first
 * (register) and reads often (the last outgoing tick). Poll settings sized for `npm test`.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { consoleOf } from "./chromium";

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
/** Generous: polls end as soon as they hold, and `npm test` runs the browser tests beside the workers suite on 2 cores. */
export const POLL = { timeout: 60_000, interval: 100 };

export interface Person {
  context: BrowserContext;
  page: Page;
  console: string[];
}

export async function openApp(browser: Browser, url: string, viewport: { width: number; height: number }): Promise<Person> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const lines = consoleOf(page);
  await page.goto(url);
  return { context, page, console: lines };
}

export async function registerAs(person: Person, handle: string): Promise<void> {
  await person.page.getByLabel("Your handle").fill(handle);
  await person.page.getByRole("button", { name: "Register" }).click();
  await person.page.locator(".sidebar-header .me", { hasText: handle }).waitFor({ timeout: 60_000 });
}

export const lastOutgoingTick = (page: Page) => page.locator(".message.outgoing").last().locator(".tick").getAttribute("data-tick");

/** Types a message into the open chat's composer and sends it with Enter. */
export async function sendText(page: Page, text: string): Promise<void> {
  const composer = page.getByRole("textbox", { name: "Message", exact: true });
  await composer.fill(text);
  await composer.press("Enter");
}

/** Page errors (uncaught exceptions) the app logged: a passing run has none. */
export function pageErrors(...people: Person[]): string[] {
  return people.flatMap((p) => p.console).filter((line) => line.startsWith("pageerror"));
}

/** A 160x120 PNG (a yellow square on green) drawn by the page's own canvas: an image to send. */
export async function squarePng(page: Page): Promise<Buffer> {
  const base64 = await page.evaluate(() => {
    const canvas = document.createElement("canvas");
    canvas.width = 160;
    canvas.height = 120;
    const g = canvas.getContext("2d")!;
    g.fillStyle = "#00806a";
    g.fillRect(0, 0, 160, 120);
    g.fillStyle = "#ffd54f";
    g.fillRect(40, 30, 80, 60);
    return canvas.toDataURL("image/png").split(",")[1]!;
  });
  return Buffer.from(base64, "base64");
}

/** The rendered width of the last image in the open chat (0 until it has loaded). */
export const lastImageWidth = (page: Page, side: "incoming" | "outgoing") =>
  page
    .locator(`.message.${side} img.image`)
    .last()
    .evaluate((img: HTMLImageElement) => img.naturalWidth)
    .catch(() => 0);

/** Form controls on the page with no accessible name (no label, aria-label or text): should be none. */
export function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea, button")]
      .filter((el) => !(el as HTMLInputElement).labels?.length && !el.getAttribute("aria-label") && !el.textContent?.trim())
      .map((el) => el.outerHTML),
  );
}
