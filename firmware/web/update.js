// The "Firmware" card (admins): the version and slot that run, and an update file installed
// with POST /api/update. The upload's own progress comes from XMLHttpRequest (fetch cannot
// report it); RAUC's install progress and the outcome after the restart come from
// GET /api/update, asked every two seconds while something is under way. app.js's start()
// calls startUpdateCard().
'use strict';

let updatePoll = null;

function showUpdate(u) {
  const running = u.running || {};
  $('#firmware-running').textContent =
    `firmware ${running.version || '?'}${running.slot ? ` (slot ${running.slot})` : ''}`;
  const bar = $('#firmware-progress');
  const busy = ['receiving', 'installing', 'rebooting', 'checking'].includes(u.state);
  bar.hidden = !busy;
  if (busy) bar.value = u.percent || 0;
  let said = u.message || '';
  if (u.state === 'rebooting' && !said) said = `installed ${u.version}: the camera restarts into it`;
  $('#firmware-status').textContent = said;
  $('#firmware').dataset.state = u.state;
  $('#firmware-install').disabled = busy;
  clearTimeout(updatePoll);
  // While the camera restarts the page cannot reach it: keep asking until it answers.
  if (busy) updatePoll = setTimeout(refreshUpdate, 2000);
}

async function refreshUpdate() {
  try {
    showUpdate(await api('/api/update'));
  } catch (err) {
    $('#firmware-status').textContent = `the camera does not answer (${err.message}); asking again`;
    clearTimeout(updatePoll);
    updatePoll = setTimeout(refreshUpdate, 3000);
  }
}

function sendUpdate(file, force) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/update${force ? '?force=true' : ''}`);
    xhr.setRequestHeader('X-Babymonitor-Page', '1');
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      const bar = $('#firmware-progress');
      bar.hidden = false;
      // The upload is the first half of the bar; RAUC's install the second.
      bar.value = Math.round((e.loaded / e.total) * 50);
      $('#firmware-status').textContent = `sending ${file.name}: ${Math.round((e.loaded / e.total) * 100)} %`;
      if (e.loaded === e.total) $('#firmware-status').textContent = 'checking and installing';
    };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new Error(body.error || `${xhr.status} ${xhr.statusText}`));
    };
    xhr.onerror = () => reject(new Error('the upload broke off'));
    xhr.send(file);
  });
}

function startUpdateCard() {
  if (session?.role !== 'admin') return;
  $('#firmware').hidden = false;
  refreshUpdate();
}

$('#firmware').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target.elements;
  const file = f.bundle.files[0];
  if (!file) {
    $('#firmware-status').textContent = 'choose an update file (.raucb) first';
    return;
  }
  $('#firmware-install').disabled = true;
  // Polled meanwhile: RAUC's progress while the upload's answer waits for the install.
  clearTimeout(updatePoll);
  updatePoll = setTimeout(refreshUpdate, 2000);
  try {
    showUpdate({ ...(await sendUpdate(file, f.force.checked)), running: undefined });
    refreshUpdate();
  } catch (err) {
    clearTimeout(updatePoll);
    $('#firmware-progress').hidden = true;
    $('#firmware-install').disabled = false;
    $('#firmware-status').textContent = err.message;
  }
});
