// Another site's page in Chromium, in a browser logged in to the camera's page (its session
// cookie) and with the camera's Digest credentials cached (Playwright answers every Digest
// challenge, as a browser that was logged in once does): its
// POSTs, its SOAP and its WebSocket to the camera are refused, while the camera's own page
// goes on working. The camera over HTTPS (its own certificate, accepted by the test's browser),
// the foreign page over plain HTTP, on loopback; no WebRTC, so no network namespace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startDaemon, launchChromium, admin } from './daemon.mjs';


// What the foreign page does: a form-like POST (no preflight, as CSRF does it), a SOAP POST, and
// the live WebSocket. It cannot read the answers (no CORS), so the test watches the network.
const evilPage = (camera) => `<!doctype html><title>not the camera</title><script>
window.results = (async () => {
  const post = (path, body) => fetch('${camera}' + path, { method: 'POST', mode: 'no-cors', credentials: 'include',
    headers: { 'Content-Type': 'text/plain' }, body }).then(() => 'sent', (e) => 'error ' + e);
  const ws = await new Promise((resolve) => {
    const s = new WebSocket('${camera.replace(/^http/, 'ws')}/api/live.ws');
    s.onopen = () => { s.close(); resolve('open'); };
    s.onerror = () => resolve('refused');
  });
  return { home: await post('/api/ptz/home', ''), soap: await post('/onvif/device_service',
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><SystemReboot xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>'),
    ws };
})();
</script>`;

let d;
let browser;
let evil;
let evilPort;
before(async () => {
  d = await startDaemon();
  evil = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(evilPage(d.url));
  });
  await new Promise((r) => evil.listen(0, '127.0.0.1', r));
  evilPort = evil.address().port;
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  evil?.close();
  d?.stop();
});

async function logIn(page) {
  await page.goto(`${d.url}/`);
  await page.fill('input[name=user]', admin.user);
  await page.fill('input[name=password]', admin.password);
  await page.click('#login button[type=submit]');
  await page.locator('#app').waitFor();
}

for (const [what, host] of [['another site (localhost)', 'localhost'], ['another port of the same host', '127.0.0.1']]) {
  test(`a page of ${what} cannot change anything on the camera nor watch it`, async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, httpCredentials: { username: admin.user, password: admin.password } });
    try {
      const page = await context.newPage();
      await logIn(page);
      const answers = [];
      page.on('response', (r) => { if (r.url().startsWith(d.url)) answers.push([r.request().method(), new URL(r.url()).pathname, r.status()]); });
      const sockets = [];
      page.on('websocket', (ws) => sockets.push(ws));
      await page.goto(`http://${host}:${evilPort}/`);
      const results = await page.evaluate(() => window.results);
      assert.equal(results.ws, 'refused', `the WebSocket (${JSON.stringify(results)})`);
      // Every request the page got to the camera was refused: 403, never a 401 to log in with.
      const posts = answers.filter(([m]) => m === 'POST');
      assert.deepEqual(posts.map(([, p]) => p).sort(), ['/api/ptz/home', '/onvif/device_service'], JSON.stringify(answers));
      for (const [m, p, status] of posts) assert.equal(status, 403, `${m} ${p}`);
    } finally {
      await context.close();
    }
  });
}

test("the camera's own page still logs in, moves the camera and watches over the WebSocket", async () => {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  try {
    const page = await context.newPage();
    await logIn(page);
    const got = await page.evaluate(async () => {
      const home = await fetch('/api/ptz/home', { method: 'POST', headers: { 'X-Babymonitor-Page': '1' } });
      const picture = await new Promise((resolve) => {
        const s = new WebSocket(`wss://${location.host}/api/live.ws`);
        s.binaryType = 'arraybuffer';
        s.onmessage = (m) => { s.close(); resolve(m.data.byteLength); };
        s.onerror = () => resolve(0);
      });
      return { home: home.status, picture };
    });
    assert.equal(got.home, 200);
    assert.ok(got.picture > 1000, `a JPEG picture over the WebSocket (${got.picture} bytes)`);
  } finally {
    await context.close();
  }
});
