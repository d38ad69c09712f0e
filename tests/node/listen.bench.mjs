// The listen stream (GET /api/listen.aac): its delay from the microphone to the page's played
// sound, its bitrate, and the daemon's CPU with one and with ten listeners.
//
// The camera's microphone is a FIFO fed by a writer that plays silence in real time with a
// click every 2 s, printing the wall-clock time (ms) at which it wrote each click. The page (in
// headless Chromium, on the same machine and clock) listens as a parent does (Listen, an
// <audio> element) and an analyser on that element notes when each click is played. So the
// figure covers the microphone's buffer, capture, the listen encoder, the fan-out, HTTPS, the
// browser's buffering and decoding.
// Run: node tests/node/listen.bench.mjs   (SAMPLES=20 clicks by default)
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, admin, sleep } from './daemon.mjs';

const SAMPLES = Number(process.env.SAMPLES ?? 20);
const RATE = 16000;
const { chromium } = await import('playwright-core');

const dir = mkdtempSync(join(tmpdir(), 'bm-listen-bench-'));
const fifo = join(dir, 'mic');
execFileSync('mkfifo', [fifo]);
const writer = spawn('python3', ['-u', '-c', `
import math, struct, sys, time
RATE, CHUNK = ${RATE}, ${RATE / 50}
silence = bytes(2 * int(CHUNK))
click = b''.join(struct.pack('<h', int(26000 * math.sin(2 * math.pi * 1000 * i / RATE))) for i in range(int(CHUNK)))
out = open('${fifo}', 'wb', buffering=0)
start = time.time()
n = 0
while True:
    n += 1
    due = start + n / 50
    delay = due - time.time()
    if delay > 0:
        time.sleep(delay)
    if n % 100 == 0:
        out.write(click)
        print('click', round(time.time() * 1000), flush=True)
    else:
        out.write(silence)
`], { stdio: ['ignore', 'pipe', 'inherit'] });
const clicks = [];
createInterface({ input: writer.stdout }).on('line', (l) => { const [k, t] = l.split(' '); if (k === 'click') clicks.push(Number(t)); });

const d = await startDaemon({
  settings: {
    audio: { source: 'raw', pipeline: `filesrc location=${fifo} ! rawaudioparse format=pcm pcm-format=s16le sample-rate=${RATE} num-channels=1` },
    // The gate would let a lone click through late (it opens on the level); measured open.
    listen: {},
    sound: { enabled: true },
  },
});
const login = await fetch(`${d.url}/api/login`, { method: 'POST', body: JSON.stringify(admin) });
const cookie = login.headers.get('set-cookie').split(';')[0];
const auth = { Cookie: cookie, 'X-Babymonitor-Page': '1' };
const put = await fetch(`${d.url}/api/listen`, { method: 'PUT', headers: auth, body: JSON.stringify({ gate: { enabled: false } }) });
if (!put.ok) throw new Error(`PUT /api/listen: ${put.status} ${await put.text()}`);

const cpuTicks = () => {
  const f = readFileSync(`/proc/${d.proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
};
const HZ = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/** `n` listeners that read and drop what they get; returns { bytes(), stop() }. */
function listeners(n) {
  let bytes = 0;
  const ctrl = new AbortController();
  for (let i = 0; i < n; i++) {
    fetch(`${d.url}/api/listen.aac`, { headers: auth, signal: ctrl.signal }).then(async (r) => {
      if (!r.ok) throw new Error(`listener: ${r.status}`);
      for await (const chunk of r.body) bytes += chunk.length;
    }).catch((e) => { if (e.name !== 'AbortError') console.error(e.message); });
  }
  return { bytes: () => bytes, stop: () => ctrl.abort() };
}

async function cpuWith(n, seconds = 20) {
  const l = listeners(n);
  await sleep(3000);
  const [t0, b0, c0] = [Date.now(), l.bytes(), cpuTicks()];
  await sleep(seconds * 1000);
  const [t1, b1, c1] = [Date.now(), l.bytes(), cpuTicks()];
  l.stop();
  await sleep(1000);
  const s = (t1 - t0) / 1000;
  return { cpu: (c1 - c0) / HZ / s, kbps: n ? ((b1 - b0) * 8) / 1000 / s / n : 0 };
}

try {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--autoplay-policy=no-user-gesture-required'],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  await context.addCookies([{ name: cookie.split('=')[0], value: cookie.split('=')[1], url: d.url }]);
  const page = await context.newPage();
  await page.addInitScript(() => localStorage.setItem('bm-mode', 'listen'));
  await page.goto(`${d.url}/`);
  await page.waitForFunction(() => document.querySelector('#listen-audio').currentTime > 1, null, { timeout: 30000 });
  const played = await page.evaluate(async (samples) => {
    const a = document.querySelector('#listen-audio');
    const ctx = new AudioContext();
    await ctx.resume();
    const an = ctx.createAnalyser();
    an.fftSize = 256;
    ctx.createMediaElementSource(a).connect(an);
    an.connect(ctx.destination);
    const buf = new Float32Array(an.fftSize);
    const heard = [];
    let quietSince = 0;
    const end = performance.now() + (samples * 2 + 10) * 1000;
    while (heard.length < samples && performance.now() < end) {
      an.getFloatTimeDomainData(buf);
      const peak = buf.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const now = Date.now();
      if (peak > 0.2 && now - quietSince > 1000 && quietSince) { heard.push(now); quietSince = 0; }
      if (peak < 0.05 && !quietSince) quietSince = now;
      await new Promise((r) => setTimeout(r, 2));
    }
    return heard;
  }, SAMPLES);
  await browser.close();
  // Each click heard goes with the last click written before it.
  const delays = played.map((t) => t - Math.max(...clicks.filter((c) => c <= t))).filter((x) => x >= 0 && x < 5000).sort((x, y) => x - y);
  const q = (p) => delays[Math.min(delays.length - 1, Math.floor(p * delays.length))];
  console.log(`delay microphone -> page (ms), ${delays.length} clicks: median ${q(0.5)}, p90 ${q(0.9)}, max ${delays[delays.length - 1]}, min ${delays[0]}`);

  const none = await cpuWith(0);
  const one = await cpuWith(1);
  const ten = await cpuWith(10);
  console.log(`bitrate per listener: ${one.kbps.toFixed(1)} kbit/s (with ten: ${ten.kbps.toFixed(1)})`);
  console.log(`daemon CPU (share of one core): no listener ${(none.cpu * 100).toFixed(1)} %, 1 listener ${(one.cpu * 100).toFixed(1)} %, 10 listeners ${(ten.cpu * 100).toFixed(1)} %, ratio ${(ten.cpu / one.cpu).toFixed(2)}x`);
} finally {
  writer.kill();
  d.stop();
}
