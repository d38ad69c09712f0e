// Glass-to-glass delay of the web page's live view, WebRTC and the fallback, in headless Chromium.
//
// The camera's source is a FIFO fed by a writer that draws the wall-clock time (ms) into every
// frame as 24 black/white blocks; the page decodes the blocks of each frame it shows and
// subtracts them from its own clock (same machine, same clock). So the figure covers writing
// the frame, capture, encode, the hub, WebRTC or JPEG over a WebSocket, decode and display.
// Run as root (it makes a network namespace): node tests/node/latency.bench.mjs
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const thisFile = fileURLToPath(import.meta.url);
const root = join(dirname(thisFile), '..', '..');
const binary = process.env.BABYMONITOR_BIN ?? join(root, 'target', 'debug', 'babymonitor');
const HOST = '10.79.0.1';
const [W, H, FPS, BITS, BLOCK] = [640, 360, 15, 24, 26];
const SAMPLES = Number(process.env.SAMPLES ?? 150);

if (!process.env.BM_WEB_NETNS) {
  const ns = `bmlat${process.pid}`;
  const ip = (...args) => execFileSync('ip', args);
  try {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'add', 'bmweb0', 'type', 'veth', 'peer', 'name', 'bmweb1');
    ip('-n', ns, 'addr', 'add', `${HOST}/24`, 'dev', 'bmweb0');
    ip('-n', ns, 'link', 'set', 'bmweb0', 'up');
    ip('-n', ns, 'link', 'set', 'bmweb1', 'up');
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, thisFile], { stdio: 'inherit', env: { ...process.env, BM_WEB_NETNS: ns } });
    process.exitCode = r.status ?? 1;
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
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
  const [rtsp, http] = [32001, 32002];
  writeFileSync(join(dir, 'config.toml'), `
[rtsp]
port = ${rtsp}
[http]
port = ${http}
[storage]
data_dir = "${join(dir, 'data')}"
[onvif]
discovery = false
[video]
source = "raw"
pipeline = "filesrc location=${fifo} ! rawvideoparse width=${W} height=${H} format=i420 framerate=${FPS}/1"
[video.main]
width = ${W}
height = ${H}
framerate = ${FPS}
[video.sub]
width = 320
height = 180
framerate = ${FPS}
[[users]]
name = "admin"
password = "admin pass 1"
role = "admin"
`);
  const daemon = spawn(binary, ['--listen', HOST, '--config', join(dir, 'config.toml'), '--simulate'], { stdio: 'ignore' });
  const listening = () => new Promise((resolve) => {
    const c = connect(http, HOST, () => { c.destroy(); resolve(true); }).on('error', () => resolve(false));
  });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
  try {
    for (let i = 0; i < 200 && !(await listening()); i++) await new Promise((r) => setTimeout(r, 50));
    const results = {};
    const cpu = {};
    // The daemon's user+system time, in clock ticks (100 a second).
    const ticks = () => {
      const f = readFileSync(`/proc/${daemon.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return Number(f[11]) + Number(f[12]);
    };
    for (const mode of ['webrtc', 'fallback']) {
      const page = await browser.newPage();
      await page.goto(`http://${HOST}:${http}/${mode === 'fallback' ? '?live=fallback' : ''}`);
      await page.fill('input[name=user]', 'admin');
      await page.fill('input[name=password]', 'admin pass 1');
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
    daemon.kill('SIGTERM');
    writer.kill();
  }
}
