// A service worker sees requests before route() does; the guard must keep it from ever registering.
self.addEventListener("fetch", (event) => event.respondWith(fetch(event.request)));
