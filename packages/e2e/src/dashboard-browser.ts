import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

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

/** What the page shows, read in the page from the data-testid attributes the views set. */
export interface Shown {
  status: string;
  /** The header's status text: "live", or "reconnecting… (…)". */
  statusText: string;
  /** The header's revision. */
  revision: string;
  /** The error banner's text; empty while it is hidden. */
  error: string;
  elections: Record<
    string,
    {
      kind: string;
      leader: string;
      term: string;
      ttl: string;
      candidates: string[];
      /** Marked idle: nobody leads or waits. */
      idle: boolean;
    }
  >;
  /** The texts of the panels' stale notices now shown, by panel (data-testid without "-panel"). */
  stale: Record<string, string>;
  locks: Record<string, { holder: string; waiters: string[] }>;
  leases: string[];
  kvs: Record<string, { value: string; create: string; mod: string; version: string }>;
  kbStatus: string;
  feed: Array<{ type: string; key: string; value: string; revision: string }>;
  history: string[];
}

// A string, not a function: tsx's transform would add helpers a page cannot see.
const readPage = `(() => {
  const text = (root, id) => root.querySelector('[data-testid="' + id + '"]')?.textContent ?? "";
  const all = (root, id) => [...root.querySelectorAll('[data-testid="' + id + '"]')];
  const banner = document.querySelector('[data-testid="error"]');
  const shown = { status: document.querySelector('[data-testid="status"]')?.dataset.state ?? "",
    statusText: text(document, "status-text"), revision: text(document, "revision"),
    error: banner === null || banner.hidden ? "" : banner.textContent,
    elections: {}, locks: {}, leases: [], kvs: {}, feed: [], history: [], stale: {},
    kbStatus: text(document, "kb-status") };
  for (const el of all(document, "election")) shown.elections[el.dataset.election] = {
    kind: el.dataset.kind, leader: text(el, "election-leader"), term: text(el, "election-term"),
    ttl: text(el, "election-lease-ttl"),
    candidates: all(el, "election-candidate").map((c) => c.textContent),
    idle: el.dataset.idle === "true" };
  for (const el of all(document, "stale")) if (!el.hidden) {
    shown.stale[el.closest(".panel")?.dataset.testid?.replace(/-panel$/, "") ?? "?"] = el.textContent;
  }
  for (const el of all(document, "lock")) shown.locks[el.dataset.lock] = {
    holder: text(el, "lock-holder"), waiters: all(el, "lock-waiter").map((w) => w.textContent) };
  for (const el of all(document, "lease")) shown.leases.push(el.dataset.lease);
  for (const el of all(document, "kv")) shown.kvs[el.dataset.key] = {
    value: text(el, "kv-value"), create: text(el, "kv-create"), mod: text(el, "kv-mod"),
    version: text(el, "kv-version") };
  for (const el of all(document, "event").slice(0, 10)) shown.feed.push({ type: el.dataset.type,
    key: el.dataset.key, value: text(el, "event-value"), revision: el.dataset.revision });
  for (const el of all(document, "history-entry")) shown.history.push(el.dataset.revision);
  return shown;
})()`;

export const read = (page: Page) => page.evaluate(readPage) as Promise<Shown>;

/**
 * Polls the page until `ok` holds; returns how long that took (ms since
 * `since`, a performance.now() value). Fails with what the page last showed.
 */
export async function waitForPage(
  page: Page,
  what: string,
  ok: (shown: Shown) => boolean,
  options: { timeoutMs: number; since?: number },
): Promise<number> {
  const since = options.since ?? performance.now();
  let last: Shown | undefined;
  for (;;) {
    last = await read(page);
    const elapsed = performance.now() - since;
    if (ok(last)) return elapsed;
    if (elapsed > options.timeoutMs) {
      assert.fail(
        `${what}: not shown within ${options.timeoutMs} ms; the page shows ${JSON.stringify(last, null, 1)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/** Builds the dashboard from the current sources (about a second), so a test never sees an old dist/. */
export function buildDashboard(): void {
  execFileSync("npm", ["run", "build", "-w", "@conclave/dashboard"], {
    cwd: repoRoot,
    stdio: "pipe",
  });
}

/**
 * Where tests write screenshots: test-results/ (gitignored), made on demand.
 * Pictures are looked at, never committed.
 */
export function screenshotDir(): string {
  const dir = join(repoRoot, "test-results", "dashboard");
  mkdirSync(dir, { recursive: true });
  return dir;
}
