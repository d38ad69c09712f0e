// The "Nights" card: the sleep log (GET /api/sleep) as one bar per night across the night's
// hours, coloured where the camera saw the baby settled, moving or crying, with the totals and
// wake-ups, and the CSV export. It shows what the motion and sound detectors reported, nothing
// more: it is no medical or breathing monitor. app.js's start() calls startSleepLog().
'use strict';

const SLEEP_NIGHTS = 14;
let sleepPoll = null;

function sleepDuration(s) {
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

function sleepClock(t) {
  return new Date(t * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function sleepNightTitle(name) {
  // The night's name is the camera's local date it started; shown as that date.
  const [y, m, d] = name.split('-').map(Number);
  return new Date(y, m - 1, d).toLocaleDateString([], { weekday: 'short', day: 'numeric', month: 'short' });
}

function sleepBar(n) {
  const bar = document.createElement('div');
  bar.className = 'sleep-bar';
  const length = Math.max(1, n.to - n.from);
  for (const i of n.intervals) {
    const seg = document.createElement('span');
    seg.className = `seg ${i.state}`;
    seg.dataset.state = i.state;
    // CSSOM, not a style attribute: the page's CSP allows no inline styles.
    seg.style.left = `${(100 * (i.start - n.from)) / length}%`;
    seg.style.width = `${(100 * (i.end - i.start)) / length}%`;
    seg.title = `${i.state} ${sleepClock(i.start)}–${sleepClock(i.end)}`;
    bar.append(seg);
  }
  if (n.until < n.to) {
    // The night in progress: where "now" is on its bar.
    const now = document.createElement('span');
    now.className = 'now-mark';
    now.style.left = `${(100 * (n.until - n.from)) / length}%`;
    bar.append(now);
  }
  const t = n.totals;
  bar.setAttribute('role', 'img');
  bar.setAttribute('aria-label', `settled ${sleepDuration(t.settled_s)}, moving ${sleepDuration(t.moving_s)}, crying ${sleepDuration(t.crying_s)}`);
  return bar;
}

function sleepNight(n) {
  const li = document.createElement('li');
  li.className = 'night';
  li.dataset.night = n.night;
  const head = document.createElement('div');
  head.className = 'night-head';
  const title = document.createElement('strong');
  title.textContent = sleepNightTitle(n.night);
  const t = n.totals;
  const wakes = n.wake_ups === 1 ? '1 wake-up' : `${n.wake_ups} wake-ups`;
  const summary = document.createElement('span');
  summary.className = 'muted night-totals';
  summary.textContent = `settled ${sleepDuration(t.settled_s)} · moving ${sleepDuration(t.moving_s)} · crying ${sleepDuration(t.crying_s)} · ${wakes}`;
  head.append(title, ' ', summary);
  const axis = document.createElement('div');
  axis.className = 'sleep-axis';
  const from = document.createElement('span');
  from.textContent = sleepClock(n.from);
  const to = document.createElement('span');
  to.textContent = sleepClock(n.to);
  axis.append(from, to);
  li.append(head, sleepBar(n), axis);
  return li;
}

async function refreshSleepLog() {
  const log = await api(`/api/sleep?nights=${SLEEP_NIGHTS}`);
  const card = $('#nights');
  card.hidden = !log.enabled;
  if (!log.enabled) return log;
  const list = $('#nights-list');
  list.replaceChildren(...log.nights.map(sleepNight));
  $('#nights-empty').hidden = log.nights.length > 0;
  $('#nights-empty').textContent = `No nights yet: the log keeps the night's hours, ${log.from} to ${log.to}.`;
  return log;
}

function startSleepLog() {
  clearInterval(sleepPoll);
  refreshSleepLog().then((log) => {
    // A minute is the log's unit: a shorter one (tests) is worth looking at more often.
    const every = log && log.minute_s < 60 ? 5000 : 60000;
    sleepPoll = setInterval(() => refreshSleepLog().catch(() => {}), every);
  }).catch((err) => console.warn('sleep log:', err));
}
