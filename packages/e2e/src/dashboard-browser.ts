import { existsSync } from "node:fs";
import { type Browser, type BrowserContext, chromium } from "playwright-core";

/** Debian's Chromium (apt `chromium`; scripts/test.sh installs it). Never a downloaded browser. */
export const chromiumPath = "/usr/bin/chromium";

/** A headless Chromium; `close()` ends it. */
export interface LaunchedBrowser {
  browser: Browser;
  /** A context with a fixed viewport, for screenshots that look the same each run. */
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Launches Debian's Chromium headless through playwright-core, with a fresh
 * profile: `chromium.launch` gives each launch a new temporary
 * --user-data-dir and deletes it on close (it refuses one passed in args).
 * A missing Chromium throws: the suite fails, it is never skipped.
 */
export async function launchChromium(): Promise<LaunchedBrowser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `${chromiumPath} is missing: install Debian's chromium (scripts/test.sh does); the dashboard tests need it`,
    );
  }
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: 30_000,
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  return {
    browser,
    context,
    async close() {
      await context.close().catch(() => undefined);
      await browser.close().catch(() => undefined);
    },
  };
}
