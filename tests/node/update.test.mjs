// The page's "Firmware" card in headless Chromium (Playwright) against the real daemon and the
// real RAUC (--simulate: slot files and a boot environment in the data directory): the admin
// picks an update file and presses Install, sees the progress and that the camera restarts,
// and after the restart (the simulated reboot) the page says "updated to". A refused file shows
// RAUC's reason; a viewer has no such card.
//
// Like web.test.mjs it runs in a network namespace of its own; outside it, this file only
// creates the namespace and runs itself again inside.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaemon, testInNamespace, launchChromium, tempDir, admin, viewer, binary } from './daemon.mjs';

const thisFile = fileURLToPath(import.meta.url);
const HOST = '10.79.6.1';
const inNamespace = process.env.BM_UPDATE_NETNS;

if (!inNamespace) {
  testInNamespace({ what: 'the firmware card tests, in a network namespace of their own', prefix: 'bmupdate', host: HOST, envVar: 'BM_UPDATE_NETNS', file: thisFile, timeout: 180000 });
} else {
  const work = tempDir('bm-update-');
  const run = (cmd, ...args) => execFileSync(cmd, args, { stdio: 'pipe', cwd: work });
  const version = run(binary, '--version').toString().trim().split(/\s+/).pop();
  const [major, minor, patch] = version.split('.').map(Number);
  const next = `${major}.${minor + 1}.${patch}`;

  /** A bundle of `name` signed with key `key`, for `compatible`. */
  const bundle = (name, key, compatible = 'babymonitor-rpi3') => {
    const dir = join(work, `${name}.d`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'rootfs.img'), Buffer.alloc(128 * 1024, 7));
    writeFileSync(join(dir, 'manifest.raucm'),
      `[update]\ncompatible=${compatible}\nversion=${next}\n\n[bundle]\nformat=plain\n\n[image.rootfs]\nfilename=rootfs.img\n`);
    const out = join(work, `babymonitor-${next}-${name}.raucb`);
    run('rauc', 'bundle', '--key', `${key}.key.pem`, '--cert', `${key}.cert.pem`, dir, out);
    return out;
  };
  for (const key of ['ours', 'theirs']) {
    run('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${key}.key.pem`, '-out', `${key}.cert.pem`,
      '-days', '30', '-subj', `/CN=babymonitor page test ${key}`);
  }
  const good = bundle('good', 'ours');
  const foreign = bundle('foreign', 'theirs');

  let d;
  let browser;
  before(async () => {
    d = await startDaemon({ host: HOST, settings: { update: { keyring: join(work, 'ours.cert.pem'), health_s: 20 } } });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    d?.stop();
  });

  const logIn = async (who) => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`${d.url}/`);
    await page.locator('#login').waitFor();
    await page.fill('input[name=user]', who.user);
    await page.fill('input[name=password]', who.password);
    await page.click('#login button[type=submit]');
    await page.locator('#app').waitFor();
    return { context, page };
  };

  test('a viewer has no firmware card', async () => {
    const { context, page } = await logIn(viewer);
    await page.waitForTimeout(1000);
    assert.equal(await page.isVisible('#firmware'), false);
    await context.close();
  });

  test('the admin installs an update from the page; after the restart the page says it is updated', async () => {
    const { context, page } = await logIn(admin);
    await page.locator('#firmware').waitFor({ timeout: 10000 });
    await page.waitForFunction((v) => document.querySelector('#firmware-running').textContent === `firmware ${v} (slot A)`, version, { timeout: 10000 });

    // A file signed with a key the camera does not trust: the reason, nothing installed.
    await page.setInputFiles('#firmware input[name=bundle]', foreign);
    await page.click('#firmware-install');
    await page.waitForFunction(() => /signature/.test(document.querySelector('#firmware-status').textContent), null, { timeout: 30000 });
    assert.equal(await page.isEnabled('#firmware-install'), true, 'Install can be pressed again');

    await page.setInputFiles('#firmware input[name=bundle]', good);
    await page.click('#firmware-install');
    await page.waitForFunction(() => document.querySelector('#firmware').dataset.state === 'rebooting', null, { timeout: 60000 });
    assert.equal(await page.isVisible('#firmware-progress'), true, 'the progress bar shows');
    assert.equal(await page.$eval('#firmware-progress', (p) => p.value), 100);

    // The simulated reboot: the daemon stops and starts, and boots slot B for a trial. The
    // page keeps asking until the camera answers, then shows the health check's outcome.
    d.stop();
    await new Promise((r) => d.proc.once('exit', r));
    await d.restart();
    await page.waitForFunction((v) => document.querySelector('#firmware-status').textContent === `updated to ${v}`, next, { timeout: 60000 });
    await page.waitForFunction((v) => document.querySelector('#firmware-running').textContent === `firmware ${v} (slot B)`, next, { timeout: 10000 });
    assert.equal(await page.isVisible('#firmware-progress'), false);
    await context.close();
  });
}
