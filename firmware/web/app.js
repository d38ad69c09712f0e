// The parent's page: login, live view (WebRTC over WHEP, else JPEG over a WebSocket), controls,
// push-to-talk, the lullaby player, the nursery's climate and alerts. Listening with the screen
// off, the link alarm and the phone's alerts are in listen.js.
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
  stopListening();
  stopLive();
  closeTalk();
  stopEvents();
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

// ---- talk (push-to-talk) ----
// A WebRTC connection of its own that only sends the microphone (POST /api/talk). It opens on
// the first press and stays open while the page is used, so later presses start at once; the
// track is enabled only while the button is held (a disabled track sends silence, and the
// camera's mixer gives silence no floor).
const TALK_IDLE_MS = 60000; // closed (and the microphone let go) after a minute unused
const talk = { pc: null, track: null, url: null, held: false, opening: null, idle: null };
window.bmTalk = talk;

function talkStatus(text) { $('#talk-status').textContent = text; }

function closeTalk() {
  clearTimeout(talk.idle);
  if (talk.track) { talk.track.stop(); talk.track = null; }
  if (talk.pc) { talk.pc.close(); talk.pc = null; }
  if (talk.url) {
    fetch(talk.url, { method: 'DELETE', keepalive: true, headers: { 'X-Babymonitor-Page': '1' } }).catch(() => {});
    talk.url = null;
  }
}

async function openTalk() {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error('this browser gives the microphone only to secure pages (https or localhost)');
  }
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  const track = stream.getAudioTracks()[0];
  track.enabled = false;
  const pc = new RTCPeerConnection();
  talk.pc = pc;
  talk.track = track;
  pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc, 2000);
  const r = await fetch('/api/talk', {
    method: 'POST', body: pc.localDescription.sdp, credentials: 'same-origin',
    headers: { 'Content-Type': 'application/sdp', 'X-Babymonitor-Page': '1' },
  });
  if (!r.ok) throw new Error(`talk: ${(await r.text()).trim() || r.status}`);
  talk.url = r.headers.get('Location');
  await pc.setRemoteDescription({ type: 'answer', sdp: await r.text() });
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the talk connection did not connect')), 6000);
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'connected') { clearTimeout(t); resolve(); }
      if (pc.connectionState === 'failed') { clearTimeout(t); reject(new Error('the talk connection failed')); }
    });
  });
  pc.addEventListener('connectionstatechange', () => {
    if (pc === talk.pc && ['failed', 'closed'].includes(pc.connectionState)) closeTalk();
  });
}

function talkHeld(held) {
  talk.held = held;
  const b = $('#talk-button');
  b.setAttribute('aria-pressed', String(held));
  b.textContent = held ? 'Talking… release to stop' : 'Hold to talk';
  if (talk.track) talk.track.enabled = held;
  clearTimeout(talk.idle);
  if (!held) talk.idle = setTimeout(closeTalk, TALK_IDLE_MS);
}

const talkButton = $('#talk-button');
talkButton.addEventListener('pointerdown', async (e) => {
  e.preventDefault();
  talkButton.setPointerCapture?.(e.pointerId);
  talkHeld(true);
  if (talk.pc) { talkStatus('the camera plays your voice'); return; }
  talkStatus('connecting the microphone…');
  try {
    talk.opening = talk.opening || openTalk();
    await talk.opening;
    if (talk.track) talk.track.enabled = talk.held; // released while connecting: stays off
    talkStatus(talk.held ? 'the camera plays your voice' : 'ready: hold to talk');
  } catch (err) {
    closeTalk();
    talkHeld(false);
    talkStatus(err.message);
  } finally {
    talk.opening = null;
  }
});
for (const ev of ['pointerup', 'pointercancel', 'lostpointercapture']) {
  talkButton.addEventListener(ev, () => {
    if (!talk.held) return;
    talkHeld(false);
    if (talk.pc) talkStatus('ready: hold to talk');
  });
}
talkButton.addEventListener('contextmenu', (e) => e.preventDefault()); // long press on a phone

// ---- lullabies and noises ----
const player = { clips: [], status: null };

async function refreshClips() {
  player.clips = await api('/api/clips');
  const box = $('#clips');
  box.replaceChildren(...player.clips.filter((c) => c.playable).map((c) => {
    const b = document.createElement('button');
    b.dataset.clip = c.token;
    b.textContent = c.name;
    b.setAttribute('aria-pressed', 'false');
    b.addEventListener('click', () => playClip(c.token).catch(reportPlayer));
    return b;
  }));
  showPlayer(player.status);
}

function minutes(s) { return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`; }

function showPlayer(s) {
  if (!s) return;
  player.status = s;
  const playing = s.playing?.token;
  for (const b of $$('[data-clip]')) b.setAttribute('aria-pressed', String(b.dataset.clip === playing));
  // A slider being dragged is left alone.
  for (const [id, value] of [['#music-volume', s.music_volume], ['#master-volume', s.volume]]) {
    const input = $(id);
    if (document.activeElement !== input) input.value = value;
  }
  const parts = [];
  if (s.playing) {
    parts.push(`playing ${s.playing.name}`);
    if (s.playing.timer_left_s != null) parts.push(`stops in ${minutes(s.playing.timer_left_s)}`);
  } else parts.push('nothing plays');
  if (s.talking) parts.push(`${s.talking} talks`);
  $('#play-status').textContent = parts.join(' · ');
  document.body.dataset.playing = playing || '';
}

async function refreshPlayer() { showPlayer(await api('/api/audio')); }

async function playClip(token) {
  const q = new URLSearchParams();
  if ($('#play-loop').checked) q.set('loop', 'true');
  const timer = Number($('#play-timer').value);
  if (timer > 0) q.set('timer', String(timer));
  await api(`/api/clips/${encodeURIComponent(token)}/play?${q}`, { method: 'POST' });
  await refreshPlayer();
}

function reportPlayer(err) {
  console.warn(err);
  $('#play-status').textContent = err.message;
}

$('#play-stop').addEventListener('click', () => api('/api/audio/stop', { method: 'POST' }).then(refreshPlayer).catch(reportPlayer));
$('#play-timer').addEventListener('change', () => {
  if (!player.status?.playing) return;
  api(`/api/audio/timer?seconds=${$('#play-timer').value}`, { method: 'POST' }).then(refreshPlayer).catch(reportPlayer);
});
for (const [id, name] of [['#music-volume', 'music'], ['#master-volume', 'master']]) {
  $(id).addEventListener('change', (e) => {
    api(`/api/audio/volume?${name}=${e.target.value}`, { method: 'POST' }).then(showPlayer).catch(reportPlayer);
  });
}

// ---- the nursery now and alerts ----
// Alerts are ONVIF properties (State / IsSoundDetected true or false) on the event stream.
const ALERTS = [
  { topic: 'AudioAnalytics/Audio/DetectedSound', item: 'IsSoundDetected', text: 'Sound: the baby may be crying' },
  { topic: 'VideoSource/MotionAlarm', item: 'State', text: 'Motion in the cot' },
  { topic: 'Device/Sensor/Temperature/High', item: 'State', text: 'Too hot', key: 'too_hot' },
  { topic: 'Device/Sensor/Temperature/Low', item: 'State', text: 'Too cold', key: 'too_cold' },
  { topic: 'Device/Sensor/RelativeHumidity/High', item: 'State', text: 'Too humid', key: 'too_humid' },
  { topic: 'Device/Sensor/RelativeHumidity/Low', item: 'State', text: 'Too dry', key: 'too_dry' },
  { topic: 'Device/HardwareFailure/SensorFailure', item: 'State', text: 'The temperature sensor fails' },
];
const activeAlerts = new Set();
const events = { source: null, climate: null };

function showAlerts() {
  $('#alerts-now').replaceChildren(...ALERTS.filter((a) => activeAlerts.has(a.text)).map((a) => {
    const chip = document.createElement('span');
    chip.className = 'chip alert';
    chip.textContent = a.text;
    return chip;
  }));
  document.body.dataset.alerts = [...activeAlerts].join('|');
}

function logAlert(text, time) {
  const li = document.createElement('li');
  const when = new Date(time || Date.now());
  li.textContent = `${when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })} ${text}`;
  const list = $('#alerts');
  list.prepend(li);
  while (list.children.length > 5) list.lastChild.remove();
}

function onEvent(n) {
  const topic = n.topic || '';
  if (topic.endsWith('EnvironmentalConditions/Temperature') || topic.endsWith('EnvironmentalConditions/RelativeHumidity')) {
    // Temperature and humidity come together: one request for both.
    clearTimeout(events.climate);
    events.climate = setTimeout(() => refreshClimate().catch(() => {}), 300);
    return;
  }
  const alert = ALERTS.find((a) => topic.endsWith(a.topic));
  if (!alert || n.data?.[alert.item] === undefined) return;
  const on = n.data[alert.item] === 'true';
  const was = activeAlerts.has(alert.text);
  if (on) activeAlerts.add(alert.text); else activeAlerts.delete(alert.text);
  showAlerts();
  // The news (the log, a sound, a notification) is the camera's `alert` event, sent by this
  // user's rules (listen.js); these chips only show what is true now.
  void was;
}

function startEvents() {
  stopEvents();
  const source = new EventSource('/api/events');
  events.source = source;
  source.addEventListener('onvif', (e) => { try { onEvent(JSON.parse(e.data)); } catch (err) { console.warn(err); } });
  source.addEventListener('heartbeat', (e) => { try { onHeartbeat(JSON.parse(e.data)); } catch (err) { console.warn(err); } });
  source.addEventListener('alert', (e) => { try { onAlert(JSON.parse(e.data)); } catch (err) { console.warn(err); } });
  source.onopen = () => { document.body.dataset.events = 'open'; };
  // EventSource reconnects by itself; a lost login shows up in the other requests.
  source.onerror = () => { document.body.dataset.events = 'reconnecting'; };
}

function stopEvents() {
  if (events.source) { events.source.close(); events.source = null; }
}

async function refreshClimate() {
  const s = await api('/api/status');
  const c = s.climate;
  if (!c) { $('#climate-now').textContent = 'no temperature sensor'; return; }
  const parts = [];
  if (c.temperature_c != null) parts.push(`${c.temperature_c.toFixed(1)} °C`);
  if (c.humidity_pct != null) parts.push(`${Math.round(c.humidity_pct)} % humidity`);
  $('#climate-now').textContent = c.sensor_ok && parts.length ? parts.join(' · ') : 'the sensor gives no reading';
  $('#climate-now').classList.toggle('warn', Boolean(c.too_hot || c.too_cold || c.too_humid || c.too_dry));
  // The status is the truth for the climate alerts too (a missed event is mended here).
  for (const a of ALERTS.filter((x) => x.key)) {
    if (c[a.key]) activeAlerts.add(a.text); else activeAlerts.delete(a.text);
  }
  showAlerts();
}

function offerNotifications() {
  const b = $('#notify');
  b.hidden = !('Notification' in window) || Notification.permission !== 'default';
}
$('#notify').addEventListener('click', async () => {
  try { await Notification.requestPermission(); } catch { /* refused */ }
  offerNotifications();
});

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
let climatePoll = null;
let session = null;
async function start() {
  try {
    session = await api('/api/session');
  } catch (err) {
    // Not an answer at all (the installed app opened from its cache, the camera is gone):
    // say so, sound the alarm if this phone was listening, and try again.
    if (err instanceof TypeError) { cameraUnreachable(err); return; }
    showLogin();
    return;
  }
  cameraReachable();
  $('#login').hidden = true;
  $('#app').hidden = false;
  $('#camera-name').textContent = session.name || 'babymonitor';
  for (const b of $$('#ptz button, #night button, #talk button, #player button, #player input, #player select')) {
    b.disabled = !session.can_control;
  }
  startEvents();
  startMode();
  startSleepLog();
  startUpdateCard();
  startRecordings();
  offerNotifications();
  await Promise.all([refreshPtz(), refreshPresets(), refreshNight(), refreshHistory(), showAvailableParts()]).catch(report);
  const hasSpeaker = !$('#player').hidden;
  await Promise.all([hasSpeaker && refreshClips(), hasSpeaker && refreshPlayer(), !$('#climate').hidden && refreshClimate()])
    .catch(report);
  for (const b of $$('#player button')) b.disabled = !session.can_control;
  clearInterval(poll);
  poll = setInterval(() => {
    refreshPtz().catch(() => {});
    refreshNight().catch(() => {});
    if (!$('#player').hidden) refreshPlayer().catch(() => {});
  }, 2000);
  clearInterval(climatePoll);
  climatePoll = setInterval(() => { if (!$('#climate').hidden) refreshClimate().catch(() => {}); }, 10000);
  clearInterval(historyPoll);
  historyPoll = setInterval(() => refreshHistory().catch(() => {}), 60000);
}

addEventListener('pagehide', () => { stopLive(); closeTalk(); stopEvents(); });
// listen.js is read after this file: start once both are.
addEventListener('DOMContentLoaded', start);
