// Glass-to-glass delay of the web page's live view, WebRTC and the fallback, in headless Chromium.
//
// The camera's source is a FIFO fed by a writer that draws the wall-clock time (ms) into every
// frame as 24 black/white blocks; the page decodes the blocks of each frame it shows and
// subtracts them from its own clock (same machine, same clock). So the figure covers writing
// the frame, capture, encode, the hub, WebRTC or JPEG over a WebSocket, decode and display.
// Run as root (it makes a network namespace): node tests/node/latency.bench.mjs
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaemon, withNamespace, admin } from './daemon.mjs';

const thisFile = fileURLToPath(import.meta.url);
const HOST = '10.79.0.1';
const [W, H, FPS, BITS, BLOCK] = [640, 360, 15, 24, 26];
const SAMPLES = Number(process.env.SAMPLES ?? 150);

if (!process.env.BM_WEB_NETNS) {
  if (process.getuid?.() !== 0) {
    console.error('SKIPPED: the latency bench needs root to make a network namespace');
    process.exit(1);
  }
  withNamespace('bmlat', HOST, (ns) => {
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, thisFile], { stdio: 'inherit', env: { ...process.env, BM_WEB_NETNS: ns } });
    process.exitCode = r.status ?? 1;
  });
} else {
  const { chromium } = await import('playwright-core');
  const dir = mkdtempSync(join(tmpdir(), 'bm-latency-'));
  const fifo = join(dir, 'frames');
  execFileSync('mkfifo', [fifo]);
  // The writer: I420 frames at FPS, the time in ms (mod 2^24) as blocks in the top rows.
  const writer = spawn('python3', ['-c', `
import os, time
W, H, FPS, BITS, BLOCK = ${W}, ${H}, ${FPS}, ${BITS}, ${BLOCK}
chroma = bytes([128]) * (W * H // 2)
while True:
    try:
        with open(${JSON.stringify(fifo)}, 'wb', buffering=0) as f:
            start = time.monotonic(); n = 0
            while True:
                ms = int(time.time() * 1000) % (1 << BITS)
                row = bytearray([16]) * W
                for i in range(BITS):
                    if ms >> (BITS - 1 - i) & 1:
                        row[i * BLOCK:(i + 1) * BLOCK] = bytes([235]) * BLOCK
                f.write(bytes(row) * 40 + bytes([64]) * (W * (H - 40)) + chroma)
                n += 1
                time.sleep(max(0, start + n / FPS - time.monotonic()))
    except BrokenPipeError:
        time.sleep(0.1)
`], { stdio: 'inherit' });
  const daemon = await startDaemon({
    host: HOST,
    users: [[admin, 'admin']],
    settings: {
      video: { source: 'raw', pipeline: `filesrc location=${fifo} ! rawvideoparse width=${W} height=${H} format=i420 framerate=${FPS}/1` },
      'video.main': { width: W, height: H, framerate: FPS },
      'video.sub': { width: 320, height: 180, framerate: FPS },
    },
  });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
  try {
    const results = {};
    const cpu = {};
    // The daemon's user+system time, in clock ticks (100 a second).
    const ticks = () => {
      const f = readFileSync(`/proc/${daemon.proc.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return Number(f[11]) + Number(f[12]);
    };
    for (const mode of ['webrtc', 'fallback']) {
      const page = await browser.newPage({ ignoreHTTPSErrors: true });
      await page.goto(`${daemon.url}/${mode === 'fallback' ? '?live=fallback' : ''}`);
      await page.fill('input[name=user]', admin.user);
      await page.fill('input[name=password]', admin.password);
      await page.click('#login button[type=submit]');
      await page.waitForFunction((m) => document.body.dataset.live === m, mode, { timeout: 30000 });
      const [t0, c0] = [Date.now(), ticks()];
      results[mode] = await page.evaluate(async ({ mode, n, W, H, BITS, BLOCK }) => {
        const canvas = new OffscreenCanvas(W, H);
        const ctx = canvas.getContext('2d', { willReadFrequently: true });
        const decode = (source) => {
          ctx.drawImage(source, 0, 0, W, H);
          const row = ctx.getImageData(0, 20, W, 1).data;
          let ms = 0;
          for (let i = 0; i < BITS; i++) ms = ms * 2 + (row[(i * BLOCK + BLOCK / 2) * 4] > 128 ? 1 : 0);
          const now = Date.now() % (1 << BITS);
          return (now - ms + (1 << BITS)) % (1 << BITS);
        };
        const delays = [];
        await new Promise((resolve) => {
          if (mode === 'webrtc') {
            const v = document.querySelector('#video');
            const onFrame = () => {
              delays.push(decode(v));
              if (delays.length >= n) resolve(); else v.requestVideoFrameCallback(onFrame);
            };
            v.requestVideoFrameCallback(onFrame);
          } else {
            const img = document.querySelector('#fallback');
            img.addEventListener('load', () => { delays.push(decode(img)); if (delays.length >= n) resolve(); });
          }
        });
        return delays;
      }, { mode, n: SAMPLES, W, H, BITS, BLOCK });
      cpu[mode] = ((ticks() - c0) / 100) / ((Date.now() - t0) / 1000) * 100;
      await page.close();
    }
    for (const [mode, d] of Object.entries(results)) {
      // The first frames after joining include the start-up; the steady state is the figure.
      const s = d.slice(10).sort((a, b) => a - b);
      const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
      console.log(`${mode}: median ${q(0.5)} ms, p90 ${q(0.9)} ms, min ${s[0]} ms, max ${s[s.length - 1]} ms (${s.length} frames); daemon CPU ${cpu[mode].toFixed(1)} % of a core`);
    }
  } finally {
    await browser.close();
    daemon.stop();
    writer.kill();
  }
}
