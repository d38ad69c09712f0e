// The sleep log's "Nights" card in headless Chromium (Playwright) against the real daemon: a
// bar for tonight that fills as the minutes pass, the totals, and the CSV download.
//
// Like web.test.mjs it runs in a network namespace of its own (its own name and subnet, so the
// files can run side by side): outside it, this file only creates the namespace and runs itself
// again inside.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startDaemon, testInNamespace, launchChromium, viewer } from './daemon.mjs';

const thisFile = fileURLToPath(import.meta.url);
const HOST = '10.79.3.1';
const inNamespace = process.env.BM_SLEEP_NETNS;

if (!inNamespace) {
  testInNamespace({ what: 'the sleep log page tests, in a network namespace of their own', prefix: 'bmsleep', host: HOST, envVar: 'BM_SLEEP_NETNS', file: thisFile, timeout: 120000 });
} else {

  /** `HH:MM` of `t` (Unix seconds) in local time, the camera's too. */
  const clock = (t) => {
    const d = new Date(t * 1000);
    return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  };

  let d;
  let browser;
  before(async () => {
    const now = Math.floor(Date.now() / 1000);
    // Night hours around now, one-second "minutes": tonight fills while the test looks.
    d = await startDaemon({
      host: HOST,
      settings: {
        sleep: { minute_s: 1, from: clock(now - 3600), to: clock(now + 3600) },
        sound: { enabled: true },
        motion: { enabled: true },
      },
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    d?.stop();
  });

  test('a viewer sees a bar for tonight in the Nights card and downloads the CSV', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    await page.goto(`${d.url}/`);
    await page.locator('#login').waitFor();
    await page.fill('input[name=user]', viewer.user);
    await page.fill('input[name=password]', viewer.password);
    await page.click('#login button[type=submit]');
    await page.locator('#app').waitFor();

    const card = page.locator('#nights');
    await card.waitFor({ timeout: 15000 });
    assert.equal(await card.locator('h2').textContent(), 'Nights');
    // The card polls every few seconds with short "minutes": wait for settled minutes on tonight's bar.
    await page.waitForFunction(() => document.querySelectorAll('#nights-list .night .seg.settled').length > 0, null, { timeout: 20000 });
    const nights = await page.$$eval('#nights-list .night', (li) => li.map((n) => n.dataset.night));
    assert.equal(nights.length, 1, `one night so far (${nights})`);
    const api = await (await context.request.get(`${d.url}/api/sleep`)).json();
    assert.equal(nights[0], api.nights[0].night);
    const bar = await page.$eval('#nights-list .night .sleep-bar', (b) => {
      const seg = b.querySelector('.seg.settled');
      return {
        width: b.getBoundingClientRect().width,
        seg: seg.getBoundingClientRect().width,
        left: parseFloat(seg.style.left),
        colour: getComputedStyle(seg).backgroundColor,
        label: b.getAttribute('aria-label'),
      };
    });
    assert.ok(bar.width > 200, `the bar spans the card (${bar.width} px)`);
    // An hour of a two-hour night has passed: the settled seconds sit near the middle.
    assert.ok(bar.left > 40 && bar.left < 60, `tonight's minutes start near the middle of the bar (${bar.left} %)`);
    assert.ok(bar.seg >= 1, 'the segment is drawn');
    assert.notEqual(bar.colour, 'rgba(0, 0, 0, 0)', 'coloured');
    assert.match(bar.label, /^settled \d+ min, moving \d+ min, crying \d+ min$/);
    assert.match(await page.textContent('#nights-list .night-totals'), /settled .* · moving .* · crying .* · \d+ wake-ups?/);
    const words = (await card.textContent()).toLowerCase();
    for (const claim of ['breath', 'safe', 'apnea', 'sids', 'health']) assert.ok(!words.includes(claim), `no "${claim}" on the card`);

    // The CSV link downloads the log under its own name.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#nights-csv')]);
    assert.equal(download.suggestedFilename(), 'sleep-log.csv');
    const rows = readFileSync(await download.path(), 'utf8').trim().split(/\r?\n/);
    assert.equal(rows[0], 'night,start,end,state,minutes');
    assert.ok(rows.length >= 2, `a row per interval (${rows.length - 1})`);
    assert.match(rows[1], new RegExp(`^${nights[0]},\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d[+-]\\d\\d:\\d\\d,[^,]+,(settled|moving|crying),[\\d.]+$`));
    await context.close();
  });
}
