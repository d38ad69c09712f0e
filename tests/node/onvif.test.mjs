// The npm `onvif` client (used by Node NVRs) against the real daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import onvif from 'onvif';
import { startDaemon, admin as account } from './daemon.mjs';

const admin = { username: account.user, password: account.password };

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
    d.stop();
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
    d.stop();
  }
});

test('with WS-Security off the client logs in with HTTP Digest, a fresh nonce each call', async () => {
  const d = await startDaemon();
  try {
    const cam = await connectCam({ port: d.http, useWSSecurity: false, ...admin });
    assert.ok(cam.profiles.length >= 2, 'profiles');
    for (let i = 0; i < 2; i++) {
      const info = await call(cam, 'getDeviceInformation');
      assert.equal(info.manufacturer, 'babymonitor');
    }
  } finally {
    d.stop();
  }
});
