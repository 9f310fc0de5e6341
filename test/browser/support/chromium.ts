/**
 * Debian's Chromium (/usr/bin/chromium, installed by .ci/run through apt when missing) driven by
 * playwright-core: no browser download. Headless, and the flags a root container needs (no
 * sandbox, no GPU, /tmp instead of a small /dev/shm). One browser per test file, closed after it.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll } from "vitest";

export const CHROMIUM = process.env.PARLEY_CHROMIUM ?? "/usr/bin/chromium";
const HEADLESS_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"];

/** Where screenshots go (gitignored; CI keeps the folder as its artifacts). */
export const ARTIFACTS = join(import.meta.dirname, "..", "..", "..", "test-artifacts", "web");

export function browserForThisFile(): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: HEADLESS_FLAGS });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  }, 30_000);
  return () => browser!;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
}

/** Console errors of a page, collected so a failing test can show what the app logged. */
export function consoleOf(page: Page): string[] {
  const lines: string[] = [];
  page.on("console", (message) => lines.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => lines.push(`pageerror: ${error.message}`));
  return lines;
}
