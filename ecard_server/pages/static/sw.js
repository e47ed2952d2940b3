// Keeps the pages and their assets for use with no network (stale-while-revalidate); API calls are never cached.
const CACHE = "sscard-pages-v3";  // a new name when sscard.js and the pages change together
const ASSETS = ["holder.html", "holder.js", "verifier.html", "verifier.js", "common.js", "sscard.js", "pages.css",
  "vendor/qrcode.js", "vendor/jsQR.js", "holder.webmanifest", "icon-192.png", "icon-512.png"];
self.addEventListener("install", (e) => { e.waitUntil(caches.open(CACHE).then((c) => c.addAll(ASSETS)).then(() => self.skipWaiting())); });
self.addEventListener("activate", (e) => {
  e.waitUntil(caches.keys().then((ks) => Promise.all(ks.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});
self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.origin !== location.origin || !url.pathname.startsWith("/pages/")
      || url.pathname.startsWith("/pages/api/")) return;
  e.respondWith(caches.open(CACHE).then(async (c) => {
    const hit = await c.match(e.request, { ignoreSearch: true });
    const fresh = fetch(e.request).then((r) => { if (r.ok) c.put(e.request, r.clone()); return r; });
    if (hit) { fresh.catch(() => {}); return hit; }
    return fresh;
  }));
});
