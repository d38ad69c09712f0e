// The night's event clips (GET /api/recordings): a timeline of thumbnails, newest first, each
// played in the page's <video>, downloaded, and for operators kept or deleted.
// Shares `$`, `api` and `session` with app.js, which calls startRecordings() once logged in.
'use strict';

const RECORDINGS_POLL_MS = 30000;
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

async function refreshRecordings() {
  const [{ clips }, status] = await Promise.all([api('/api/recordings'), api('/api/status')]);
  const rec = status.recordings || {};
  $('#recordings').hidden = !rec.enabled && clips.length === 0;
  const list = $('#recordings-list');
  list.replaceChildren(...clips.map(recordingRow));
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
