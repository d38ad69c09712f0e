// The phone as the parent unit, in headless Chromium against the real daemon: the installed
// app (manifest, service worker, the shell without the camera), listening to the nursery with
// the lock screen's Media Session, the link alarm when the camera stops or dies, and the cry
// alerts with sleep training.
//
// Nothing here needs WebRTC, so the daemon listens on loopback. A service worker registers only
// for a certificate the browser trusts, so Chromium is told to trust this daemon's own
// certificate by its public key (what a parent does by installing the camera's certificate).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { X509Certificate, createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { startDaemon, admin, sleep } from './daemon.mjs';

const { chromium } = await import('playwright-core');

/** The base64 SHA-256 of the served certificate's public key, as Chromium's SPKI list wants it. */
function spkiHash(port) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const cert = new X509Certificate(s.getPeerCertificate(true).raw);
      s.destroy();
      resolve(createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64'));
    }).on('error', reject);
  });
}

async function cookie(d) {
  const r = await fetch(`${d.url}/api/login`, { method: 'POST', body: JSON.stringify(admin) });
  assert.equal(r.status, 200);
  return r.headers.get('set-cookie').split(';')[0];
}

let d;
let profile;
let context;
let page;
// What the page logged, for the message of a failed assertion.
const said = [];
before(async () => {
  d = await startDaemon({ settings: { sound: { enabled: true, hold_s: 3.0 } } });
  profile = mkdtempSync(join(tmpdir(), 'bm-listen-profile-'));
  // A persistent profile: installability is not judged in an off-the-record one.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    viewport: { width: 390, height: 844 },
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--autoplay-policy=no-user-gesture-required', `--ignore-certificate-errors-spki-list=${await spkiHash(d.https)}`],
  });
  page = context.pages()[0] ?? await context.newPage();
  page.on('console', (m) => { said.push(m.text()); if (process.env.BM_WEB_DEBUG) console.log('page:', m.text()); });
  page.on('pageerror', (e) => { said.push(e.message); if (process.env.BM_WEB_DEBUG) console.log('page error:', e.message); });
  await page.goto(`${d.url}/?live=fallback`);
  await page.locator('#login').waitFor();
  await page.fill('input[name=user]', admin.user);
  await page.fill('input[name=password]', admin.password);
  await page.click('#login button[type=submit]');
  await page.locator('#app').waitFor();
});
after(async () => {
  await context?.close();
  d?.proc.kill('SIGCONT');
  d?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test('the app installs: a manifest without installability errors, icons, a service worker that controls the page', async () => {
  const cdp = await context.newCDPSession(page);
  const manifest = await cdp.send('Page.getAppManifest');
  assert.equal(manifest.errors.length, 0, JSON.stringify(manifest.errors));
  const parsed = JSON.parse(manifest.data);
  assert.equal(parsed.display, 'standalone');
  assert.ok(parsed.icons.some((i) => i.sizes === '512x512' && i.type === 'image/png'));
  for (const icon of parsed.icons) {
    const r = await fetch(`${d.url}${icon.src}`);
    assert.equal(r.status, 200, icon.src);
    assert.equal(r.headers.get('content-type'), icon.type, icon.src);
  }
  await page.waitForFunction(() => navigator.serviceWorker?.controller !== null
    || navigator.serviceWorker.ready.then(() => false), null, { timeout: 15000 }).catch(() => {});
  // The worker claims the page it was registered from; a reload is controlled from the start.
  await page.reload();
  await page.locator('#app').waitFor();
  assert.ok(await page.evaluate(() => navigator.serviceWorker.controller?.scriptURL.endsWith('/sw.js')), 'the service worker controls the page');
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  assert.deepEqual(installabilityErrors, [], 'Chromium finds the app installable');
  await cdp.detach();
});

test('listening: the <audio> element plays the sound-only stream, Media Session is set, an analyser hears the tick', async () => {
  await page.click('#mode-listen');
  await page.waitForFunction(() => document.body.dataset.listen === 'on');
  await page.waitForFunction(() => document.querySelector('#listen-audio').currentTime > 2, null, { timeout: 20000 });
  assert.equal(await page.evaluate(() => navigator.mediaSession.metadata?.title), 'Nursery - listening');
  assert.equal(await page.evaluate(() => navigator.mediaSession.playbackState), 'playing');
  assert.ok(await page.isHidden('#watching'), 'the video is off while listening');
  // The simulated room ticks once a second: an analyser on the element sees the peaks.
  const peaks = await page.evaluate(async () => {
    const a = document.querySelector('#listen-audio');
    const ctx = new AudioContext();
    await ctx.resume();
    const an = ctx.createAnalyser();
    an.fftSize = 2048;
    ctx.createMediaElementSource(a).connect(an);
    an.connect(ctx.destination);
    const buf = new Float32Array(an.fftSize);
    let loud = 0;
    let quiet = 0;
    const end = performance.now() + 4000;
    while (performance.now() < end) {
      an.getFloatTimeDomainData(buf);
      const peak = buf.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      if (peak > 0.05) loud++; else if (peak < 0.02) quiet++;
      await new Promise((r) => setTimeout(r, 20));
    }
    return { loud, quiet };
  });
  assert.ok(peaks.loud >= 2, `the tick is heard (${JSON.stringify(peaks)})`);
  assert.ok(peaks.quiet >= 20, `and the quiet between ticks (${JSON.stringify(peaks)})`);
  assert.equal(await page.evaluate(() => document.body.dataset.linkAlarm ?? 'off'), 'off');
});

test('a cry alerts the listening phone once: a chime, a vibration and a notification through the service worker', async () => {
  await context.grantPermissions(['notifications'], { origin: d.url });
  const auth = { Cookie: await cookie(d), 'X-Babymonitor-Page': '1' };
  const count = () => page.evaluate(() => Number(document.body.dataset.alertCount ?? 0));
  const before = await count();
  const r = await fetch(`${d.url}/api/simulate/sound`, { method: 'PUT', headers: auth, body: JSON.stringify({ cry_s: 8 }) });
  assert.equal(r.status, 200, await r.text());
  await page.waitForFunction((n) => Number(document.body.dataset.alertCount ?? 0) > n, before, { timeout: 30000 });
  assert.equal(await page.evaluate(() => document.body.dataset.lastAlert), 'cry');
  assert.match(await page.textContent('#alerts li'), /crying/);
  // Shown by the service worker (what a locked phone shows), a moment after the page heard of it.
  let shown = [];
  for (let i = 0; i < 50 && !shown.length; i++) {
    shown = await page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications({ tag: 'bm-cry' }))
      .map((n) => `${n.title}: ${n.body}`));
    if (!shown.length) await sleep(200);
  }
  const state = await page.evaluate(async () => {
    const reg = await navigator.serviceWorker.getRegistration();
    const all = (await reg?.getNotifications()) ?? [];
    return { permission: Notification.permission, active: reg?.active?.state, controller: Boolean(navigator.serviceWorker.controller),
      mode: document.body.dataset.listen, hidden: document.hidden, all: all.map((n) => n.tag) };
  });
  assert.deepEqual(shown, ['babymonitor: The baby is crying'], `${JSON.stringify(state)}; the page said: ${said.slice(-15).join(' | ')}`);
  // The cry goes on and ends: still one alert.
  await sleep(12000);
  assert.equal(await count(), before + 1, 'one cry, one alert');
});

test('a failed microphone sounds the alarm on the listening phone, and it stops when the microphone is back', async () => {
  const auth = { Cookie: await cookie(d), 'X-Babymonitor-Page': '1' };
  const sound = (body) => fetch(`${d.url}/api/simulate/sound`, { method: 'PUT', headers: auth, body: JSON.stringify(body) });
  assert.equal((await sound({ failing: true })).status, 200);
  try {
    await page.waitForFunction(() => document.body.dataset.linkAlarm === 'on', null, { timeout: 15000 });
    assert.match(await page.textContent('#link-why'), /microphone/);
  } finally {
    await sound({ failing: false });
  }
  await playsAgain();
});

async function alarmWithin(ms) {
  const t0 = Date.now();
  await page.waitForFunction(() => document.body.dataset.linkAlarm === 'on', null, { timeout: ms });
  return Date.now() - t0;
}
async function playsAgain() {
  await page.waitForFunction(() => document.body.dataset.linkAlarm === 'off', null, { timeout: 30000 });
  const t = await page.evaluate(() => document.querySelector('#listen-audio').currentTime);
  await page.waitForFunction((t0) => document.querySelector('#listen-audio').currentTime > t0 + 1, t, { timeout: 20000 });
}

test('the link alarm: a frozen camera (SIGSTOP) and a dead one (SIGKILL) sound it; it stops by itself when the sound is back', async () => {
  const limit = (await page.evaluate(() => window.bmListen.rules?.link_alarm_s)) ?? 10;
  d.proc.kill('SIGSTOP');
  try {
    const took = await alarmWithin((limit + 2) * 1000 + 2000);
    assert.ok(took <= (limit + 2) * 1000, `the alarm came after ${took} ms (limit ${limit} s + 2 s)`);
    assert.ok(await page.isVisible('#link-alarm'));
    assert.match(await page.textContent('#link-why'), /not answered|no sound/);
  } finally {
    d.proc.kill('SIGCONT');
  }
  await playsAgain();
  assert.ok(await page.isHidden('#link-alarm'));

  d.proc.kill('SIGKILL');
  await new Promise((r) => d.proc.once('exit', r));
  const took = await alarmWithin((limit + 2) * 1000 + 2000);
  assert.ok(took <= (limit + 2) * 1000, `the alarm came after ${took} ms`);
  await d.restart();
  // No reload and no login: the page reconnects with back-off and the session outlived the restart.
  await playsAgain();
  assert.equal(await page.isVisible('#login'), false, 'no login was asked for');
});

test('without the camera the installed app still opens and says the camera is not reachable', async () => {
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15000 }).catch(() => {});
  if (!(await page.evaluate(() => navigator.serviceWorker.controller !== null))) await page.reload();
  d.stop();
  await new Promise((r) => d.proc.once('exit', r));
  await page.reload();
  if (process.env.BM_WEB_DEBUG) console.log(await page.evaluate(() => [location.href, JSON.stringify(document.body.dataset), String(navigator.serviceWorker.controller)]));
  await page.locator('#unreachable').waitFor({ state: 'visible', timeout: 15000 });
  assert.match(await page.textContent('#unreachable'), /not reachable/);
  await d.restart();
  // It comes back by itself.
  await page.locator('#app').waitFor({ state: 'visible', timeout: 30000 });
  assert.ok(await page.isHidden('#unreachable'));
});
