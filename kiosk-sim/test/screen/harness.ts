/**
 * Browser harness for the kiosk screen: the in-process stack (city + centre on
 * port 0), the screen server on port 0 with private copies of the fixture cards,
 * and Debian chromium driven by playwright-core. Everything started here is
 * stopped by `close()`.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { cardFor, FIXTURES, ROOT, startStack, type Stack } from '../../../test/e2e/stack.js';
import { buildScreen, type ScreenOptions, type ScreenServer } from '../../src/screen/server.js';
import type { ScreenName } from '../../src/screen/state.js';

export { cardFor };
export const SCREENSHOTS = resolve(ROOT, 'var/screenshots');

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export async function launchBrowser(): Promise<Browser> {
  // playwright-core gives every launch a fresh temporary --user-data-dir.
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

export interface Kiosk {
  stack: Stack;
  screen: ScreenServer;
  url: string;
  cardsDir: string;
  page: Page;
  /** Waits until the page shows `name`. */
  shows(name: ScreenName, timeout?: number): Promise<void>;
  tap(selector: string): Promise<void>;
  insert(cardId: string): Promise<void>;
  remove(): Promise<void>;
  /** Screenshot of the kiosk screen into var/screenshots/<prefix>-<name>.png. */
  shot(name: string): Promise<string>;
  /** Types the PIN on the on-screen keypad and taps 決定. */
  enterPin(pin: string): Promise<void>;
  /** From the start screen to the PIN screen with `cardId` on the reader. */
  toPin(cardId: string): Promise<void>;
  /** From the start screen to the confirmation of one copy of the resident record (self). */
  toConfirm(cardId: string, pin: string): Promise<void>;
  /** From the start screen to the payment screen; resolves with the fee. */
  toPay(cardId: string, pin: string): Promise<number>;
  /** Inserts coins (yen values) on the payment screen and waits until the page shows the sum. */
  coins(values: number[]): Promise<void>;
  /** Visible controls on the kiosk screen smaller than 48×48 CSS px (touch targets), as labels. */
  smallTargets(): Promise<string[]>;
  /** POSTs an action from inside the page, as a tap would, with the seq now shown. */
  post(body: Record<string, unknown>): Promise<{ ok: boolean; reason?: string }>;
  close(): Promise<void>;
}

export interface KioskEnv {
  stack: Stack;
  browser: Browser;
  open(opts?: Partial<ScreenOptions> & { prefix?: string }): Promise<Kiosk>;
  close(): Promise<void>;
}

export async function startKioskEnv(): Promise<KioskEnv> {
  const stack = await startStack();
  let browser: Browser;
  try {
    browser = await launchBrowser();
  } catch (err) {
    await stack.close();
    throw err;
  }
  const opened = new Set<Kiosk>();
  return {
    stack,
    browser,
    async open(opts = {}) {
      const dir = mkdtempSync(join(tmpdir(), 'konbini-screen-'));
      const cardsDir = join(dir, 'cards');
      mkdirSync(cardsDir);
      // Private copies: a test that locks a PIN never touches the fixtures.
      cpSync(join(FIXTURES, 'cards'), cardsDir, { recursive: true });
      const { prefix = 'screen', ...rest } = opts;
      const screen = buildScreen({
        kioskId: 'K0001',
        centreUrl: stack.centreUrl,
        centreOrigin: stack.centreOrigin,
        tls: stack.kioskTls(),
        cardsDir,
        workDir: join(dir, 'work'),
        trayDir: join(dir, 'tray'),
        idleMs: 30_000,
        printMsPerCopy: 150,
        ...rest,
      });
      const url = await screen.listen(0);
      const context = await browser.newContext({ viewport: { width: 1400, height: 820 }, locale: 'ja-JP' });
      context.setDefaultTimeout(10_000);
      const page = await context.newPage();
      await page.goto(url);
      mkdirSync(SCREENSHOTS, { recursive: true });
      const k: Kiosk = {
        stack,
        screen,
        url,
        cardsDir,
        page,
        async shows(name, timeout = 15_000) {
          await page.waitForSelector(`#kiosk[data-screen="${name}"]`, { timeout });
        },
        async tap(selector) {
          await page.locator(selector).first().click();
        },
        async insert(cardId) {
          await page.selectOption('#card-select', cardId);
          await page.click('#card-insert');
          await page.waitForFunction(() => document.getElementById('reader-status')?.textContent?.includes('Card in reader'));
        },
        async remove() {
          await page.click('#card-remove');
        },
        async shot(name) {
          const path = join(SCREENSHOTS, `${prefix}-${name}.png`);
          await page.locator('#kiosk').screenshot({ path, animations: 'disabled' });
          return path;
        },
        async enterPin(pin) {
          for (const d of pin) await page.click(`#kiosk [data-action="digit"][data-digit="${d}"]`);
          await page.waitForSelector('#kiosk [data-action="pin-ok"]:not([disabled])');
          await page.click('#kiosk [data-action="pin-ok"]');
        },
        async toPin(cardId) {
          await k.shows('start');
          await k.tap('#kiosk [data-action="start"]');
          await k.shows('place-card');
          await k.insert(cardId);
          await k.shows('pin');
        },
        async toConfirm(cardId, pin) {
          await k.toPin(cardId);
          await k.enterPin(pin);
          await k.shows('menu');
          await k.tap('#kiosk [data-action="choose-type"][data-certtype="resident-record"]');
          await k.shows('options');
          await k.tap('#kiosk [data-action="options-ok"]');
          await k.shows('copies');
          await k.tap('#kiosk [data-action="copies-ok"]');
          await k.shows('confirm');
        },
        async toPay(cardId, pin) {
          await k.toConfirm(cardId, pin);
          await k.tap('#kiosk [data-action="confirm"]');
          await k.shows('received');
          await k.tap('#kiosk [data-action="to-pay"]');
          await k.shows('pay');
          return screen.kiosk.state.pay!.fee;
        },
        async coins(values) {
          const before = screen.kiosk.state.pay?.inserted ?? 0;
          for (const y of values) await page.click(`#kiosk [data-action="coin"][data-yen="${y}"]`);
          const sum = (before + values.reduce((a, b) => a + b, 0)).toLocaleString('ja-JP');
          await page.waitForFunction((n) => document.querySelector('[data-testid="inserted"]')?.textContent?.includes(n), sum);
        },
        async smallTargets() {
          return page.$$eval('#kiosk button', (els) =>
            els
              .map((e) => ({ r: e.getBoundingClientRect(), label: (e.textContent ?? '').trim() || e.outerHTML.slice(0, 60) }))
              .filter((x) => x.r.width > 0 && x.r.height > 0 && (x.r.width < 48 || x.r.height < 48))
              .map((x) => `${x.label} ${Math.round(x.r.width)}x${Math.round(x.r.height)}`),
          );
        },
        async post(body) {
          return page.evaluate(async (b) => {
            const seq = await fetch('/api/state').then((r) => r.json()).then((s) => s.seq);
            const r = await fetch('/api/action', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ seq, ...b }) });
            return r.json();
          }, body);
        },
        async close() {
          opened.delete(k);
          await context.close();
          await screen.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
      opened.add(k);
      return k;
    },
    async close() {
      for (const k of [...opened]) await k.close().catch(() => {});
      await browser.close();
      await stack.close();
    },
  };
}

/** Every file under `dir` (none when it does not exist). */
export function filesUnder(dir: string): string[] {
  let out: string[] = [];
  try {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      out = statSync(p).isDirectory() ? out.concat(filesUnder(p)) : out.concat(p);
    }
  } catch {
    /* missing: nothing there */
  }
  return out;
}
