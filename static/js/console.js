// The console, improved: the order's map (Leaflet, tiles only if a tile server is set), new orders
// highlighted with a sound on duty, the waiting count in the tab's title, and the keyboard (?).
(function () {
  "use strict";
  const duty = window.civicDuty;
  duty.bind(document.querySelector("[data-duty]"));
  const title = document.title.replace(/^\(\d+\)\s*/, "");
  let known = null;
  let selected = 0;
  let map = null;

  function rows() { return Array.from(document.querySelectorAll("#queue [data-row]")); }

  function queueChanged() {
    const queue = document.getElementById("queue");
    if (!queue) return;
    const waiting = parseInt(queue.dataset.waiting, 10) || 0;
    document.title = (waiting ? "(" + waiting + ") " : "") + title;
    const ids = rows().map(function (row) { return row.dataset.row; });
    if (known !== null) {
      const fresh = rows().filter(function (row) { return known.indexOf(row.dataset.row) < 0; });
      fresh.forEach(function (row) { row.classList.add("fresh"); });
      if (fresh.length) duty.ring(fresh.some(function (r) { return r.classList.contains("urgent"); }) ? 1320 : 880);
    }
    known = ids;
    select(Math.min(selected, Math.max(0, ids.length - 1)), false);
  }

  function select(index, focus) {
    const list = rows();
    list.forEach(function (row, i) {
      row.classList.toggle("selected", i === index);
      row.setAttribute("aria-selected", i === index ? "true" : "false");
    });
    selected = index;
    if (focus && list[index]) list[index].querySelector("a").focus();
  }

  function drawMap() {
    const box = document.getElementById("order-map");
    const source = document.getElementById("map-data");
    if (map) { map.remove(); map = null; }
    if (!box || !source || !window.L) return;
    const data = JSON.parse(source.textContent);
    // A view first: Leaflet places circles only on a map that has one.
    map = L.map(box, { attributionControl: false, zoomSnap: 0.25 }).setView([data.order.lat, data.order.lng], 12);
    if (box.dataset.tiles) L.tileLayer(box.dataset.tiles, { maxZoom: 18 }).addTo(map);
    const shapes = [];
    data.units.forEach(function (u) {
      const colour = ["", "#1d6b32", "#8a4b00", "#a31f16"][u.level] || "#555";
      shapes.push(L.circle([u.lat, u.lng], { radius: u.km * 1000, color: colour, weight: 1, fillOpacity: 0.04 }).addTo(map));
      L.circleMarker([u.lat, u.lng], { radius: 4, color: colour }).bindTooltip(u.name).addTo(map);
    });
    data.teams.forEach(function (t) {
      const dot = L.circleMarker([t.lat, t.lng], { radius: 9, color: "#1a56c4", fillOpacity: 0.8 });
      dot.bindTooltip(t.rank + ". " + t.name + " · " + t.reason, { permanent: t.rank <= 3 }).addTo(map);
      shapes.push(dot);
    });
    const order = L.circleMarker([data.order.lat, data.order.lng], { radius: 11, color: "#a31f16", fillColor: "#a31f16", fillOpacity: 1 });
    order.bindTooltip(data.order.label, { permanent: true, direction: "top" }).addTo(map);
    const bounds = L.featureGroup(shapes.concat([order])).getBounds();
    map.fitBounds(bounds.isValid() ? bounds : L.latLngBounds([[data.order.lat, data.order.lng]]), { padding: [20, 20] });
  }

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  document.addEventListener("keydown", function (event) {
    const help = document.querySelector("[data-help]");
    if (event.key === "Escape") {
      if (help && help.open) help.close();
      if (typing(event.target)) event.target.blur();
      return;
    }
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    const list = rows();
    const press = function (selector) {
      const target = document.querySelector(selector);
      if (target) { event.preventDefault(); target.click(); }
    };
    if (event.key === "ArrowDown" || event.key === "j") { event.preventDefault(); select(Math.min(selected + 1, list.length - 1), true); }
    else if (event.key === "ArrowUp" || event.key === "k") { event.preventDefault(); select(Math.max(selected - 1, 0), true); }
    else if ((event.key === "Enter" || event.key === "o") && list[selected]) { event.preventDefault(); list[selected].querySelector("a").click(); }
    else if (/^[1-9]$/.test(event.key)) {
      const box = document.querySelector('[data-candidate="' + event.key + '"]');
      if (box) { event.preventDefault(); box.checked = !box.checked; }
    }
    else if (event.key === "d") press('[data-dispatch-form] [data-key="d"]');
    else if (event.key === "b") press('[data-dispatch-form] [data-key="b"]');
    else if (event.key === "c") press('[data-dispatch-form] [data-key="c"]');
    else if (event.key === "r") { const note = document.querySelector("[data-reject]"); if (note) { event.preventDefault(); note.focus(); } }
    else if (event.key === "/") { const search = document.querySelector("[data-search]"); if (search) { event.preventDefault(); search.focus(); } }
    else if (event.key === "?" && help) { event.preventDefault(); help.showModal(); }
  });
  const opener = document.querySelector("[data-help-open]");
  if (opener) opener.addEventListener("click", function () { document.querySelector("[data-help]").showModal(); });

  document.body.addEventListener("htmx:afterSettle", function (event) {
    if (event.target.id === "queue") queueChanged();
    if (event.target.id === "panel") drawMap();
  });
  queueChanged();
  drawMap();
})();
