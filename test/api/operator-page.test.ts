/**
 * The operator's page in a real browser: Debian's Chromium, headless, driven by playwright-core, against a running
 * demo (in-process broker, recognizer and edge daemon). ENFPIRE_SCREENSHOT=FILE also saves a screenshot of the page
 * (docs/images/operator-page.png is made this way).
 */
import t from 'tap';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { runDemo } from '../../daemon/demo/demo.js';
import { silentLogger } from '../../daemon/util/log.js';
import { shortTempDir } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = 'lan-token-for-the-browser-test';

// CI (.ci/run) installs Chromium; elsewhere the test says why it did not run instead of failing.
const missing = !existsSync(CHROMIUM) && !process.env.CI ? `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)` : false;

t.test('the operator page in headless Chromium against the demo', { skip: missing }, async (t) => {
  const dir = shortTempDir(t);
  writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
  let stop: () => void = () => {};
  const stopSignal = new Promise<void>((resolve) => (stop = resolve));
  let ready: (addresses: { api: string; lan: string }) => void = () => {};
  const started = new Promise<{ api: string; lan: string }>((resolve) => (ready = resolve));
  const demo = runDemo({
    once: false,
    k: 4,
    views: 2,
    seed: 3,
    api: '127.0.0.1:0',
    apiSettings: { lan: { listen: '127.0.0.1:0', tokenFile: join(dir, 'token') } },
    logger: silentLogger(),
    stopSignal,
    onResult: () => {},
    onReady: (api, lan) => ready({ api: api!, lan: lan! }),
  });
  t.teardown(async () => {
    stop();
    await demo;
  });
  const { api, lan } = await Promise.race([started, demo.then(() => Promise.reject(new Error('the demo ended before it was ready')))]);

  // rebind.example resolves to the device, as a DNS-rebinding attacker's name would.
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--host-resolver-rules=MAP rebind.example 127.0.0.1'] });
  t.teardown(() => browser.close());
  const page: Page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));

  const response = await page.goto(`http://${api}/`);
  t.equal(response?.status(), 200, 'the page loads');
  t.equal(await page.title(), 'EnfPire edge · operator');

  // A result pushed over /events (data-source live, not the history loaded at start) within seconds.
  const live = page.locator('#results li[data-source="live"]').first();
  await live.waitFor({ timeout: 20_000 });
  t.match(await live.locator('.spot').textContent(), /\S/, 'the result names a spot (or says none)');
  t.equal(await page.locator('#link').textContent(), 'live');

  // Health numbers once /status has been read twice (rates need two readings).
  await page.waitForFunction(() => /\d+(\.\d)? \/s/.test(document.querySelector('[data-field="fps"]')?.textContent ?? ''), null, { timeout: 10_000 });
  const text = async (name: string): Promise<string> => (await page.locator(`[data-field="${name}"]`).textContent()) ?? '';
  t.match(await text('rss'), /^\d+ MiB$/);
  t.match(await text('memory'), /^\d+ MiB$/);
  t.match(await text('load'), /^\d+\.\d\d \/ \d+\.\d\d \/ \d+\.\d\d$/);
  t.match(await text('latency'), /^\d+ ms \/ \d+ ms \/ \d+ ms$/);
  t.match(await text('broker'), /^connected, /);
  t.match(await text('temperature'), /^(\d+\.\d °C|no sensor)$/);
  t.match(await text('fps'), /^\d+(\.\d)? \/s \(\d+ in all, \d+ dropped\)$/);
  // Privacy at a glance.
  t.equal(await text('k'), '4');
  t.equal(await text('transform'), 'kmix');
  const [real, dummy] = (await text('queries')).split(' / ').map((x) => parseInt(x, 10));
  t.ok(real > 0, `real queries sent (${real})`);
  t.ok(dummy >= 0, `dummy queries counted (${dummy})`);
  t.match(await text('region_pack'), /^\* · version \S+ · \d+ spots$/);
  t.equal(await text('signature'), 'unsigned');
  t.match(await text('identity_age'), /^\d+ s$/);
  // The profile without secrets: the token file's place, never the token.
  const profile = (await page.locator('#profile-text').textContent()) ?? '';
  t.match(profile, /"tokenFile": ".*token"/);
  t.notMatch(profile, new RegExp(TOKEN));
  // The thumbnail is off by default: no picture, the note instead, and the endpoint refuses.
  t.equal(await page.locator('#thumb').isVisible(), false, 'no camera picture');
  t.equal(await page.locator('#thumb-off').isVisible(), true, 'the note says how to turn it on');
  t.equal((await page.request.get(`http://${api}/thumbnail.jpg`)).status(), 404);
  if (process.env.ENFPIRE_SCREENSHOT) await page.screenshot({ path: process.env.ENFPIRE_SCREENSHOT, fullPage: true });

  // The same loopback port under another name (DNS rebinding) is refused.
  const port = api.split(':').pop();
  const rebound = await browser.newPage();
  t.equal((await rebound.goto(`http://rebind.example:${port}/`))?.status(), 403, 'a wrong Host is refused');
  t.match((await rebound.textContent('body')) ?? '', /loopback host/);

  // The LAN listener: refused without the token, and with a wrong one; ?token= once, then the page works on the cookie.
  const kiosk = await browser.newPage();
  t.equal((await kiosk.goto(`http://${lan}/`))?.status(), 401, 'a missing token is refused');
  t.equal((await kiosk.goto(`http://${lan}/?token=not-the-token`))?.status(), 401, 'a wrong token is refused');
  const login = await kiosk.goto(`http://${lan}/?token=${TOKEN}`);
  t.equal(login?.status(), 200);
  t.equal(kiosk.url(), `http://${lan}/`, 'the token is gone from the address bar');
  await kiosk.locator('#results li[data-source="live"]').first().waitFor({ timeout: 20_000 });
  t.equal(await kiosk.locator('[data-field="k"]').textContent(), '4', 'the page reads /status through the cookie');

  t.same(errors, [], 'no script errors');
});
