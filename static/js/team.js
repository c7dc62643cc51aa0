// The team workspace, improved: installable (service worker), on duty with sound, live offers as a
// full-screen card with a countdown, and the phone's outbox shown and sent when back online.
(function () {
  "use strict";
  const script = document.currentScript;
  const queue = window.civicQueue;
  const texts = JSON.parse((document.getElementById("team-texts") || { textContent: "{}" }).textContent);
  const seenKey = "civic.offers.seen";

  if ("serviceWorker" in navigator && script.dataset.sw) {
    navigator.serviceWorker.register(script.dataset.sw, { scope: "/team/" }).catch(function () { /* still works online */ });
  }

  const duty = window.civicDuty;
  duty.bind(document.querySelector("[data-duty]"));
  function onDuty() { return duty.on(); }
  function ring() { duty.ring(); }

  // --- offers: a new one fills the screen; a countdown runs on each
  function seen() {
    try { return JSON.parse(sessionStorage.getItem(seenKey)) || []; } catch (e) { return []; }
  }
  let openOffer = null;
  function open(card) {
    openOffer = card.dataset.offer;
    card.classList.add("offer-card");
    card.setAttribute("role", "alertdialog");
    const later = document.createElement("button");
    later.type = "button";
    later.className = "secondary block";
    later.textContent = texts.later || "Later";
    later.addEventListener("click", function () {
      openOffer = null;
      card.classList.remove("offer-card");
      card.removeAttribute("role");
      later.remove();
    });
    card.appendChild(later);
  }
  function showNewOffers() {
    // A redraw of the list keeps the card that was open, if its offer is still open.
    const still = openOffer && document.querySelector('[data-offer="' + openOffer + '"]');
    if (still && !still.classList.contains("offer-card")) open(still);
    if (!still) openOffer = null;
    const known = seen();
    const fresh = Array.from(document.querySelectorAll("[data-offer]")).filter(function (card) {
      return known.indexOf(card.dataset.offer) < 0;
    });
    if (!fresh.length) return;
    const card = fresh[0];
    if (!openOffer) {
      open(card);
      card.querySelector("button.primary").focus();
    }
    sessionStorage.setItem(seenKey, JSON.stringify(known.concat(fresh.map(function (c) { return c.dataset.offer; }))));
    if (onDuty()) {
      ring();
      if (navigator.vibrate) navigator.vibrate([300, 150, 300]);
      if (document.hidden && "Notification" in window && Notification.permission === "granted") {
        const title = card.querySelector("h3");
        new Notification(texts.newOffer || "New offer", { body: title ? title.textContent.trim() : "", tag: "offer-" + card.dataset.offer });
      }
    }
  }
  function tick() {
    document.querySelectorAll("[data-expires]").forEach(function (card) {
      const left = Math.max(0, Math.round((new Date(card.dataset.expires) - Date.now()) / 1000));
      const out = card.querySelector("[data-countdown]");
      if (!out) return;
      const m = Math.floor(left / 60);
      const s = String(left % 60).padStart(2, "0");
      out.textContent = left > 0 ? (texts.left || "%s left").replace("%s", m + ":" + s) : texts.expired || "Expired";
      out.classList.add("countdown");
    });
  }
  setInterval(tick, 1000);

  // --- the outbox: forms made offline wait on the phone; sent (once) when back online
  function renderQueue() {
    if (!queue) return;
    queue.all().then(function (items) {
      document.querySelectorAll("[data-queue]").forEach(function (box) {
        const list = box.querySelector("[data-queue-list]");
        list.innerHTML = "";
        items.forEach(function (item) {
          const li = document.createElement("li");
          li.textContent = item.label + " · " + new Date(item.at).toLocaleTimeString();
          list.appendChild(li);
        });
        box.hidden = items.length === 0 && !box.dataset.note;
      });
    });
  }
  function note(text) {
    document.querySelectorAll("[data-queue]").forEach(function (box) {
      let p = box.querySelector("[data-queue-note]");
      if (!p) {
        p = document.createElement("p");
        p.setAttribute("data-queue-note", "");
        box.appendChild(p);
      }
      p.textContent = text;
      box.dataset.note = "1";
      box.hidden = false;
    });
  }
  let flushing = false;
  function flush() {
    if (!queue || flushing || navigator.onLine === false) return;
    flushing = true;
    let sent = 0;
    queue.all().then(function (items) {
      return items.reduce(function (chain, item) {
        return chain.then(function () {
          return queue.send(item).then(function (answer) {
            sent += 1;
            note((answer.ok ? texts.sent || "Sent: " : texts.refused || "Not accepted: ") + item.label + " — " + answer.detail);
            return queue.drop(item.key);
          });
        });
      }, Promise.resolve());
    }).catch(function () { /* still offline: try again later */ }).then(function () {
      flushing = false;
      renderQueue();
      // What was sent changed the order: redraw the page's live parts.
      if (sent && window.htmx) window.htmx.trigger(document.body, "queue-sent");
    });
  }
  document.addEventListener("submit", function (event) {
    const form = event.target.closest("[data-queue-form]");
    if (!form || navigator.onLine !== false || !queue) return;
    event.preventDefault();
    queue.add(form.action, new FormData(form), form.dataset.queueLabel).then(function () {
      note(texts.queued || "Kept on the phone; it will be sent when the connection returns.");
      renderQueue();
    });
  });
  window.addEventListener("online", flush);
  document.body.addEventListener("stream-open", flush);
  document.body.addEventListener("htmx:afterSettle", function () { showNewOffers(); tick(); renderQueue(); });
  showNewOffers();
  tick();
  renderQueue();
  flush();
})();
