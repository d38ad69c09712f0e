// The service worker of the installed app. It keeps the page's shell (its own few files) so
// that the app opens when the camera is gone and can say so, with the link alarm, instead of
// the browser's error page. It never touches the API or the streams: a stale status, a cached
// picture or a replayed sound would tell a parent that all is well when nothing is known.
'use strict';

const CACHE = 'babymonitor-shell-v1';
const SHELL = ['/', '/app.js', '/listen.js', '/sleep.js', '/update.js', '/clips.js', '/app.css', '/icon.svg', '/icon-192.png', '/icon-512.png',
  '/icon-maskable-512.png', '/manifest.webmanifest'];
// A camera on the home network answers at once; one that does not within this is gone for now.
const NETWORK_WAIT_MS = 4000;

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

function shellPath(request) {
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || request.method !== 'GET') return null;
  if (request.mode === 'navigate') return '/';
  return SHELL.includes(url.pathname) ? url.pathname : null;
}

// Network first: an updated camera serves its new page at once; the cache is for when the
// camera does not answer.
async function fromNetworkOrCache(request, path) {
  const cache = await caches.open(CACHE);
  try {
    const response = await Promise.race([
      fetch(request),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), NETWORK_WAIT_MS)),
    ]);
    if (response.ok) await cache.put(path, response.clone());
    return response;
  } catch (err) {
    const cached = await cache.match(path);
    if (cached) return cached;
    throw err;
  }
}

self.addEventListener('fetch', (event) => {
  const path = shellPath(event.request);
  if (path) event.respondWith(fromNetworkOrCache(event.request, path));
});

// A tap on an alert's notification brings the app to the front (or opens it).
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil((async () => {
    const open = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    if (open.length) return open[0].focus();
    return self.clients.openWindow('/');
  })());
});
