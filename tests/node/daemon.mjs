// Starts the real babymonitor daemon for the Node tests and benches (the one way they all do it).
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const binary = process.env.BABYMONITOR_BIN ?? join(root, 'target', 'debug', 'babymonitor');
export const admin = { user: 'admin', password: 'admin pass 1' };
export const viewer = { user: 'viewer', password: 'viewer-pass-2' };
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A fresh directory under the system's temporary one, removed when this test process ends. */
const made = [];
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (!made.length) process.on('exit', () => { for (const m of made) rmSync(m, { recursive: true, force: true }); });
  made.push(dir);
  return dir;
}

const listenAnywhere = (host) => new Promise((resolve, reject) => {
  const s = createServer().on('error', reject).listen(0, host, () => resolve(s));
});
/** `n` different free ports: each is held until all are found (a port let go at once may be handed out again). */
async function freePorts(n, host) {
  const held = [];
  for (let i = 0; i < n; i++) held.push(await listenAnywhere(host));
  const ports = held.map((s) => s.address().port);
  await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
const listening = (port, host) => new Promise((resolve) => {
  const c = connect(port, host, () => { c.destroy(); resolve(true); }).on('error', () => resolve(false));
});

/** TOML of `{ section: { key: value } }`; strings quoted, numbers and booleans as they are. */
function toml(sections) {
  return Object.entries(sections)
    .map(([name, keys]) => `[${name}]\n${Object.entries(keys).map(([k, v]) => `${k} = ${typeof v === 'string' ? JSON.stringify(v) : v}`).join('\n')}\n`)
    .join('\n');
}

/**
 * Starts the daemon with `--simulate` and waits until its HTTP and RTSP ports answer on `host`
 * (any other than 127.0.0.1 is passed as `--listen`). `settings` adds to or overrides the
 * config's sections; `users` are [account, role] pairs; `history` is what an earlier run kept (loaded at start).
 * Returns { proc, rtsp, http, rtsps, https, host, url (HTTPS), plainUrl (HTTP), dir, data, config, stop, restart }.
 */
// Node's own requests (fetch) take the camera's self-signed certificate: each daemon makes its
// own, and the Rust tests check it with curl and openssl against the one served.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

export async function startDaemon({ host = '127.0.0.1', settings = {}, history = null, users = [[admin, 'admin'], [viewer, 'user']], args = [] } = {}) {
  const dir = tempDir('bm-node-');
  const data = join(dir, 'data');
  if (history) {
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'history.json'), JSON.stringify(history));
  }
  const [rtsp, http, rtsps, https] = await freePorts(4, host);
  const sections = {
    rtsp: { port: rtsp, tls_port: rtsps },
    http: { port: http, tls_port: https },
    storage: { data_dir: data },
    onvif: { discovery: false },
    'video.main': { width: 640, height: 360 },
    'video.sub': { width: 320, height: 180 },
  };
  for (const [name, keys] of Object.entries(settings)) sections[name] = { ...sections[name], ...keys };
  const accounts = users.map(([u, role]) => toml({ '[users]': { name: u.user, password: u.password, role } }));
  const config = join(dir, 'config.toml');
  writeFileSync(config, `${toml(sections)}\n${accounts.join('\n')}`);
  const listen = host === '127.0.0.1' ? [] : ['--listen', host];
  const at = host.includes(':') ? `[${host}]` : host;
  const d = { rtsp, http, rtsps, https, host, url: `https://${at}:${https}`, plainUrl: `http://${at}:${http}`, dir, data, config };
  /** Starts the daemon (again, after a stop or a kill: same config, ports and data directory). */
  d.restart = async () => {
    const proc = spawn(binary, ['--simulate', ...listen, ...args, '--config', config], { stdio: 'ignore' });
    d.proc = proc;
    for (let i = 0; i < 400; i++) {
      if (proc.exitCode !== null) break;
      // The page and its API are served over HTTPS only; NVR paths stay on plain HTTP too.
      if ((await listening(http, host)) && (await listening(rtsp, host))) return d;
      await sleep(50);
    }
    proc.kill('SIGTERM');
    throw new Error(`daemon did not start (exit ${proc.exitCode})`);
  };
  d.stop = () => d.proc.kill('SIGTERM');
  return d.restart();
}

/**
 * Runs `inside(ns)` with a network namespace of its own that has an interface that is up and
 * not loopback (`host` on one end of a veth pair, both ends inside): WebRTC gathers no
 * candidates on lo. Needs root. The namespace is removed afterwards.
 */
export function withNamespace(prefix, host, inside) {
  const ns = `${prefix}${process.pid}`;
  const ip = (...a) => execFileSync('ip', a, { stdio: 'pipe' });
  try {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'add', 'bmweb0', 'type', 'veth', 'peer', 'name', 'bmweb1');
    // No IPv6 link-local addresses on the pair: they would appear a moment after the links
    // come up, once duplicate address detection is done, and Chromium aborts the page load
    // it has under way with ERR_NETWORK_CHANGED when an address comes or goes.
    for (const dev of ['bmweb0', 'bmweb1']) ip('-n', ns, 'link', 'set', dev, 'addrgenmode', 'none');
    ip('-n', ns, 'addr', 'add', `${host}/24`, 'dev', 'bmweb0');
    ip('-n', ns, 'link', 'set', 'bmweb0', 'up');
    ip('-n', ns, 'link', 'set', 'bmweb1', 'up');
    // Settled: the carrier is there and no address is still being checked.
    for (let i = 0; i < 100; i++) {
      const link = ip('-n', ns, '-o', 'link', 'show', 'bmweb0').toString();
      const tentative = ip('-n', ns, '-o', 'addr', 'show', 'tentative').toString().trim();
      if (link.includes('LOWER_UP') && !tentative) break;
      execFileSync('sleep', ['0.05']);
    }
    return inside(ns);
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

/**
 * The outer half of a test file whose tests run in a network namespace of their own: one test
 * (`what`) that makes the namespace (`prefix`, `host`), runs `file` again inside it with
 * `envVar` set to the namespace's name, and passes only if every test in there did.
 */
export function testInNamespace({ what, prefix, host, envVar, file, timeout = 300000 }) {
  const isRoot = process.getuid?.() === 0;
  test(what, { skip: !isRoot && 'needs root to make a network namespace' }, () => {
    withNamespace(prefix, host, (ns) => {
      // Without the parent's test context the child runs its tests instead of skipping them.
      const { NODE_TEST_CONTEXT: _, ...env } = process.env;
      const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--test', '--test-reporter=tap', file], {
        stdio: ['ignore', 'pipe', 'inherit'], env: { ...env, [envVar]: ns }, timeout,
      });
      const out = r.stdout?.toString() ?? '';
      process.stderr.write(out);
      assert.equal(r.status, 0, `a test failed inside the namespace (see above): ${what}`);
      assert.match(out, /^# pass [1-9]/m, 'the tests ran inside the namespace');
      assert.match(out, /^# fail 0$/m);
    });
  });
}

/** Debian's headless Chromium as every browser test starts it (Playwright drives it). */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}
