// The night's event clips (GET /api/recordings): the last 24 hours as a time axis with a mark
// (and, where there is room, a thumbnail) where each clip happened, and the list of clips,
// newest first; each played in the page's <video>, downloaded, and for operators kept or deleted.
// Shares `$`, `api` and `session` with app.js, which calls startRecordings() once logged in.
'use strict';

const RECORDINGS_POLL_MS = 30000;
const AXIS_SPAN_MS = 24 * 3600 * 1000;
// Rows of thumbnails above the axis; a clip with no room in any of them keeps only its mark.
const AXIS_LANES = 3;
// Share of the axis a thumbnail covers (about 48 px on a phone).
const AXIS_THUMB = 0.14;
let recordingsPoll = null;

function recordingTime(text) {
  const t = new Date(text);
  return t.toLocaleString([], { weekday: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

function recordingButton(label, onClick) {
  const b = document.createElement('button');
  b.textContent = label;
  b.addEventListener('click', onClick);
  return b;
}

function playRecording(clip) {
  const video = $('#recordings-video');
  video.hidden = false;
  video.src = `/api/recordings/${encodeURIComponent(clip.id)}.mp4`;
  video.play().catch(() => { /* the user presses play */ });
}

function recordingRow(clip) {
  const row = document.createElement('li');
  row.className = 'recording';
  row.dataset.id = clip.id;
  if (clip.thumbnail) {
    const img = document.createElement('img');
    img.alt = '';
    img.loading = 'lazy';
    img.src = `/api/recordings/${encodeURIComponent(clip.id)}.jpg`;
    img.addEventListener('click', () => playRecording(clip));
    row.append(img);
  }
  const text = document.createElement('span');
  const what = clip.kind === 'cry' ? 'Crying' : 'Motion';
  const length = clip.end === null ? 'recording…' : `${Math.round(clip.duration)} s`;
  text.textContent = `${recordingTime(clip.start)} · ${what} · ${length}${clip.keep ? ' · kept' : ''}`;
  row.append(text);
  const actions = document.createElement('span');
  actions.className = 'actions';
  if (clip.end !== null) {
    actions.append(recordingButton('Play', () => playRecording(clip)));
    const a = document.createElement('a');
    a.href = `/api/recordings/${encodeURIComponent(clip.id)}.mp4`;
    a.download = `${clip.id}.mp4`;
    a.textContent = 'Download';
    actions.append(a);
    if (session && session.can_control) {
      actions.append(recordingButton(clip.keep ? 'Unkeep' : 'Keep', async () => {
        await api(`/api/recordings/${encodeURIComponent(clip.id)}/keep`, { method: 'PUT', body: { keep: !clip.keep } })
          .catch((e) => { $('#recordings-status').textContent = e.message; });
        refreshRecordings().catch(() => {});
      }));
      actions.append(recordingButton('Delete', async () => {
        if (!confirm('Delete this clip?')) return;
        await api(`/api/recordings/${encodeURIComponent(clip.id)}`, { method: 'DELETE' })
          .catch((e) => { $('#recordings-status').textContent = e.message; });
        refreshRecordings().catch(() => {});
      }));
    }
  }
  row.append(actions);
  return row;
}

// The axis: hours every 3 h, a mark per clip placed by its start and as wide as it lasted.
function recordingAxis(clips) {
  const now = Date.now();
  const from = now - AXIS_SPAN_MS;
  const at = (t) => Math.min(1, Math.max(0, (t - from) / AXIS_SPAN_MS));
  const pct = (share) => `${(share * 100).toFixed(3)}%`;
  const axis = $('#recordings-axis');
  const items = [];
  const hour = new Date(from);
  hour.setMinutes(0, 0, 0);
  for (let t = hour.getTime() + 3600e3; t < now; t += 3600e3) {
    const h = new Date(t).getHours();
    if (h % 3) continue;
    const tick = document.createElement('span');
    tick.className = 'tick';
    tick.style.left = pct(at(t));
    tick.textContent = `${String(h).padStart(2, '0')}:00`;
    items.push(tick);
  }
  const lanes = new Array(AXIS_LANES).fill(-1);
  // Oldest first, so that thumbnails take the lanes in the order they happened.
  for (const clip of [...clips].reverse()) {
    const start = new Date(clip.start).getTime();
    if (start + clip.duration * 1000 < from) continue;
    const left = at(start);
    const mark = document.createElement('button');
    mark.className = 'mark' + (clip.kind === 'cry' ? ' cry' : ' motion');
    mark.dataset.id = clip.id;
    mark.style.left = pct(left);
    mark.style.width = `max(4px, ${pct(at(start + clip.duration * 1000) - left)})`;
    const what = clip.kind === 'cry' ? 'Crying' : 'Motion';
    mark.title = `${recordingTime(clip.start)} · ${what}`;
    mark.setAttribute('aria-label', mark.title);
    mark.disabled = clip.end === null;
    mark.addEventListener('click', () => playRecording(clip));
    items.push(mark);
    const lane = lanes.findIndex((end) => end <= left);
    if (clip.thumbnail && lane >= 0) {
      lanes[lane] = left + AXIS_THUMB;
      const img = document.createElement('img');
      img.alt = '';
      img.loading = 'lazy';
      img.className = 'thumb';
      img.dataset.id = clip.id;
      img.src = `/api/recordings/${encodeURIComponent(clip.id)}.jpg`;
      img.style.left = `min(${pct(left)}, calc(100% - ${pct(AXIS_THUMB)}))`;
      img.style.bottom = `calc(1.6rem + ${lane} * 2.4rem)`;
      img.addEventListener('click', () => playRecording(clip));
      items.push(img);
    }
  }
  axis.replaceChildren(...items);
}

async function refreshRecordings() {
  const [{ clips }, status] = await Promise.all([api('/api/recordings'), api('/api/status')]);
  const rec = status.recordings || {};
  $('#recordings').hidden = !rec.enabled && clips.length === 0;
  const list = $('#recordings-list');
  list.replaceChildren(...clips.map(recordingRow));
  recordingAxis(clips);
  const parts = [`${clips.length} clip${clips.length === 1 ? '' : 's'}, ${(rec.bytes / 1e6).toFixed(1)} MB`];
  if (rec.recording_now) parts.push('recording now');
  if (rec.last_failure) parts.push(rec.last_failure.reason);
  $('#recordings-status').textContent = parts.join(' · ');
}

function startRecordings() {
  refreshRecordings().catch(() => {});
  clearInterval(recordingsPoll);
  recordingsPoll = setInterval(() => refreshRecordings().catch(() => {}), RECORDINGS_POLL_MS);
}
