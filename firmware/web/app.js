// The parent's page: login, live view (WebRTC over WHEP, else JPEG over a WebSocket), controls.
// Plain JavaScript served by the camera itself; no build step, nothing from the internet.
'use strict';

const $ = (sel) => document.querySelector(sel);
const $$ = (sel) => Array.from(document.querySelectorAll(sel));
const params = new URLSearchParams(location.search);

/** Calls the camera's JSON API; the header makes a lost session answer 401 without a browser prompt. */
async function api(path, { method = 'GET', body } = {}) {
  const headers = { 'X-Babymonitor-Page': '1' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 401 && path !== '/api/login') showLogin();
  let data = {};
  try { data = await r.json(); } catch { /* not JSON */ }
  if (!r.ok) throw new Error(data.error || `${r.status} ${r.statusText}`);
  return data;
}

// ---- login ----
function showLogin(message = '') {
  stopLive();
  $('#app').hidden = true;
  $('#login').hidden = false;
  $('#login-error').textContent = message;
}

$('#login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  try {
    await api('/api/login', { method: 'POST', body: { user: f.get('user'), password: f.get('password') } });
    e.target.reset();
    start();
  } catch (err) {
    $('#login-error').textContent = err.message;
  }
});

$('#logout').addEventListener('click', async () => {
  try { await api('/api/logout', { method: 'POST', body: {} }); } catch { /* logged out anyway */ }
  showLogin();
});

// ---- live view ----
const live = { pc: null, whep: null, ws: null, url: null, timer: null };
window.bmLive = live; // for the tests and for looking at it in the console

function setMode(text, cls) {
  const b = $('#live-mode');
  b.textContent = text;
  b.className = `badge ${cls || ''}`;
  document.body.dataset.live = cls === 'ok' ? 'webrtc' : cls === 'warn' ? 'fallback' : 'none';
}

function stopLive() {
  clearTimeout(live.timer);
  if (live.pc) { live.pc.close(); live.pc = null; }
  if (live.whep) {
    fetch(live.whep, { method: 'DELETE', keepalive: true, headers: { 'X-Babymonitor-Page': '1' } }).catch(() => {});
    live.whep = null;
  }
  if (live.ws) { live.ws.onclose = null; live.ws.close(); live.ws = null; }
}

function gathered(pc, ms) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const done = () => { if (pc.iceGatheringState === 'complete') resolve(); };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, ms);
  });
}

/** WebRTC through WHEP: resolves when the picture plays, rejects if it cannot connect. */
async function startWebRTC() {
  const pc = new RTCPeerConnection();
  live.pc = pc;
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const video = $('#video');
  pc.ontrack = (ev) => {
    if (!video.srcObject) video.srcObject = new MediaStream();
    video.srcObject.addTrack(ev.track);
  };
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc, 2000);
  const r = await fetch('/api/whep', {
    method: 'POST', body: pc.localDescription.sdp, credentials: 'same-origin',
    headers: { 'Content-Type': 'application/sdp', 'X-Babymonitor-Page': '1' },
  });
  if (!r.ok) throw new Error(`WHEP: ${r.status} ${(await r.text()).trim()}`);
  live.whep = r.headers.get('Location');
  await pc.setRemoteDescription({ type: 'answer', sdp: await r.text() });
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('WebRTC did not connect')), 6000);
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'connected') { clearTimeout(t); resolve(); }
      if (pc.connectionState === 'failed') { clearTimeout(t); reject(new Error('WebRTC failed')); }
    });
  });
  pc.addEventListener('connectionstatechange', () => {
    if (pc === live.pc && ['failed', 'disconnected', 'closed'].includes(pc.connectionState)) {
      restartLive('connection lost');
    }
  });
  video.hidden = false;
  $('#sound').hidden = false;
  $('#fallback').hidden = true;
  await video.play().catch(() => {});
}

/** JPEG pictures over a WebSocket, for networks where WebRTC cannot connect. */
function startFallback() {
  const img = $('#fallback');
  $('#video').hidden = true;
  $('#sound').hidden = true; // the fallback has no sound
  img.hidden = false;
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/live.ws`);
  ws.binaryType = 'blob';
  live.ws = ws;
  ws.onmessage = (ev) => {
    const url = URL.createObjectURL(ev.data);
    img.onload = () => { if (live.url) URL.revokeObjectURL(live.url); live.url = url; };
    img.src = url;
  };
  ws.onclose = () => { if (live.ws === ws) restartLive('fallback closed'); };
  setMode('fallback', 'warn');
}

function restartLive(why) {
  console.log(`live view: ${why}; starting again`);
  stopLive();
  setMode('reconnecting…');
  live.timer = setTimeout(startLive, 2000);
}

async function startLive() {
  stopLive();
  setMode('connecting…');
  if (params.get('live') !== 'fallback' && 'RTCPeerConnection' in window) {
    try {
      await startWebRTC();
      setMode('live', 'ok');
      return;
    } catch (err) {
      console.log(`WebRTC: ${err.message}; using the fallback`);
      stopLive();
    }
  }
  startFallback();
}

$('#sound').addEventListener('click', (e) => {
  const v = $('#video');
  v.muted = !v.muted;
  e.target.textContent = v.muted ? 'Sound off' : 'Sound on';
  e.target.setAttribute('aria-pressed', String(!v.muted));
  v.play().catch(() => {});
});

// ---- pan, tilt, zoom ----
function holdToMove(button, velocity) {
  let repeat = null;
  const go = () => api('/api/ptz/move', { method: 'POST', body: { ...velocity, timeout_ms: 1500 } }).catch(report);
  const stop = () => {
    if (repeat === null) return;
    clearInterval(repeat);
    repeat = null;
    api('/api/ptz/stop', { method: 'POST', body: {} }).then(refreshPtz).catch(report);
  };
  button.addEventListener('pointerdown', (e) => {
    e.preventDefault();
    button.setPointerCapture?.(e.pointerId);
    go();
    // Renewed while held: a lost "stop" (phone locked, Wi-Fi gone) ends the move by itself.
    repeat = setInterval(go, 1000);
  });
  for (const ev of ['pointerup', 'pointercancel', 'lostpointercapture']) button.addEventListener(ev, stop);
}

for (const b of $$('[data-move]')) {
  const [pan, tilt] = b.dataset.move.split(',').map(Number);
  holdToMove(b, { pan: pan * 0.5, tilt: tilt * 0.5 });
}
for (const b of $$('[data-zoom]')) holdToMove(b, { zoom: Number(b.dataset.zoom) * 0.5 });
$('#home').addEventListener('click', () => api('/api/ptz/home', { method: 'POST', body: {} }).catch(report));

async function refreshPtz() {
  const s = await api('/api/ptz');
  $('#ptz').hidden = !s.available;
  $('#ptz-status').textContent =
    `pan ${s.pan.toFixed(2)} · tilt ${s.tilt.toFixed(2)} · zoom ${s.zoom.toFixed(2)}${s.moving ? ' · moving' : ''}`;
}

async function refreshPresets() {
  const { presets } = await api('/api/ptz/presets');
  const box = $('#presets');
  box.replaceChildren(...presets.map((p) => {
    const b = document.createElement('button');
    b.className = 'small';
    b.textContent = p.name || p.token;
    b.addEventListener('click', () => api(`/api/ptz/presets/${encodeURIComponent(p.token)}/goto`, { method: 'POST', body: {} }).catch(report));
    return b;
  }));
}

$('#save-preset').addEventListener('click', async () => {
  const name = prompt('Name for this view', 'Cot');
  if (name === null) return;
  try {
    await api('/api/ptz/presets', { method: 'POST', body: { name } });
    await refreshPresets();
  } catch (err) { report(err); }
});

// ---- night vision ----
async function refreshNight(s) {
  s = s || await api('/api/night');
  $('#night').hidden = !s.available;
  if (!s.available) return;
  for (const b of $$('[data-night]')) b.setAttribute('aria-pressed', String(b.dataset.night === s.mode));
  $('#night-status').textContent = `mode ${s.mode}; the picture is in ${s.night ? 'night' : 'day'} mode now`;
}

for (const b of $$('[data-night]')) {
  b.addEventListener('click', async () => {
    try { await refreshNight(await api('/api/night', { method: 'POST', body: { mode: b.dataset.night } })); } catch (err) { report(err); }
  });
}

// ---- parts that other features bring (talk, lullabies, climate) ----
async function showAvailableParts() {
  for (const section of $$('[data-needs]')) {
    const r = await fetch(section.dataset.needs, { headers: { 'X-Babymonitor-Page': '1' } }).catch(() => null);
    section.hidden = !(r && r.ok);
  }
}

// ---- the last 24 hours ----
const COLORS = { t: '#ffa657', h: '#6ea8fe', s: '#3b4250', grid: '#2b3340', text: '#8b949e' };

function drawChart(canvas, samples, now) {
  const ratio = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || canvas.width;
  const cssH = Math.round(cssW * 200 / 520);
  canvas.width = cssW * ratio;
  canvas.height = cssH * ratio;
  const g = canvas.getContext('2d');
  g.scale(ratio, ratio);
  const pad = { l: 34, r: 34, t: 8, b: 18 };
  const w = cssW - pad.l - pad.r;
  const h = cssH - pad.t - pad.b;
  const from = now - 86400;
  const x = (t) => pad.l + ((t - from) / 86400) * w;
  const temps = samples.map((s) => s.temperature_c).filter((v) => v != null);
  const tMin = Math.floor(Math.min(...temps, 18) - 1);
  const tMax = Math.ceil(Math.max(...temps, 24) + 1);
  const yT = (v) => pad.t + h - ((v - tMin) / (tMax - tMin)) * h;
  const yH = (v) => pad.t + h - (v / 100) * h;
  g.font = '11px system-ui, sans-serif';
  g.fillStyle = COLORS.text;
  g.strokeStyle = COLORS.grid;
  for (let i = 0; i <= 4; i++) {
    const t = from + i * 21600;
    g.beginPath(); g.moveTo(x(t), pad.t); g.lineTo(x(t), pad.t + h); g.stroke();
    const label = i === 4 ? 'now' : `-${24 - i * 6} h`;
    g.fillText(label, Math.min(x(t) - 10, cssW - 28), cssH - 4);
  }
  g.fillText(`${tMax}°`, 4, pad.t + 10);
  g.fillText(`${tMin}°`, 4, pad.t + h);
  g.fillText('100%', cssW - pad.r + 4, pad.t + 10);
  g.fillText('0%', cssW - pad.r + 4, pad.t + h);
  // Sound as faint bars from the bottom (-90 dBFS silence to 0 full scale).
  g.fillStyle = COLORS.s;
  for (const s of samples) {
    if (s.sound_db == null) continue;
    const level = Math.max(0, Math.min(1, (s.sound_db + 90) / 90));
    g.fillRect(x(s.t), pad.t + h - level * h * 0.5, Math.max(1, w / 1440), level * h * 0.5);
  }
  const line = (key, y, color) => {
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    let last = null;
    for (const s of samples) {
      if (s[key] == null) { last = null; continue; }
      // A gap of more than 5 minutes (camera off) is left open.
      if (last !== null && s.t - last > 300) g.moveTo(x(s.t), y(s[key]));
      else if (last === null) g.moveTo(x(s.t), y(s[key]));
      else g.lineTo(x(s.t), y(s[key]));
      last = s.t;
    }
    g.stroke();
  };
  line('humidity_pct', yH, COLORS.h);
  line('temperature_c', yT, COLORS.t);
}

async function refreshHistory() {
  const now = Math.floor(Date.now() / 1000);
  const { samples } = await api(`/api/history?since=${now - 86400}`);
  $('#history').hidden = samples.length === 0;
  if (samples.length === 0) return;
  const last = samples[samples.length - 1];
  const parts = [];
  if (last.temperature_c != null) parts.push(`${last.temperature_c.toFixed(1)} °C`);
  if (last.humidity_pct != null) parts.push(`${Math.round(last.humidity_pct)} % humidity`);
  $('#history-now').textContent = parts.join(' · ');
  drawChart($('#chart'), samples, now);
}

function report(err) {
  console.warn(err);
  $('#ptz-status').textContent = err.message;
}

let poll = null;
let historyPoll = null;
async function start() {
  let session;
  try {
    session = await api('/api/session');
  } catch {
    showLogin();
    return;
  }
  $('#login').hidden = true;
  $('#app').hidden = false;
  $('#camera-name').textContent = session.name || 'babymonitor';
  for (const b of $$('#ptz button, #night button')) b.disabled = !session.can_control;
  startLive();
  await Promise.all([refreshPtz(), refreshPresets(), refreshNight(), refreshHistory(), showAvailableParts()]).catch(report);
  clearInterval(poll);
  poll = setInterval(() => { refreshPtz().catch(() => {}); refreshNight().catch(() => {}); }, 2000);
  clearInterval(historyPoll);
  historyPoll = setInterval(() => refreshHistory().catch(() => {}), 60000);
}

addEventListener('pagehide', stopLive);
start();
