// The big screen: ECharts drawn from the figures the page came with, drawn again from
// /board/figures.json whenever the stream says an order moved (no polling); counters count up,
// and a station ripples when an order arrives there. The stream's status line says when it is stale.
(function () {
  "use strict";
  const stage = document.querySelector("[data-board]");
  if (!stage || !window.echarts) return;
  const dark = { backgroundColor: "transparent", textStyle: { color: "#e8edf5" } };
  const charts = {};
  document.querySelectorAll("[data-chart]").forEach(function (box) {
    charts[box.dataset.chart] = echarts.init(box, null, { renderer: "canvas" });
  });
  let figures = JSON.parse(document.getElementById("board-figures").textContent);
  let ripples = [];

  function draw() {
    const s = figures.stations;
    charts.map.setOption(Object.assign({}, dark, {
      grid: { left: 0, right: 0, top: 0, bottom: 0 },
      xAxis: { type: "value", show: false, scale: true },
      yAxis: { type: "value", show: false, scale: true },
      visualMap: { show: false, min: 0, max: Math.max(1, Math.max.apply(null, s.map(function (x) { return x.n; }))), dimension: 2, inRange: { color: ["#2b4a6f", "#f0b400", "#ff4d4d"] } },
      tooltip: { formatter: function (p) { return p.data[3] + " · " + p.data[2]; } },
      series: [
        { type: "scatter", data: s.map(function (x) { return [x.lng, x.lat, x.n, x.name]; }), symbolSize: function (v) { return 4 + Math.sqrt(v[2]) * 6; } },
        { type: "effectScatter", data: ripples, symbolSize: 14, rippleEffect: { scale: 5, brushType: "stroke" }, itemStyle: { color: "#ffd36e" } },
      ],
    }), true);
    const states = Object.keys(figures.by_state);
    charts.funnel.setOption(Object.assign({}, dark, {
      tooltip: {},
      series: [{ type: "funnel", data: states.map(function (k) { return { name: figures.state_labels[k] || k, value: figures.by_state[k] }; }), label: { color: "#e8edf5" } }],
    }), true);
    charts.categories.setOption(Object.assign({}, dark, {
      tooltip: {},
      series: [{ type: "pie", radius: ["35%", "70%"], data: figures.by_category.map(function (c) { return { name: c.name, value: c.n }; }), label: { color: "#e8edf5" } }],
    }), true);
    charts.hours.setOption(Object.assign({}, dark, {
      grid: { left: 40, right: 10, top: 10, bottom: 25 },
      xAxis: { type: "category", data: figures.by_hour.map(function (_, h) { return h + ":00"; }), axisLabel: { color: "#b8c4d6" } },
      yAxis: { type: "value", axisLabel: { color: "#b8c4d6" }, minInterval: 1 },
      series: [{ type: "bar", data: figures.by_hour, itemStyle: { color: "#4fa3ff" } }],
    }), true);
  }

  function countUp(element, to) {
    const from = parseFloat(element.textContent) || 0;
    if (from === to) return;
    const began = performance.now();
    function step(now) {
      const t = Math.min(1, (now - began) / 800);
      element.textContent = Math.round(from + (to - from) * t);
      if (t < 1) requestAnimationFrame(step);
    }
    requestAnimationFrame(step);
  }

  function fill() {
    Object.keys(figures.counters).forEach(function (key) {
      const element = document.querySelector('[data-counter="' + key + '"]');
      if (element) countUp(element, figures.counters[key]);
    });
    const set = function (key, value) {
      const element = document.querySelector('[data-figure="' + key + '"]');
      if (element) element.textContent = value === null || value === undefined ? "–" : value;
    };
    set("accept_median", figures.accept_minutes.median);
    set("accept_p90", figures.accept_minutes.p90);
    set("satisfaction", figures.satisfaction.avg);
    set("month_hours", figures.month_hours.toFixed(1));
    const lists = {
      busiest_stations: function (s) { return s.name + " <strong>" + s.n + "</strong>"; },
      best_teams: function (t) { return t.name + " <strong>" + t.rating + "★</strong>"; },
      latest: function (e) { return "<span>" + e.at + "</span> " + e.who + " · " + e.category + " · " + e.station + " → <strong>" + e.state_label + "</strong>"; },
    };
    Object.keys(lists).forEach(function (key) {
      const list = document.querySelector('[data-list="' + key + '"]');
      if (!list) return;
      list.innerHTML = "";
      figures[key].forEach(function (row) {
        const item = document.createElement("li");
        item.innerHTML = lists[key](escapeRow(row));
        list.appendChild(item);
      });
    });
  }

  function escapeRow(row) {
    const safe = {};
    Object.keys(row).forEach(function (k) {
      safe[k] = String(row[k]).replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; });
    });
    return safe;
  }

  let pending = null;
  function refresh(event) {
    const message = event && event.detail;
    if (message && message.type === "order.placed" && message.order) {
      const station = figures.stations.find(function (s) { return s.id === message.order.station; });
      if (station) {
        ripples = [[station.lng, station.lat]];
        setTimeout(function () { ripples = []; draw(); }, 6000);
      }
    }
    clearTimeout(pending);
    pending = setTimeout(function () {
      fetch(stage.dataset.url, { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (fresh) { figures = fresh; fill(); draw(); });
    }, 300);
  }

  document.body.addEventListener("stream-orders", refresh);
  document.body.addEventListener("stream", function (event) { if (event.detail && event.detail.type === "stats.tick") refresh(); });
  const whole = document.querySelector("[data-fullscreen]");
  if (whole) {
    whole.addEventListener("click", function () {
      if (document.fullscreenElement) document.exitFullscreen();
      else document.documentElement.requestFullscreen();
    });
  }
  window.addEventListener("resize", function () { Object.values(charts).forEach(function (c) { c.resize(); }); });
  draw();
})();
