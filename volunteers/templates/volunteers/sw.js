// The team workspace's service worker: the page shell and the last pages seen stay on the phone,
// and a check-in or completion whose post fails for want of a network waits in the phone's outbox.
importScripts("{{ queue_script }}");
const CACHE = "civic-team-{{ version }}";
const SHELL = {{ shell|safe }};
const OFFLINE = "{{ offline_url }}";
const QUEUED = /^\/team\/orders\/(\d+)\/(start|complete)\/$/;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("civic-team-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

function pageFirst(request) {
  return fetch(request)
    .then((response) => {
      if (response.ok && !response.redirected) {
        const copy = response.clone();
        caches.open(CACHE).then((cache) => cache.put(request, copy));
      }
      return response;
    })
    .catch(() => caches.match(request).then((hit) => hit || caches.match(OFFLINE)));
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== location.origin) return;
  const queued = request.method === "POST" && request.mode === "navigate" && url.pathname.match(QUEUED);
  if (queued) {
    const copy = request.clone();
    event.respondWith(
      fetch(request).catch(() =>
        copy.formData()
          .then((data) => self.civicQueue.add(url.pathname, data, queued[2] === "start" ? "{{ label_start|escapejs }}" : "{{ label_complete|escapejs }}"))
          .then(() => Response.redirect("/team/orders/" + queued[1] + "/", 303))
      )
    );
    return;
  }
  if (request.method !== "GET") return;
  if (url.pathname.startsWith("/static/")) {
    // Static files: from the cache first; a new shell version brings new ones.
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
    return;
  }
  if (request.mode === "navigate" || request.headers.get("HX-Request")) {
    // Pages: the network first, so the state is fresh; the last copy seen when offline.
    event.respondWith(pageFirst(request));
  }
});
