/**
 * A real browser for the e2e tests: Debian's chromium driven by playwright-core (never a downloaded browser),
 * headless, each launch with its own fresh profile (playwright's temporary user-data-dir). Pages record console
 * errors, uncaught exceptions and Content-Security-Policy violations so tests can assert the demo runs clean.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

// Functions passed to the page run in the browser; the test program is compiled without DOM types.
declare const document: any;
declare const window: any;

/** Debian's chromium; CHROMIUM_PATH names another (or a missing one, to see the skips counted). */
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `skip` option for a browser suite: never skipped in CI (`CI=true`); locally only when chromium is missing. */
export function browserSkip(): string | false {
  if (process.env.CI === 'true' || existsSync(CHROMIUM)) return false;
  return `${CHROMIUM} is missing (apt-get install chromium)`;
}

/** What a browser suite's body gets: node:test's own functions, or stand-ins that skip when there is no browser. */
export interface BrowserSuiteApi {
  it: typeof it;
  before: typeof before;
  after: typeof after;
}

/**
 * `describe` for a suite that needs chromium. Without one (and not in CI) each of its tests is registered as a
 * skipped test, so the run's summary counts them (node:test counts nothing inside a skipped `describe`), and its
 * hooks do not run (they would launch the browser).
 */
export function browserSuite(name: string, body: (api: BrowserSuiteApi) => void): void {
  const skip = browserSkip();
  if (!skip) return void describe(name, () => body({ it, before, after }));
  describe(name, () => body({
    it: ((testName: string) => it(testName, { skip })) as typeof it,
    before: (() => undefined) as typeof before,
    after: (() => undefined) as typeof after,
  }));
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export interface TestPage {
  page: Page;
  context: BrowserContext;
  /** Console errors and uncaught exceptions, in order. */
  errors: string[];
  /** `securitypolicyviolation` events: "<directive> <blocked URI>". */
  cspViolations(): Promise<string[]>;
  close(): Promise<void>;
}

/** A page in its own browser context (its own cookies and storage: another "person"). */
export async function openPage(browser: Browser, url: string, viewport = { width: 1280, height: 860 }): Promise<TestPage> {
  const context = await browser.newContext({ viewport });
  await context.addInitScript(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e: any) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const errors: string[] = [];
  page.on('console', (m) => {
    // A WebSocket or fetch that fails while the server is down is logged by Chromium itself: expected in restart tests.
    if (m.type() === 'error' && !/ERR_CONNECTION_REFUSED|WebSocket connection to|Failed to load resource/.test(m.text())) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  await page.goto(url);
  return {
    page,
    context,
    errors,
    cspViolations: () => page.evaluate(() => (window as unknown as { __csp: string[] }).__csp),
    close: () => context.close(),
  };
}

/**
 * Builds dist/web (the demo page) when it is missing or older than its sources (web/demo, the SDK in src/client),
 * so a single e2e file can run without `npm run build` first. Type-checking is left to the build.
 */
export async function ensureDemoBuilt(): Promise<void> {
  // The admin console (web/admin → dist/web/admin) is built with it.
  const built = Math.min(...['dist/web/index.html', 'dist/web/admin/index.html'].map((f) => join(ROOT, f)).map((f) => (existsSync(f) ? statSync(f).mtimeMs : 0)));
  const newest = Math.max(...[join(ROOT, 'web/demo'), join(ROOT, 'web/admin'), join(ROOT, 'src/client')].flatMap((d) => readdirSync(d).map((f) => statSync(join(d, f)).mtimeMs)));
  if (built >= newest) return;
  const mod = (await import(join(ROOT, 'scripts/build-web.mjs'))) as { buildWeb(o: { check: boolean }): Promise<unknown> };
  await mod.buildWeb({ check: false });
}

/**
 * Builds dist/client/switchboard.min.js (the SDK bundle the server serves) when it is older than the SDK's sources
 * (src/client, src/protocol). npm test has built it already, and another test file may be serving it.
 */
export function ensureClientBundleBuilt(): void {
  const bundleFile = join(ROOT, 'dist/client/switchboard.min.js');
  const built = existsSync(bundleFile) ? statSync(bundleFile).mtimeMs : 0;
  const sources = [join(ROOT, 'src/client'), join(ROOT, 'src/protocol')].flatMap((d) => readdirSync(d).map((f) => statSync(join(d, f)).mtimeMs));
  if (built < Math.max(...sources)) execFileSync(process.execPath, ['scripts/build-client.mjs', '--quiet'], { cwd: ROOT });
}

// --- The demo page's chat, as a user sees it ------------------------------------------------------------------

/** The chat messages on screen, in order. */
export const chatTexts = (p: Page): Promise<string[]> => p.$$eval('#messages li.msg .text', (els) => els.map((e) => e.textContent ?? ''));

/** The chat's system lines (reconnects, lost history). */
export const chatNotices = (p: Page): Promise<string[]> => p.$$eval('#messages li.notice', (els) => els.map((e) => e.textContent ?? ''));

export async function say(p: Page, text: string): Promise<void> {
  await p.fill('#chat-input', text);
  await p.press('#chat-input', 'Enter');
}

/** Waits until the page shows `text` as a chat message. */
export async function seen(p: Page, text: string, timeout?: number): Promise<void> {
  await p.waitForFunction((t) => [...document.querySelectorAll('#messages li.msg .text')].some((e: any) => e.textContent === t), text, timeout ? { timeout } : {});
}
