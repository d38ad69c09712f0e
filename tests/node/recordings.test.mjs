// The page's clips card in headless Chromium against the real daemon: a cry played into the
// simulated microphone becomes a clip, which the timeline lists and its <video> plays. No
// WebRTC here, so no network namespace: loopback will do.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, tempDir, admin, viewer, sleep } from './daemon.mjs';

const RATE = 16000;

/** Wails of 0.9 s at a wavering ~470 Hz with harmonics, a breath of 0.4 s between. */
function cry(t) {
  const cycle = t % 1.3;
  if (cycle > 0.9) return 0;
  const phase = 2 * Math.PI * (470 * t - (50 / 3) * Math.cos(3 * t));
  const envelope = Math.sin((cycle / 0.9) * Math.PI);
  return 0.3 * envelope * (Math.sin(phase) + 0.5 * Math.sin(2 * phase) + 0.25 * Math.sin(3 * phase));
}

/** A mono 16-bit WAV of (seconds, f(t)) parts. */
function wav(path, parts) {
  const total = parts.reduce((n, [s]) => n + s * RATE, 0);
  const b = Buffer.alloc(44 + total * 2);
  b.write('RIFF', 0); b.writeUInt32LE(36 + total * 2, 4); b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22); b.writeUInt32LE(RATE, 24);
  b.writeUInt32LE(RATE * 2, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34);
  b.write('data', 36); b.writeUInt32LE(total * 2, 40);
  let at = 44;
  let t0 = 0;
  for (const [seconds, f] of parts) {
    for (let i = 0; i < seconds * RATE; i++) {
      b.writeInt16LE(Math.round(Math.max(-1, Math.min(1, f(t0 + i / RATE))) * 32000), at);
      at += 2;
    }
    t0 += seconds;
  }
  writeFileSync(path, b);
}

let d;
let browser;
before(async () => {
  const path = join(tempDir('bm-cry-'), 'cry.wav');
  wav(path, [[4, () => 0], [5, cry], [90, () => 0]]);
  d = await startDaemon({
    settings: {
      audio: { source: 'file', path },
      sound: { enabled: true, min_duration_s: 1.0, hold_s: 1.0 },
      recordings: { enabled: true, pre_s: 2, post_s: 2, merge_s: 2, max_s: 60, reserve_mb: 0 },
    },
  });
  const { chromium } = await import('playwright-core');
  // Debian's Chromium, allowed to play without a click (the test presses Play, but a muted
  // autoplay policy must not be what decides).
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
  });
});
after(async () => {
  await browser?.close();
  d?.stop();
});

async function clips(who) {
  const login = await fetch(`${d.url}/api/login`, { method: 'POST', body: JSON.stringify(who) });
  assert.equal(login.status, 200);
  const cookie = login.headers.get('set-cookie').split(';')[0];
  const r = await fetch(`${d.url}/api/recordings`, { headers: { cookie } });
  assert.equal(r.status, 200);
  return (await r.json()).clips;
}

test('a cry becomes a clip that the timeline marks, lists and plays; a viewer gets no delete button', async () => {
  let got = [];
  for (let i = 0; i < 120 && !(got.length && got[0].end); i++) {
    got = await clips(admin);
    await sleep(500);
  }
  assert.equal(got.length, 1, JSON.stringify(got));
  assert.ok(got[0].end, 'the clip is finished');

  for (const [who, canDelete] of [[admin, true], [viewer, false]]) {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`${d.url}/`);
    await page.fill('input[name=user]', who.user);
    await page.fill('input[name=password]', who.password);
    await page.click('#login button[type=submit]');
    const row = page.locator(`#recordings-list li[data-id="${got[0].id}"]`);
    await row.waitFor({ timeout: 15000 });
    // Scrolled to, as a parent would (thumbnails load lazily), the thumbnail loads: a JPEG the
    // browser decodes.
    await row.scrollIntoViewIfNeeded();
    await page.waitForFunction((id) => {
      const img = document.querySelector(`#recordings-list li[data-id="${id}"] img`);
      return img && img.complete && img.naturalWidth > 0;
    }, got[0].id, { timeout: 10000 });
    assert.equal(await row.getByRole('button', { name: 'Delete' }).count(), canDelete ? 1 : 0);
    // On the 24-hour axis the clip, made a minute ago, is marked at the right-hand end, with
    // its thumbnail.
    const mark = page.locator(`#recordings-axis .mark[data-id="${got[0].id}"]`);
    const [axisBox, markBox] = [await page.locator('#recordings-axis').boundingBox(), await mark.boundingBox()];
    assert.ok(markBox.x > axisBox.x + 0.97 * axisBox.width, JSON.stringify([axisBox, markBox]));
    assert.ok(markBox.x < axisBox.x + axisBox.width, JSON.stringify([axisBox, markBox]));
    assert.equal(await page.locator(`#recordings-axis img[data-id="${got[0].id}"]`).count(), 1);
    // The admin plays it from the list, the viewer from the axis.
    await (canDelete ? row.getByRole('button', { name: 'Play' }) : mark).click();
    await page.waitForFunction(() => {
      const v = document.querySelector('#recordings-video');
      return v.videoWidth > 0 && v.currentTime > 0.5;
    }, null, { timeout: 15000 });
    assert.deepEqual(await page.evaluate(() => {
      const v = document.querySelector('#recordings-video');
      return [v.videoWidth, v.videoHeight];
    }), [320, 180]);
    await context.close();
  }
});
