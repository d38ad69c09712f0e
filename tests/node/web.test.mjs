// The parent's web page in headless Chromium (Playwright) against the real daemon.
//
// WebRTC needs an address that is not loopback (libnice gathers no candidates on lo), so the
// tests run inside a network namespace of their own with a veth pair: nothing leaves the
// machine. Outside it, this file only creates the namespace and runs itself again inside.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaemon as start, testInNamespace, root, admin, viewer, sleep } from './daemon.mjs';

const thisFile = fileURLToPath(import.meta.url);
const artifacts = join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'web-test');
const HOST = '10.79.0.1';
const inNamespace = process.env.BM_WEB_NETNS;

if (!inNamespace) {
  testInNamespace({ what: 'the web page tests, in a network namespace of their own', prefix: 'bmweb', host: HOST, envVar: 'BM_WEB_NETNS', file: thisFile, timeout: 300000 });
} else {
  const { chromium } = await import('playwright-core');
  const onvif = (await import('onvif')).default;

  const startDaemon = (settings = {}, history = null) => start({ host: HOST, settings, history });

  async function launch(extraArgs = [], how = 'launch') {
    // Playwright gives every launch a fresh profile of its own.
    return chromium[how]({
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync',
        '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
        '--autoplay-policy=no-user-gesture-required', ...extraArgs],
    });
  }

  async function logIn(page, d, who = admin) {
    await page.goto(`${d.url}/`);
    await page.locator('#login').waitFor();
    await page.fill('input[name=user]', who.user);
    await page.fill('input[name=password]', who.password);
    await page.click('#login button[type=submit]');
    await page.locator('#app').waitFor();
  }

  /** A session cookie for Node's own requests. */
  async function cookie(d) {
    const r = await fetch(`${d.url}/api/login`, { method: 'POST', body: JSON.stringify(admin) });
    assert.equal(r.status, 200);
    return r.headers.get('set-cookie').split(';')[0];
  }

  const onvifCam = (d) => new Promise((resolve, reject) => {
    const cam = new onvif.Cam({ hostname: HOST, port: d.http, username: admin.user, password: admin.password, timeout: 10000 },
      (err) => (err ? reject(err) : resolve(cam)));
  });
  const ptzStatus = (cam) => new Promise((resolve, reject) => {
    cam.getStatus({}, (err, s) => (err ? reject(err) : resolve(s)));
  });

  let d;
  let browser;
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    // A day of minutes: temperature 19-23 °C, humidity 40-60 %, a noisy hour in the night.
    const now = Math.floor(Date.now() / 1000);
    const history = [];
    for (let t = now - 86400 + 60; t < now; t += 60) {
      const slot = t - (t % 60);
      const phase = (2 * Math.PI * (now - slot)) / 86400;
      history.push({ t: slot, temperature_c: 21 + 2 * Math.sin(phase), humidity_pct: 50 + 10 * Math.cos(phase),
        sound_db: now - slot > 30000 && now - slot < 33600 ? -20 : -75 });
    }
    d = await startDaemon({ sensor: { interval_s: 1 } }, history);
    // The page is HTTPS, a secure origin: Chromium gives it the (fake) microphone with no flag.
    // Each context ignores certificate errors, as a parent accepts the camera's own certificate.
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    d?.stop();
  });

  test('log in, watch live over WebRTC with sound, move the camera, switch night mode, log out', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.on('console', (m) => { if (process.env.BM_WEB_DEBUG) console.log('page:', m.text()); });
    await page.goto(`${d.url}/`);
    await page.fill('input[name=user]', admin.user);
    await page.fill('input[name=password]', 'wrong');
    await page.click('#login button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#login-error').textContent.length > 0);
    assert.match(await page.textContent('#login-error'), /wrong user name or password/);
    assert.equal(await page.isHidden('#app'), true);

    await logIn(page, d);
    const [session] = (await context.cookies()).filter((c) => c.name === 'bm_session');
    assert.ok(session, 'a session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(session.secure, true);

    await page.waitForFunction(() => document.body.dataset.live === 'webrtc', null, { timeout: 20000 });
    await page.waitForFunction(() => document.querySelector('#video').videoWidth > 0, null, { timeout: 15000 });
    const t1 = await page.evaluate(() => document.querySelector('#video').currentTime);
    await page.waitForFunction((t) => document.querySelector('#video').currentTime > t + 0.5, t1, { timeout: 15000 });
    const video = await page.evaluate(() => {
      const v = document.querySelector('#video');
      return { t: v.currentTime, w: v.videoWidth, h: v.videoHeight, audio: v.srcObject.getAudioTracks().length };
    });
    assert.ok(video.t > t1 + 0.5, `the video plays (currentTime ${t1} then ${video.t})`);
    assert.deepEqual([video.w, video.h], [640, 360]);
    assert.equal(video.audio, 1, 'a sound track');
    // Sound really arrives: the browser counts decoded audio samples.
    const audio = await page.evaluate(async () => {
      const pc = window.bmLive.pc;
      const stats = await pc.getStats();
      let samples = 0;
      stats.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') samples = s.totalSamplesReceived ?? 0; });
      return samples;
    });
    assert.ok(audio > 0, `audio samples received (${audio})`);

    // Pan right by holding the pad's button; ONVIF GetStatus sees the camera move.
    const cam = await onvifCam(d);
    const before = (await ptzStatus(cam)).position.x;
    const right = page.locator('[aria-label=right]');
    await right.hover();
    await page.mouse.down();
    await sleep(1200);
    await page.mouse.up();
    const afterMove = await until(() => ptzStatus(cam), (s) => s.moveStatus.panTilt === 'IDLE', 5000);
    assert.ok(afterMove.position.x > before + 0.05, `pan moved right (${before} -> ${afterMove.position.x})`);
    assert.equal(afterMove.moveStatus.panTilt, 'IDLE', 'releasing the button stops the camera');

    // Night mode: the button, the API and the page agree.
    await page.click('[data-night=night]');
    await page.waitForFunction(() => document.querySelector('[data-night=night]').getAttribute('aria-pressed') === 'true');
    const night = await page.evaluate(async () => (await fetch('/api/night')).json());
    assert.deepEqual([night.mode, night.night], ['night', true]);
    await page.click('[data-night=auto]');
    await page.waitForFunction(() => document.querySelector('[data-night=auto]').getAttribute('aria-pressed') === 'true');
    assert.equal((await page.evaluate(async () => (await fetch('/api/night')).json())).mode, 'auto');

    // The chart of the last 24 hours, from what the camera kept.
    await page.locator('#history').waitFor();
    assert.match(await page.textContent('#history-now'), /^\d+\.\d °C · \d+ % humidity$/);
    const drawn = await page.evaluate(() => {
      const c = document.querySelector('#chart');
      const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const near = (r, g, b) => { let n = 0; for (let i = 0; i < px.length; i += 4) if (Math.abs(px[i] - r) < 30 && Math.abs(px[i + 1] - g) < 30 && Math.abs(px[i + 2] - b) < 30 && px[i + 3] > 200) n++; return n; };
      return { temperature: near(0xff, 0xa6, 0x57), humidity: near(0x6e, 0xa8, 0xfe), width: c.width };
    });
    assert.ok(drawn.temperature > drawn.width, `a temperature line (${drawn.temperature} pixels)`);
    assert.ok(drawn.humidity > drawn.width, `a humidity line (${drawn.humidity} pixels)`);

    await sleep(500);
    await page.screenshot({ path: join(artifacts, 'page.png'), fullPage: true });

    await page.click('#logout');
    await page.locator('#login').waitFor();
    const status = await page.evaluate(async () => (await fetch('/api/session', { headers: { 'X-Babymonitor-Page': '1' } })).status);
    assert.equal(status, 401, 'logged out');
    await context.close();
  });

  test('a viewer account watches but cannot move the camera', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await logIn(page, d, viewer);
    assert.equal(await page.isDisabled('[aria-label=right]'), true);
    await page.locator('[data-clip=lullaby-brahms]').waitFor();
    assert.equal(await page.isDisabled('#talk-button'), true, 'a watcher cannot talk');
    assert.equal(await page.isDisabled('[data-clip=lullaby-brahms]'), true, 'nor play a lullaby');
    const r = await page.evaluate(async () => (await fetch('/api/ptz/move', { method: 'POST', body: '{"pan":1}' })).status);
    assert.equal(r, 403);
    await context.close();
  });

  test('an admin connects the camera to Home Assistant on the page; the password is never shown; a viewer has no such card', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await logIn(page, d);
    await page.locator('#mqtt').waitFor();
    // No broker listens on port 9 here: the camera says why it is not connected.
    await page.check('#mqtt [name=enabled]');
    await page.fill('#mqtt [name=broker]', '127.0.0.1:9');
    await page.fill('#mqtt [name=user]', 'nursery');
    await page.fill('#mqtt [name=password]', 'broker secret 1');
    await page.uncheck('#mqtt [name=control]');
    await page.click('#mqtt button[type=submit]');
    await page.waitForFunction(() => /not connected: .*refused/i.test(document.querySelector('#mqtt-status').textContent),
      null, { timeout: 15000 });
    const stored = await page.evaluate(async () => (await fetch('/api/mqtt')).json());
    assert.equal(stored.enabled, true);
    assert.equal(stored.broker, '127.0.0.1:9');
    assert.equal(stored.user, 'nursery');
    assert.equal(stored.commands, 'user', 'unticked: Home Assistant only reads');
    assert.equal(stored.password_set, true);
    assert.ok(!JSON.stringify(stored).includes('broker secret 1'), 'the password is not sent back');
    // After a reload the form shows the stored values, and the password only as "unchanged".
    await page.reload();
    await page.locator('#mqtt').waitFor();
    assert.equal(await page.inputValue('#mqtt [name=broker]'), '127.0.0.1:9');
    assert.equal(await page.inputValue('#mqtt [name=password]'), '');
    assert.equal(await page.getAttribute('#mqtt [name=password]', 'placeholder'), 'unchanged');
    // A bad broker is refused with the field, and nothing changes.
    await page.fill('#mqtt [name=broker]', 'ws://nowhere');
    await page.click('#mqtt button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#mqtt-status').textContent.includes('mqtt.broker'));
    const after = await page.evaluate(async () => (await fetch('/api/mqtt')).json());
    assert.equal(after.broker, '127.0.0.1:9');
    // Off again, for the other tests.
    await page.uncheck('#mqtt [name=enabled]');
    await page.fill('#mqtt [name=broker]', '127.0.0.1:9');
    await page.click('#mqtt button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#mqtt-status').textContent.startsWith('saved'));
    await context.close();

    const viewing = await browser.newContext({ ignoreHTTPSErrors: true });
    const p2 = await viewing.newPage();
    await logIn(p2, d, viewer);
    await p2.locator('#rules').waitFor();
    assert.equal(await p2.isHidden('#mqtt'), true, 'a viewer sees no MQTT card');
    const status = await p2.evaluate(async () => (await fetch('/api/mqtt')).status);
    assert.equal(status, 403);
    await viewing.close();
  });

  /** The simulated speaker's samples so far (a mono 16-bit WAV that grows while it plays). */
  function speakerSamples(d) {
    const path = join(d.data, 'speaker.wav');
    if (!existsSync(path)) return { rate: 48000, x: new Int16Array(0) };
    const bytes = readFileSync(path);
    const rate = bytes.readUInt32LE(24);
    const body = bytes.subarray(44, 44 + ((bytes.length - 44) & ~1));
    return { rate, x: new Int16Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.length)) };
  }

  /** Windows of 50 ms from sample `from` on that carry sound (RMS above -46 dBFS), and the loudest RMS. */
  function loudness(d, from) {
    const { rate, x } = speakerSamples(d);
    const n = Math.round(rate * 0.05);
    let loud = 0;
    let max = 0;
    for (let i = from; i + n <= x.length; i += n) {
      let sum = 0;
      for (let j = i; j < i + n; j++) sum += (x[j] / 32768) ** 2;
      const rms = Math.sqrt(sum / n);
      max = Math.max(max, rms);
      if (rms > 0.005) loud++;
    }
    return { loud, max, end: x.length };
  }

  /** The strongest frequency (Hz, 10 Hz steps) of the loudest 50 ms window from sample `from` on. */
  function pitch(d, from) {
    const { rate, x } = speakerSamples(d);
    const n = Math.round(rate * 0.05);
    let best = null;
    for (let i = from; i + n <= x.length; i += n) {
      let sum = 0;
      for (let j = i; j < i + n; j++) sum += x[j] * x[j];
      if (!best || sum > best.sum) best = { i, sum };
    }
    if (!best) return 0;
    let top = { f: 0, p: 0 };
    for (let f = 100; f <= 8000; f += 10) {
      let re = 0;
      let im = 0;
      for (let j = 0; j < n; j++) {
        const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * j) / n);
        re += x[best.i + j] * w * Math.cos((2 * Math.PI * f * j) / rate);
        im += x[best.i + j] * w * Math.sin((2 * Math.PI * f * j) / rate);
      }
      const p = re * re + im * im;
      if (p > top.p) top = { f, p };
    }
    return top.f;
  }

  const audioNow = (d, auth) => fetch(`${d.url}/api/audio`, { headers: auth }).then((r) => r.json());

  /** A metric's value, with a session cookie. */
  async function metric(d, auth, name) {
    const text = await (await fetch(`${d.url}/metrics`, { headers: auth })).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return Number(line?.split(' ')[1]);
  }

  /**
   * Waits until the camera's microphone has delivered `seconds` more of sound (about 47 AAC
   * frames a second; the detectors keep it running): that much time has passed for the camera,
   * so a check that something did not happen meanwhile means something.
   */
  async function waitAudio(d, auth, seconds) {
    const name = 'babymonitor_audio_frames_total';
    const from = await metric(d, auth, name);
    const deadline = Date.now() + seconds * 3000 + 10000;
    while ((await metric(d, auth, name)) < from + 47 * seconds) {
      assert.ok(Date.now() < deadline, `${name} stayed below ${from + 47 * seconds}`);
      await sleep(100);
    }
  }

  /** Polls `get` until `ok` holds of its value or `ms` pass; returns the last value. */
  async function until(get, ok, ms = 15000) {
    const deadline = Date.now() + ms;
    let value = await get();
    while (!ok(value) && Date.now() < deadline) {
      await sleep(100);
      value = await get();
    }
    return value;
  }

  test('hold to talk: the phone\'s microphone plays on the camera\'s speaker only while the button is held', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    page.on('console', (m) => { if (process.env.BM_WEB_DEBUG) console.log('page:', m.text()); });
    const auth = { Cookie: await cookie(d) };
    try {
      await logIn(page, d);
      await page.locator('#talk-button').waitFor();
      const start = speakerSamples(d).x.length;
      await waitAudio(d, auth, 1.5);
      assert.equal(loudness(d, start).loud, 0, 'nothing on the speaker before the button is pressed');
      assert.equal((await audioNow(d, auth)).talking, null);

      const button = page.locator('#talk-button');
      await button.hover();
      await page.mouse.down();
      await page.waitForFunction(() => document.querySelector('#talk-status').textContent === 'the camera plays your voice', null, { timeout: 15000 });
      const held = speakerSamples(d).x.length;
      let talking = null;
      for (let i = 0; i < 30 && talking === null; i++) {
        talking = (await audioNow(d, auth)).talking;
        if (talking === null) await sleep(200);
      }
      assert.equal(talking, 'web page (admin)', 'the camera says who talks');
      await page.screenshot({ path: join(artifacts, 'talk.png') });
      await sleep(3000);
      await page.mouse.up();
      const released = speakerSamples(d).x.length;
      const during = loudness(d, held);
      assert.ok(during.loud >= 5, `the microphone's beeps reach the speaker (${during.loud} loud windows, peak RMS ${during.max.toFixed(3)})`);
      const f = pitch(d, held);
      console.log(`# talk: ${during.loud} loud 50 ms windows while held, peak RMS ${during.max.toFixed(3)}, beep at ${f} Hz`);
      assert.ok(f > 200, `a tone, not noise (${f} Hz)`);

      // Released: the connection stays open for the next press, but nothing more is heard.
      await waitAudio(d, auth, 0.6); // what was already on its way
      const quiet = speakerSamples(d).x.length;
      // Longer than the camera waits for a silent browser's reports (10 s): the idle connection is kept.
      await waitAudio(d, auth, 12);
      const after = loudness(d, quiet);
      assert.equal(after.loud, 0, `silence once released (${after.loud} loud windows, peak RMS ${after.max.toFixed(3)})`);
      assert.ok(await page.evaluate(() => window.bmTalk.pc?.connectionState === 'connected'), 'the talk connection is kept');
      assert.ok(released > held);

      // Pressing again talks at once over the same connection.
      await button.hover();
      await page.mouse.down();
      await sleep(2000);
      await page.mouse.up();
      assert.ok(loudness(d, quiet).loud >= 3, 'the second press is heard too');
    } finally {
      await context.close();
    }
    // Closing the page ends its talk connection: the floor is free.
    const floor = await until(() => audioNow(d, auth), (a) => a.talking === null);
    assert.equal(floor.talking, null);
  });

  test('talking needs an operator or admin and a microphone in the offer', async () => {
    const login = await fetch(`${d.url}/api/login`, { method: 'POST', body: JSON.stringify(viewer) });
    const asViewer = { Cookie: login.headers.get('set-cookie').split(';')[0], 'Content-Type': 'application/sdp' };
    const asAdmin = { Cookie: await cookie(d), 'Content-Type': 'application/sdp' };
    const offer = 'v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n';
    let r = await fetch(`${d.url}/api/talk`, { method: 'POST', body: offer, headers: asViewer });
    assert.equal(r.status, 403);
    r = await fetch(`${d.url}/api/talk`, { method: 'POST', body: 'hello', headers: asAdmin });
    assert.equal(r.status, 400);
    assert.match(await r.text(), /not SDP/);
    r = await fetch(`${d.url}/api/talk`, { method: 'POST', body: offer.replace('a=sendonly', 'a=recvonly'), headers: asAdmin });
    assert.equal(r.status, 400);
    assert.match(await r.text(), /no Opus/);
    r = await fetch(`${d.url}/api/talk/nope`, { method: 'DELETE', headers: asAdmin });
    assert.equal(r.status, 404);
  });

  test('the lullaby player plays, loops with a sleep timer, changes volume and stops; alerts show live', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    page.on('console', (m) => { if (process.env.BM_WEB_DEBUG) console.log('page:', m.text()); });
    // Notifications as a browser shows them when allowed and the page is in the background.
    await page.addInitScript(() => {
      window.bmNotified = [];
      window.Notification = class {
        static permission = 'granted';
        static requestPermission() { return Promise.resolve('granted'); }
        constructor(title, options) { window.bmNotified.push(`${title}: ${options.body}`); }
      };
      Object.defineProperty(document, 'hidden', { get: () => true });
    });
    const auth = { Cookie: await cookie(d) };
    try {
      await logIn(page, d);
      await page.locator('[data-clip=lullaby-brahms]').waitFor();
      const names = await page.$$eval('[data-clip]', (bs) => bs.map((b) => b.dataset.clip));
      for (const t of ['white-noise', 'pink-noise', 'brown-noise', 'lullaby-twinkle', 'lullaby-brahms']) assert.ok(names.includes(t), `${t} is listed`);

      await page.selectOption('#play-timer', '600');
      const start = speakerSamples(d).x.length;
      await page.click('[data-clip=lullaby-brahms]');
      await page.waitForFunction(() => document.body.dataset.playing === 'lullaby-brahms', null, { timeout: 10000 });
      let s = await audioNow(d, auth);
      assert.equal(s.playing?.token, 'lullaby-brahms');
      assert.ok(s.playing.timer_left_s > 590 && s.playing.timer_left_s <= 600, `the sleep timer (${s.playing.timer_left_s} s)`);
      await until(() => loudness(d, start).loud, (n) => n >= 10);
      assert.ok(loudness(d, start).loud >= 10, 'the lullaby reaches the speaker');
      assert.match(await page.textContent('#play-status'), /playing .*stops in (9|10):\d\d/);

      // The sliders set the camera's volumes.
      await page.locator('#master-volume').fill('40');
      await page.locator('#master-volume').dispatchEvent('change');
      await page.locator('#music-volume').fill('55');
      await page.locator('#music-volume').dispatchEvent('change');
      for (let i = 0; i < 20 && ((s = await audioNow(d, auth)).volume !== 40 || s.music_volume !== 55); i++) await sleep(100);
      assert.deepEqual([s.volume, s.music_volume], [40, 55]);

      // The nursery gets too warm: the live event shows it on the page.
      await page.locator('#climate').waitFor();
      const r = await fetch(`${d.url}/api/simulate/climate`, { method: 'PUT', headers: auth, body: JSON.stringify({ temperature_c: 25, humidity_pct: 50 }) });
      assert.equal(r.status, 200);
      await page.waitForFunction(() => document.querySelector('#alerts-now').textContent.includes('Too hot'), null, { timeout: 20000 });
      await page.waitForFunction(() => document.querySelector('#alerts li')?.textContent.includes('Too hot'), null, { timeout: 5000 });
      await page.waitForFunction(() => document.querySelector('#climate-now').textContent.startsWith('25.0 °C'), null, { timeout: 15000 });
      assert.deepEqual(await page.evaluate(() => window.bmNotified), ['babymonitor: Too hot'], 'and a notification');
      await sleep(300);
      await page.screenshot({ path: join(artifacts, 'controls.png'), fullPage: true });

      await page.click('#play-stop');
      await page.waitForFunction(() => document.body.dataset.playing === '', null, { timeout: 10000 });
      assert.equal((await audioNow(d, auth)).playing, null);
      await waitAudio(d, auth, 1.5); // the fade and the room's echo
      const stopped = speakerSamples(d).x.length;
      await waitAudio(d, auth, 1.5);
      assert.equal(loudness(d, stopped).loud, 0, 'stopped means silence');

      // Back to a comfortable room: the alert goes away.
      await fetch(`${d.url}/api/simulate/climate`, { method: 'PUT', headers: auth, body: JSON.stringify({ temperature_c: 20, humidity_pct: 50 }) });
      await page.waitForFunction(() => !document.querySelector('#alerts-now').textContent.includes('Too hot'), null, { timeout: 20000 });
      // An unplugged sensor is an alert too.
      await fetch(`${d.url}/api/simulate/climate`, { method: 'PUT', headers: auth, body: JSON.stringify({ failing: true }) });
      await page.waitForFunction(() => document.querySelector('#alerts-now').textContent.includes('sensor fails'), null, { timeout: 30000 });
      await fetch(`${d.url}/api/simulate/climate`, { method: 'PUT', headers: auth, body: JSON.stringify({ failing: false }) });
      await page.waitForFunction(() => !document.querySelector('#alerts-now').textContent.includes('sensor fails'), null, { timeout: 30000 });
    } finally {
      await fetch(`${d.url}/api/audio/volume?master=100&music=100`, { method: 'POST', headers: auth });
      await fetch(`${d.url}/api/simulate/climate`, { method: 'PUT', headers: auth, body: JSON.stringify({ drift: true }) });
      await context.close();
    }
  });

  test('WHEP refuses bad offers and viewers beyond the limit, with a reason', async (t) => {
    // A camera of its own: the viewers of the other tests do not take its places.
    const d = await startDaemon({ web: { max_viewers: 3, connect_timeout_s: 30 } });
    t.after(() => d.stop());
    const auth = { Cookie: await cookie(d) };
    const post = (body, type = 'application/sdp') => fetch(`${d.url}/api/whep`, { method: 'POST', body, headers: { ...auth, 'Content-Type': type } });
    let r = await post('hello, camera');
    assert.equal(r.status, 400);
    assert.match(await r.text(), /not SDP/);
    r = await post('v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n');
    assert.equal(r.status, 400);
    assert.match(await r.text(), /no video/);
    r = await post(`v=0\r\n${'a=x\r\n'.repeat(10000)}`);
    assert.equal(r.status, 413);
    r = await post('v=0', 'text/plain');
    assert.equal(r.status, 415);
    r = await fetch(`${d.url}/api/whep`, { method: 'POST', body: 'v=0', headers: { 'Content-Type': 'application/sdp' } });
    assert.equal(r.status, 401, 'no login, no picture');

    // Twenty real browser offers at once: three places, the rest refused with a reason.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`${d.url}/healthz`);
    const offers = await page.evaluate(async (n) => {
      const out = [];
      for (let i = 0; i < n; i++) {
        const pc = new RTCPeerConnection();
        pc.addTransceiver('video', { direction: 'recvonly' });
        pc.addTransceiver('audio', { direction: 'recvonly' });
        out.push((await pc.createOffer()).sdp);
        pc.close();
      }
      return out;
    }, 20);
    const replies = await Promise.all(offers.map(async (sdp) => {
      const res = await post(sdp);
      return { status: res.status, body: await res.text(), location: res.headers.get('location') };
    }));
    const accepted = replies.filter((x) => x.status === 201);
    const refused = replies.filter((x) => x.status === 503);
    assert.equal(accepted.length, 3, JSON.stringify(replies.map((x) => x.status)));
    assert.equal(refused.length, 17);
    assert.match(refused[0].body, /max_viewers/);
    assert.match(accepted[0].body, /^v=0/);
    assert.match(accepted[0].body, /a=sendonly/);
    assert.match(accepted[0].body, /H264/);
    assert.match(accepted[0].body, /a=candidate/);
    assert.match(accepted[0].location, /^\/api\/whep\/[0-9a-f]+$/);

    // Leaving frees a place.
    r = await fetch(`${d.url}${accepted[0].location}`, { method: 'DELETE', headers: auth });
    assert.equal(r.status, 200);
    r = await fetch(`${d.url}${accepted[0].location}`, { method: 'DELETE', headers: auth });
    assert.equal(r.status, 404);
    r = await post(offers[0]);
    assert.equal(r.status, 201);
    for (const x of accepted.slice(1)) await fetch(`${d.url}${x.location}`, { method: 'DELETE', headers: auth });
    await fetch(`${d.url}${r.headers.get('location')}`, { method: 'DELETE', headers: auth });
    await context.close();
  });

  test('a viewer whose password changes loses its WebRTC live view at once', async (t) => {
    const d = await startDaemon({ web: { max_viewers: 3, connect_timeout_s: 60 } });
    t.after(() => d.stop());
    const login = async (who) => {
      const r = await fetch(`${d.url}/api/login`, { method: 'POST', body: JSON.stringify(who) });
      assert.equal(r.status, 200);
      return { Cookie: r.headers.get('set-cookie').split(';')[0] };
    };
    const [asViewer, asAdmin] = [await login(viewer), await login(admin)];
    const viewers = async () => {
      const text = await (await fetch(`${d.url}/metrics`, { headers: asAdmin })).text();
      return Number(/babymonitor_web_viewers\{kind="webrtc"\} (\d+)/.exec(text)?.[1]);
    };
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    t.after(() => context.close());
    const page = await context.newPage();
    await page.goto(`${d.url}/healthz`);
    const offers = await page.evaluate(async () => {
      const out = [];
      for (let i = 0; i < 2; i++) {
        const pc = new RTCPeerConnection();
        pc.addTransceiver('video', { direction: 'recvonly' });
        out.push((await pc.createOffer()).sdp);
        pc.close();
      }
      return out;
    });
    const whep = async (who, sdp) => {
      const r = await fetch(`${d.url}/api/whep`, { method: 'POST', body: sdp, headers: { ...who, 'Content-Type': 'application/sdp' } });
      assert.equal(r.status, 201, await r.text());
      return r.headers.get('location');
    };
    const viewersOwn = await whep(asViewer, offers[0]);
    const adminsOwn = await whep(asAdmin, offers[1]);
    assert.equal(await viewers(), 2);

    writeFileSync(d.config, readFileSync(d.config, 'utf8').replace(viewer.password, 'a new viewer pass 7'));
    d.proc.kill('SIGHUP');
    for (let i = 0; i < 100 && (await viewers()) !== 1; i++) await sleep(100);
    assert.equal(await viewers(), 1, 'the old password still watches');
    let r = await fetch(`${d.url}${viewersOwn}`, { method: 'DELETE', headers: asAdmin });
    assert.equal(r.status, 404, 'the viewer\'s connection is still there');
    r = await fetch(`${d.url}${adminsOwn}`, { method: 'DELETE', headers: asAdmin });
    assert.equal(r.status, 200, 'the admin\'s connection ended too');
  });

  test('a browser that goes away without saying so gives its place back', async (t) => {
    const d = await startDaemon({ web: { max_viewers: 1 } });
    t.after(() => d.stop());
    const auth = { Cookie: await cookie(d) };
    const viewers = async () => {
      const text = await (await fetch(`${d.url}/metrics`, { headers: auth })).text();
      return Number(/babymonitor_web_viewers\{kind="webrtc"\} (\d+)/.exec(text)?.[1]);
    };
    const server = await launch([], 'launchServer');
    const gone = await chromium.connect(server.wsEndpoint());
    const page = await gone.newPage({ ignoreHTTPSErrors: true });
    await logIn(page, d);
    await page.waitForFunction(() => document.body.dataset.live === 'webrtc', null, { timeout: 20000 });
    assert.equal(await viewers(), 1);
    // A browser that is there keeps its place (it sends RTCP reports all along) ...
    const t0 = await page.evaluate(() => document.querySelector('#video').currentTime);
    // 13 s of pictures: longer than the camera waits for a silent browser (10 s).
    await page.waitForFunction((t) => document.querySelector('#video').currentTime > t + 13, t0, { timeout: 40000 });
    assert.equal(await viewers(), 1, 'a watching browser is not taken for gone');
    assert.ok(await page.evaluate(() => document.querySelector('#video').currentTime) > t0 + 10);
    // ... and one that is killed outright (no DELETE, no goodbye) loses it.
    server.process().kill('SIGKILL');
    const since = Date.now();
    while ((await viewers()) !== 0 && Date.now() - since < 60000) await sleep(500);
    assert.equal(await viewers(), 0, 'the place was given back');
    console.log(`# a vanished WebRTC viewer was noticed after ${Date.now() - since} ms`);
    await server.close().catch(() => {});
  });

  test('where WebRTC cannot connect the page falls back to pictures over a WebSocket by itself', async (t) => {
    // A camera that takes no WebRTC viewer (max_viewers = 0) refuses the offer, as a full one does.
    const d = await startDaemon({ web: { max_viewers: 0 } });
    t.after(() => d.stop());
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 } });
    try {
      const page = await context.newPage();
      page.on('console', (m) => { if (process.env.BM_WEB_DEBUG) console.log('page:', m.text()); });
      await logIn(page, d);
      await page.waitForFunction(() => document.body.dataset.live === 'fallback', null, { timeout: 30000 });
      await page.waitForFunction(() => document.querySelector('#fallback').naturalWidth > 0, null, { timeout: 15000 });
      const first = await page.evaluate(() => document.querySelector('#fallback').src);
      await page.waitForFunction((f) => document.querySelector('#fallback').src !== f, first, { timeout: 10000 });
      const img = await page.evaluate(() => {
        const i = document.querySelector('#fallback');
        return { src: i.src, w: i.naturalWidth, h: i.naturalHeight };
      });
      assert.notEqual(img.src, first, 'the picture keeps changing');
      assert.deepEqual([img.w, img.h], [640, 360]);
      await page.screenshot({ path: join(artifacts, 'fallback.png') });
    } finally {
      await context.close();
    }
  });
}
