// The one stream client of every page (DESIGN §6, §9): the session's WebSocket, resumed from
// the last seq this browser dealt with, reconnected with backoff and jitter, and judged stale
// when heartbeats stop. Pages listen for DOM events on <body>:
//   "stream" (every event, detail = the message), "stream-order-<id>", "stream-orders", "stream-offer",
//   "stream-team", and "stream-open" after each (re)connection, when a page redraws what it shows.
(function () {
  "use strict";
  const body = document.body;
  const user = body.dataset.streamUser;
  if (!user || !("WebSocket" in window)) return;
  const texts = JSON.parse(document.getElementById("stream-texts").textContent);
  const status = document.querySelector("[data-stream-status]");
  const beatMs = (parseFloat(body.dataset.streamBeat) || 25) * 1000;
  const storeKey = "civic.stream.seq." + user;
  let after = Math.max(parseInt(body.dataset.streamAfter, 10) || 0, stored());
  let socket = null;
  let attempt = 0;
  let lastHeard = Date.now();
  let shownAt = new Date();
  let timer = null;

  function stored() {
    try { return parseInt(localStorage.getItem(storeKey), 10) || 0; } catch (e) { return 0; }
  }
  function keep(seq) {
    if (!(seq > after)) return;
    after = seq;
    try { localStorage.setItem(storeKey, String(seq)); } catch (e) { /* private mode: memory only */ }
  }
  function show(state) {
    if (!status) return;
    const time = shownAt.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    status.dataset.state = state;
    status.hidden = state === "live";
    status.textContent = (texts[state] || "").replace("%(time)s", time);
  }
  function emit(name, detail) {
    body.dispatchEvent(new CustomEvent(name, { detail: detail, bubbles: true }));
  }
  function deliver(message) {
    keep(message.seq);
    emit("stream", message);
    const order = message.order && message.order.id;
    if (order) emit("stream-order-" + order, message);
    if (message.type.indexOf("order.") === 0) emit("stream-orders", message);
    if (message.type.indexOf("offer.") === 0) emit("stream-offer", message);
    if (message.type.indexOf("team.") === 0) emit("stream-team", message);
  }
  function connect() {
    clearTimeout(timer);
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const url = scheme + location.host + (body.dataset.streamUrl || "/ws/v1/stream/") + "?after=" + after;
    show("connecting");
    socket = new WebSocket(url);
    socket.onopen = function () {
      attempt = 0;
      lastHeard = Date.now();
    };
    socket.onmessage = function (frame) {
      let message;
      try { message = JSON.parse(frame.data); } catch (e) { return; }
      lastHeard = Date.now();
      if (message.type === "heartbeat") {
        keep(message.seq);
        const first = status && status.dataset.state !== "live";
        shownAt = new Date();
        show("live");
        if (first) emit("stream-open", message);
      } else if (message.seq) {
        shownAt = new Date();
        deliver(message);
      } else {
        emit("stream", message);
      }
    };
    socket.onclose = function () {
      socket = null;
      show(navigator.onLine === false ? "offline" : "stale");
      // Exponential backoff to 30 s, spread so that phones dropped together do not return together.
      const delay = Math.min(30000, 1000 * Math.pow(2, attempt++)) * (0.5 + Math.random());
      timer = setTimeout(connect, delay);
    };
  }
  // Three missing heartbeats: the connection is dead even if the browser has not noticed.
  setInterval(function () {
    if (socket && Date.now() - lastHeard > 3 * beatMs) socket.close();
  }, 5000);
  window.addEventListener("online", function () { if (!socket) { attempt = 0; connect(); } });
  window.addEventListener("offline", function () { if (socket) socket.close(); });
  window.civicStream = { reconnect: function () { if (socket) socket.close(); else connect(); } };
  connect();
})();
