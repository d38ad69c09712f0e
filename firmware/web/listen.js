// Listening with the screen off, the link alarm, and the phone's alerts.
//
// Listen plays the camera's sound-only stream (GET /api/listen.aac, AAC in ADTS, which a plain
// <audio> element plays in Chrome, Safari and Firefox) and keeps playing when the phone locks:
// a media element playing sound is what phones keep alive in the background, with the lock
// screen's controls from the Media Session. No wake lock is needed or taken for it; watching the
// video takes one, as a screen that turns off would stop the picture anyway.
//
// The link alarm watches two signs of life: the stream's playback moving on, and the camera's
// heartbeat on the event stream (GET /api/events, every 2 s). When either is gone for longer
// than the user's link_alarm_s, or the camera says its microphone failed, the phone sounds an
// alarm it makes itself (WebAudio: it needs no network) and vibrates, and keeps reconnecting
// with back-off; the alarm stops once both signs of life are back.
//
// Alerts (crying, motion, climate, microphone) are decided on the camera by the user's rules
// (GET/PUT /api/alerts: the same on every phone of the user, and for every other channel) and
// arrive as `alert` events: each is a sound, a vibration and a notification, as the rule says.
// Shares `$`, `$$`, `api`, `session`, `startLive`, `stopLive`, `logAlert` with app.js.
'use strict';

const KIND_TEXT = {
  cry: 'The baby is crying',
  motion: 'Motion in the cot',
  too_hot: 'Too hot',
  too_cold: 'Too cold',
  too_humid: 'Too humid',
  too_dry: 'Too dry',
  microphone: 'The camera\'s microphone failed',
};
const RULE_KINDS = ['cry', 'motion', 'climate', 'microphone', 'link'];
const RULE_FLAGS = ['enabled', 'sound', 'vibrate', 'notify'];
// How long to wait before reconnecting the stream: doubling from the first to the last.
const BACKOFF_MS = [1000, 15000];
const TITLE = 'Nursery - listening';
// Played sound that has fallen further behind what has arrived than this skips ahead, to this
// much before the live end.
const MAX_BEHIND_S = 1.0;
const LIVE_LEAD_S = 0.3;
const MSE_TYPE = 'audio/aac';

const listen = {
  mode: 'watch', // or 'listen'
  audio: $('#listen-audio'),
  lastProgress: 0, // Date.now() when the stream's playback last moved on
  lastTime: -1,
  lastBeat: 0, // Date.now() of the last heartbeat
  micOk: true,
  rules: null,
  watchdog: null,
  retry: null,
  backoff: BACKOFF_MS[0],
  alarm: null, // { reason, since, nodes } while the alarm sounds
  quietUntil: 0,
  ctx: null,
  wake: null,
  via: null, // 'mse' or 'plain'
  abort: null,
  objectUrl: null,
  alerts: 0,
};
window.bmListen = listen; // for the tests and for looking at it in the console

function linkAlarmMs() { return 1000 * (listen.rules?.link_alarm_s ?? 10); }
function rule(kind) { return listen.rules?.[kind] ?? { enabled: true, sound: true, vibrate: true, notify: true }; }

/** The page's own sound maker; made (or woken) on a tap, as browsers only start sound on one. */
function audioContext() {
  if (!listen.ctx) {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    listen.ctx = new Ctx();
  }
  if (listen.ctx.state === 'suspended') listen.ctx.resume().catch(() => {});
  return listen.ctx;
}

// ---- watch or listen ----
function showMode() {
  const on = listen.mode === 'listen';
  $('#mode-watch').setAttribute('aria-pressed', String(!on));
  $('#mode-listen').setAttribute('aria-pressed', String(on));
  $('#listening').hidden = !on;
  $('#watching').hidden = on;
  document.body.dataset.mode = listen.mode;
}

/** After login: the mode this phone was in (a phone that listened at night listens again). */
function startMode() {
  listen.mode = localStorage.getItem('bm-mode') === 'listen' ? 'listen' : 'watch';
  showMode();
  loadSettings();
  if (listen.mode === 'listen') startListening();
  else startWatching();
}

function startWatching() {
  stopListening();
  listen.mode = 'watch';
  localStorage.setItem('bm-mode', 'watch');
  showMode();
  startLive();
  holdWake();
}

$('#mode-watch').addEventListener('click', startWatching);
$('#mode-listen').addEventListener('click', () => {
  audioContext(); // this tap is what lets the alarm sound later
  stopLive();
  releaseWake();
  listen.mode = 'listen';
  localStorage.setItem('bm-mode', 'listen');
  showMode();
  startListening();
});

// ---- the wake lock: only while watching ----
async function holdWake() {
  if (listen.mode !== 'watch' || document.hidden || listen.wake || !navigator.wakeLock) return;
  try {
    listen.wake = await navigator.wakeLock.request('screen');
    listen.wake.addEventListener('release', () => { listen.wake = null; });
  } catch { /* refused (battery saver): the screen may turn off */ }
}
function releaseWake() {
  if (listen.wake) listen.wake.release().catch(() => {});
  listen.wake = null;
}
// The browser lets the wake lock go when the page is hidden; it is taken again on return.
document.addEventListener('visibilitychange', () => { if (!document.hidden) holdWake(); });

// ---- listening ----
function listenStatus(text) { $('#listen-status').textContent = text; }

/**
 * Where the browser's Media Source Extensions take ADTS AAC (Chrome, Android Chrome, Firefox,
 * Edge, desktop Safari), the page fetches the stream itself and hands it to the <audio>
 * element through a MediaSource: playback starts with the first frames and the page holds the
 * delay down. A plain `src` is the same stream for the rest (Safari on the iPhone, which has no
 * MediaSource there but plays a progressive stream at once): Chromium waits for about 100 KB of
 * a progressive stream before it plays a sound, 25 s at this bitrate.
 */
function mseWorks() {
  return Boolean(window.MediaSource?.isTypeSupported?.(MSE_TYPE)) && params.get('listen') !== 'plain';
}

function closeStream() {
  listen.abort?.abort();
  listen.abort = null;
  if (listen.objectUrl) URL.revokeObjectURL(listen.objectUrl);
  listen.objectUrl = null;
}

function connectStream() {
  clearTimeout(listen.retry);
  listen.retry = null;
  closeStream();
  const a = listen.audio;
  listen.lastTime = -1; // a new stream's time starts again from 0
  listen.via = mseWorks() ? 'mse' : 'plain';
  document.body.dataset.listenVia = listen.via;
  if (listen.via === 'mse') connectMse();
  // A new URL each time: a media element would otherwise go on waiting on the dead connection.
  else a.src = `/api/listen.aac?c=${Date.now()}`;
  a.play().catch((err) => {
    if (err.name === 'NotAllowedError') listenStatus('tap Listen to start the sound');
  });
}

function connectMse() {
  const a = listen.audio;
  const source = new MediaSource();
  const abort = new AbortController();
  listen.abort = abort;
  listen.objectUrl = URL.createObjectURL(source);
  a.src = listen.objectUrl;
  source.addEventListener('sourceopen', async () => {
    let sb;
    try {
      sb = source.addSourceBuffer(MSE_TYPE);
      sb.mode = 'sequence';
    } catch (err) {
      reconnectLater(`this browser cannot play the sound (${err.message})`);
      return;
    }
    const pending = [];
    const pump = () => {
      if (abort.signal.aborted || sb.updating || source.readyState !== 'open') return;
      // What was played long ago goes, so that a night of listening holds seconds, not hours.
      const b = sb.buffered;
      if (b.length && a.currentTime - b.start(0) > 30) {
        sb.remove(b.start(0), a.currentTime - 10);
        return;
      }
      if (!pending.length) return;
      const bytes = new Uint8Array(pending.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of pending.splice(0)) { bytes.set(c, at); at += c.length; }
      try { sb.appendBuffer(bytes); } catch (err) { reconnectLater(`the sound could not be played (${err.name})`); }
    };
    sb.addEventListener('updateend', () => { keepUp(); pump(); });
    try {
      const r = await fetch('/api/listen.aac', {
        signal: abort.signal, credentials: 'same-origin', cache: 'no-store', headers: { 'X-Babymonitor-Page': '1' },
      });
      if (r.status === 401) { showLogin(); return; }
      if (!r.ok) {
        let why = `the camera answered ${r.status}`;
        try { why = (await r.json()).error || why; } catch { /* not JSON */ }
        reconnectLater(why);
        return;
      }
      const reader = r.body.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pending.push(value);
        pump();
      }
      reconnectLater('the sound ended');
    } catch {
      if (!abort.signal.aborted) reconnectLater('the sound stopped');
    }
  }, { once: true });
}

/** Played sound that has fallen behind what has arrived skips ahead to near the live end. */
function keepUp() {
  const a = listen.audio;
  const b = a.buffered;
  if (!b.length) return;
  const end = b.end(b.length - 1);
  if (end - a.currentTime > MAX_BEHIND_S) {
    a.currentTime = Math.max(b.start(b.length - 1), end - LIVE_LEAD_S);
    listen.lastTime = a.currentTime;
  }
}

function reconnectLater(why) {
  if (listen.mode !== 'listen') return;
  clearTimeout(listen.retry);
  listenStatus(`${why}; trying again`);
  listen.retry = setTimeout(connectStream, listen.backoff);
  listen.backoff = Math.min(listen.backoff * 2, BACKOFF_MS[1]);
}

function startListening() {
  const now = Date.now();
  listen.lastProgress = now;
  listen.lastBeat = Math.max(listen.lastBeat, now);
  listen.lastTime = -1;
  listen.backoff = BACKOFF_MS[0];
  document.body.dataset.listen = 'on';
  listenStatus('connecting…');
  setMediaSession(true);
  connectStream();
  clearInterval(listen.watchdog);
  listen.watchdog = setInterval(checkLink, 500);
}

function stopListening() {
  clearInterval(listen.watchdog);
  clearTimeout(listen.retry);
  listen.watchdog = null;
  const a = listen.audio;
  closeStream();
  a.pause();
  a.removeAttribute('src');
  a.load(); // closes the connection
  stopAlarm();
  setMediaSession(false);
  document.body.dataset.listen = 'off';
}

listen.audio.addEventListener('timeupdate', () => {
  const a = listen.audio;
  const t = a.currentTime;
  if (t > listen.lastTime) {
    listen.lastTime = t;
    listen.lastProgress = Date.now();
    if (listen.backoff !== BACKOFF_MS[0]) listen.backoff = BACKOFF_MS[0];
  }
  // After a hiccup of the network the element plays on from where it was, late by the time
  // it waited, and would stay late all night: a cry heard half a minute late.
  keepUp();
});
listen.audio.addEventListener('playing', () => { listenStatus('the nursery\'s sound plays'); });
listen.audio.addEventListener('error', async () => {
  if (!listen.audio.getAttribute('src')) return;
  if (listen.via === 'mse') { reconnectLater('the sound could not be played'); return; }
  // A media element does not say why; the camera's listen settings do, if it answers.
  let why = 'the sound stopped';
  try {
    const s = await api('/api/listen');
    if (s.listeners >= s.max_listeners) why = `${s.listeners} phones listen already, the most this camera takes`;
  } catch { /* not reachable: the alarm says so */ }
  reconnectLater(why);
});
listen.audio.addEventListener('ended', () => reconnectLater('the sound ended'));

function setMediaSession(on) {
  const ms = navigator.mediaSession;
  if (!ms) return;
  if (!on) {
    ms.playbackState = 'none';
    return;
  }
  if (window.MediaMetadata) {
    ms.metadata = new MediaMetadata({
      title: TITLE,
      artist: session?.name || 'babymonitor',
      album: 'babymonitor',
      artwork: [
        { src: '/icon-192.png', sizes: '192x192', type: 'image/png' },
        { src: '/icon-512.png', sizes: '512x512', type: 'image/png' },
      ],
    });
  }
  ms.playbackState = 'playing';
  const handlers = {
    play: () => { if (listen.mode === 'listen') startListening(); else $('#mode-listen').click(); },
    // Pausing from the lock screen stops listening and with it the alarm: a paused stream
    // would otherwise be a lost link.
    pause: () => { stopListening(); ms.playbackState = 'paused'; },
    stop: () => startWatching(),
  };
  for (const [action, fn] of Object.entries(handlers)) {
    try { ms.setActionHandler(action, fn); } catch { /* not supported here */ }
  }
}

// ---- the link alarm ----
function onHeartbeat(beat) {
  listen.lastBeat = Date.now();
  listen.micOk = beat.mic_ok !== false;
  document.body.dataset.heartbeat = String(listen.lastBeat);
}

function checkLink() {
  if (listen.mode !== 'listen') return;
  const now = Date.now();
  const limit = linkAlarmMs();
  let reason = null;
  if (now - listen.lastBeat > limit) reason = `the camera has not answered for ${Math.round((now - listen.lastBeat) / 1000)} s`;
  else if (now - listen.lastProgress > limit) reason = `no sound has come for ${Math.round((now - listen.lastProgress) / 1000)} s`;
  else if (!listen.micOk) reason = 'the camera says its microphone failed';
  // A stream that stalls is reconnected before the alarm: it may just be the connection.
  if (now - listen.lastProgress > Math.min(5000, limit / 2) && !listen.retry && listen.audio.getAttribute('src')) {
    reconnectLater('the sound stalled');
  }
  if (reason && rule('link').enabled) startAlarm(reason);
  else if (!reason) stopAlarm();
}

function startAlarm(reason) {
  $('#link-why').textContent = reason;
  document.body.dataset.alarmReason = reason;
  if (listen.alarm) return;
  listen.alarm = { reason, since: Date.now(), nodes: null, buzz: null };
  $('#link-alarm').hidden = false;
  document.body.dataset.linkAlarm = 'on';
  const r = rule('link');
  if (r.sound && Date.now() >= listen.quietUntil) listen.alarm.nodes = siren();
  if (r.vibrate && navigator.vibrate) {
    navigator.vibrate([700, 300, 700, 300, 700]);
    listen.alarm.buzz = setInterval(() => navigator.vibrate([700, 300, 700, 300, 700]), 3000);
  }
  if (r.notify) notifyAlert('No sound from the nursery', reason, 'link');
}

function stopAlarm() {
  const alarm = listen.alarm;
  if (!alarm) return;
  listen.alarm = null;
  if (alarm.nodes) alarm.nodes.stop();
  clearInterval(alarm.buzz);
  navigator.vibrate?.(0);
  $('#link-alarm').hidden = true;
  document.body.dataset.linkAlarm = 'off';
  document.body.dataset.alarmReason = '';
  closeNotification('link');
  listenStatus('the nursery\'s sound plays again');
}

$('#alarm-quiet').addEventListener('click', () => {
  listen.quietUntil = Date.now() + 60000;
  if (listen.alarm?.nodes) { listen.alarm.nodes.stop(); listen.alarm.nodes = null; }
  setTimeout(() => {
    if (listen.alarm && !listen.alarm.nodes && rule('link').sound) listen.alarm.nodes = siren();
  }, 60000);
});

/** A loud two-tone siren made on the phone; `stop()` ends it. */
function siren() {
  const ctx = audioContext();
  if (!ctx) return null;
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.type = 'square';
  gain.gain.value = 0.6;
  const t0 = ctx.currentTime;
  // Two tones swapping every half second for ten minutes, scheduled ahead so that a throttled
  // timer in the background cannot break it up.
  for (let i = 0; i < 1200; i++) osc.frequency.setValueAtTime(i % 2 ? 660 : 880, t0 + i * 0.5);
  osc.connect(gain).connect(ctx.destination);
  osc.start();
  return { stop: () => { try { osc.stop(); } catch { /* stopped */ } osc.disconnect(); } };
}

/** A short rising chime for an alert: not the siren, so a parent can tell them apart. */
function chime() {
  const ctx = audioContext();
  if (!ctx) return;
  const t0 = ctx.currentTime;
  [523, 659, 784, 1047].forEach((f, i) => {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'triangle';
    osc.frequency.value = f;
    const t = t0 + i * 0.22;
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.7, t + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.6);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t);
    osc.stop(t + 0.65);
  });
}

// ---- alerts from the camera ----
function onAlert(a) {
  const text = KIND_TEXT[a.kind] || a.title || a.kind;
  listen.alerts += 1;
  document.body.dataset.alertCount = String(listen.alerts);
  document.body.dataset.lastAlert = a.kind;
  logAlert(text, a.time);
  if (a.sound) chime();
  if (a.vibrate) navigator.vibrate?.([300, 150, 300, 150, 600]);
  if (a.notify && (document.hidden || listen.mode === 'listen')) notifyAlert('babymonitor', text, a.kind);
}

/** A notification through the service worker (what phones show on a locked screen), else the page's own. */
async function notifyAlert(title, body, tag) {
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  const options = { body, tag: `bm-${tag}`, renotify: true, icon: '/icon-192.png', badge: '/icon-192.png', requireInteraction: tag === 'cry' || tag === 'link' };
  const reg = await activeWorker();
  if (reg) {
    try { await reg.showNotification(title, options); return; } catch (err) { console.log(`notification: ${err.message}`); }
  }
  try { new Notification(title, options); } catch (err) { console.log(`notification: ${err.message}`); }
}

/**
 * The service worker's registration once it is active. Right after the page opened (or the
 * worker updated) it may still be installing, and showNotification refuses a registration
 * without an active worker: wait for it a little rather than lose the alert.
 */
async function activeWorker() {
  // No registration at all (a certificate the browser does not trust): the page's own.
  const reg = navigator.serviceWorker && await navigator.serviceWorker.getRegistration().catch(() => null);
  if (!reg) return null;
  if (reg.active) return reg;
  const ready = navigator.serviceWorker.ready.catch(() => null);
  const late = new Promise((resolve) => setTimeout(() => resolve(null), 3000));
  return Promise.race([ready, late]);
}

async function closeNotification(tag) {
  try {
    const reg = navigator.serviceWorker && await navigator.serviceWorker.getRegistration();
    for (const n of (await reg?.getNotifications({ tag: `bm-${tag}` })) ?? []) n.close();
  } catch { /* none */ }
}

// ---- the camera not reachable at all ----
let unreachableRetry = null;
let unreachableDelay = BACKOFF_MS[0];
function cameraUnreachable(err) {
  $('#unreachable').hidden = false;
  $('#login').hidden = true;
  $('#unreachable-why').textContent = `(${err.message}); trying again…`;
  document.body.dataset.reachable = 'no';
  // A phone that was listening keeps warning: the baby cannot be heard.
  if (localStorage.getItem('bm-mode') === 'listen' && !listen.alarm) {
    listen.alarm = { reason: 'the camera is not reachable', since: Date.now(), nodes: siren(), buzz: null };
    navigator.vibrate?.([700, 300, 700]);
    document.body.dataset.linkAlarm = 'on';
  }
  clearTimeout(unreachableRetry);
  unreachableRetry = setTimeout(start, unreachableDelay);
  unreachableDelay = Math.min(unreachableDelay * 2, BACKOFF_MS[1]);
}

function cameraReachable() {
  clearTimeout(unreachableRetry);
  unreachableDelay = BACKOFF_MS[0];
  $('#unreachable').hidden = true;
  document.body.dataset.reachable = 'yes';
  if (listen.alarm?.reason === 'the camera is not reachable') stopAlarm();
}

// ---- settings: this user's alert rules, the camera's noise gate ----
async function loadSettings() {
  try {
    listen.rules = await api('/api/alerts');
    showRules(listen.rules);
    $('#rules').hidden = false;
  } catch (err) { console.warn('alert rules:', err.message); }
  try {
    showGate(await api('/api/listen'));
    $('#gate').hidden = false;
  } catch (err) { console.warn('noise gate:', err.message); }
  if (session?.role === 'admin') {
    try {
      showMqtt(await api('/api/mqtt'));
      $('#mqtt').hidden = false;
    } catch (err) { console.warn('mqtt:', err.message); }
  }
}

function showRules(r) {
  const form = $('#rules');
  for (const tr of $$('#rules tbody tr')) {
    const kind = tr.dataset.kind;
    if (!tr.querySelector('input')) {
      for (const flag of RULE_FLAGS) {
        const td = document.createElement('td');
        const input = document.createElement('input');
        input.type = 'checkbox';
        input.name = `${kind}.${flag}`;
        input.setAttribute('aria-label', `${tr.querySelector('th').textContent}: ${flag}`);
        td.append(input);
        tr.append(td);
      }
    }
    for (const flag of RULE_FLAGS) form.elements[`${kind}.${flag}`].checked = Boolean(r[kind]?.[flag]);
  }
  form.elements.link_alarm_s.value = r.link_alarm_s;
  const st = r.sleep_training;
  form.elements.st_enabled.checked = st.enabled;
  form.elements.st_from.value = st.from;
  form.elements.st_to.value = st.to;
  form.elements.st_delay.value = st.delay_s / 60;
  form.elements.st_cooldown.value = st.cooldown_s / 60;
}

$('#rules').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target.elements;
  const body = { link_alarm_s: Number(f.link_alarm_s.value) };
  for (const kind of RULE_KINDS) {
    body[kind] = Object.fromEntries(RULE_FLAGS.map((flag) => [flag, f[`${kind}.${flag}`].checked]));
  }
  body.sleep_training = {
    enabled: f.st_enabled.checked,
    delay_s: Math.round(Number(f.st_delay.value) * 60),
    cooldown_s: Math.round(Number(f.st_cooldown.value) * 60),
    from: f.st_from.value,
    to: f.st_to.value,
  };
  try {
    listen.rules = await api('/api/alerts', { method: 'PUT', body });
    showRules(listen.rules);
    $('#rules-status').textContent = 'saved: every phone of yours uses these now';
  } catch (err) {
    $('#rules-status').textContent = err.message;
  }
});

function showGate(s) {
  const f = $('#gate').elements;
  f.enabled.checked = s.gate.enabled;
  f.threshold_db.value = s.gate.threshold_db;
  f.shown.value = s.gate.threshold_db;
  const canChange = Boolean(session?.can_control);
  for (const el of $$('#gate input, #gate button')) el.disabled = !canChange;
  if (!canChange) $('#gate-status').textContent = 'an operator or admin changes the noise gate';
}
$('#gate').elements.threshold_db.addEventListener('input', (e) => { $('#gate').elements.shown.value = e.target.value; });
$('#gate').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target.elements;
  try {
    showGate(await api('/api/listen', { method: 'PUT', body: { gate: { enabled: f.enabled.checked, threshold_db: Number(f.threshold_db.value) } } }));
    $('#gate-status').textContent = 'saved';
  } catch (err) {
    $('#gate-status').textContent = err.message;
  }
});

// ---- Home Assistant over MQTT (admin) ----
function showMqtt(m) {
  const f = $('#mqtt').elements;
  f.enabled.checked = m.enabled;
  f.broker.value = m.broker;
  f.user.value = m.user;
  f.password.value = '';
  f.password.placeholder = m.password_set ? 'unchanged' : 'none';
  f.protocol.value = m.protocol;
  f.control.checked = m.commands !== 'user';
  let state = 'off';
  if (m.enabled) state = m.connected ? 'connected' : `not connected${m.last_error ? `: ${m.last_error}` : ''}`;
  $('#mqtt-status').textContent = state;
}
$('#mqtt').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target.elements;
  const body = {
    enabled: f.enabled.checked,
    broker: f.broker.value.trim(),
    user: f.user.value,
    protocol: f.protocol.value,
    commands: f.control.checked ? 'operator' : 'user',
  };
  // An empty field keeps the stored password.
  if (f.password.value) body.password = f.password.value;
  try {
    showMqtt(await api('/api/mqtt', { method: 'PUT', body }));
    $('#mqtt-status').textContent = 'saved: connecting';
    // The connection takes a moment; show how it went.
    setTimeout(async () => { try { showMqtt(await api('/api/mqtt')); } catch { /* shown on the next load */ } }, 3000);
  } catch (err) {
    $('#mqtt-status').textContent = err.message;
  }
});

// ---- the installed app ----
// The service worker registers only where the browser trusts the camera's certificate (it
// refuses a worker from a page whose certificate error was clicked through).
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/sw.js').catch((err) => console.log(`service worker: ${err.message}`));
}
