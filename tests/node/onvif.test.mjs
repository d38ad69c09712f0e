// The npm `onvif` client (used by Node NVRs) against the real daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import onvif from 'onvif';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const binary = process.env.BABYMONITOR_BIN ?? join(root, 'target', 'debug', 'babymonitor');
const admin = { username: 'admin', password: 'admin pass 1' };

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});
const listening = (port) => new Promise((resolve) => {
  const c = connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); }).on('error', () => resolve(false));
});

async function startDaemon() {
  const dir = mkdtempSync(join(tmpdir(), 'bm-node-'));
  const [rtsp, http] = [await freePort(), await freePort()];
  writeFileSync(join(dir, 'config.toml'), `
[rtsp]
port = ${rtsp}
[http]
port = ${http}
[storage]
data_dir = "${join(dir, 'data')}"
[onvif]
discovery = false
[video.main]
width = 640
height = 360
[video.sub]
width = 320
height = 180
[[users]]
name = "${admin.username}"
password = "${admin.password}"
role = "admin"
`);
  const proc = spawn(binary, ['--simulate', '--config', join(dir, 'config.toml')], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    if ((await listening(http)) && (await listening(rtsp))) return { proc, rtsp, http, dir };
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill();
  throw new Error('daemon did not start');
}

const connectCam = (options) => new Promise((resolve, reject) => {
  const cam = new onvif.Cam({ hostname: '127.0.0.1', timeout: 10000, ...options }, (err) => (err ? reject(err) : resolve(cam)));
});
const call = (cam, method, ...args) => new Promise((resolve, reject) => {
  cam[method](...args, (err, result) => (err ? reject(err) : resolve(result)));
});

function probe(url) {
  return execFileSync('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', '-show_entries', 'stream=codec_name,width,height', '-of', 'csv=p=0', url], { timeout: 60000 }).toString();
}

test('Cam.connect, getStreamUri and getSnapshotUri give URLs that play', async () => {
  const d = await startDaemon();
  try {
    const cam = await connectCam({ port: d.http, ...admin });
    assert.ok(cam.profiles.length >= 2, 'profiles');
    // The client checks that each profile's source token names a real video source.
    assert.ok(cam.defaultProfile, 'a default profile');
    const stream = await call(cam, 'getStreamUri', { protocol: 'RTSP' });
    assert.match(stream.uri, new RegExp(`^rtsp://127\\.0\\.0\\.1:${d.rtsp}/`));
    const withCreds = stream.uri.replace('rtsp://', `rtsp://${admin.username}:${encodeURIComponent(admin.password)}@`);
    const out = probe(withCreds);
    assert.match(out, /h264,640,360/);
    assert.match(out, /aac/);

    const snap = await call(cam, 'getSnapshotUri', {});
    assert.match(snap.uri, new RegExp(`^http://127\\.0\\.0\\.1:${d.http}/snapshot\\.jpg`));
    const info = await call(cam, 'getDeviceInformation');
    assert.equal(info.manufacturer, 'babymonitor');
  } finally {
    d.proc.kill('SIGTERM');
  }
});

test('a wrong password is refused', async () => {
  const d = await startDaemon();
  try {
    // connect() may get through on the calls that need no login; nothing protected must.
    let cam;
    try {
      cam = await connectCam({ port: d.http, username: admin.username, password: 'wrong' });
    } catch (err) {
      assert.match(String(err), /NotAuthorized|not authorized/i);
      return;
    }
    assert.equal(cam.profiles?.length ?? 0, 0, 'profiles read with a wrong password');
    await assert.rejects(call(cam, 'getDeviceInformation'), /NotAuthorized|not authorized/i);
  } finally {
    d.proc.kill('SIGTERM');
  }
});
