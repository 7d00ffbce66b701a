// Charts (uPlot, vendored): on-shelf availability over the day, longest out-of-stock periods, RFID read
// rate per reader. The library loads after the first paint; the charts follow live events.
import { get, storePath } from "./api.js";
import { clear, coalesce, h } from "./dom.js";
import { language, t } from "./i18n.js";

const COLORS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4b5563", "#db2777"];
let library = null;

function loadLibrary() {
  if (!library) {
    library = new Promise((resolve, reject) => {
      if (window.uPlot) return resolve(window.uPlot);
      const style = document.createElement("link");
      style.rel = "stylesheet";
      style.href = "vendor/uPlot.min.css";
      document.head.append(style);
      const script = document.createElement("script");
      script.src = "vendor/uPlot.iife.min.js";
      script.onload = () => resolve(window.uPlot);
      script.onerror = () => reject(new Error("uPlot did not load"));
      document.head.append(script);
    });
  }
  return library;
}

// uPlot writes month and day names in English; these give its date templates the page's language.
const ZH_NAMES = {
  MMMM: ["一月", "二月", "三月", "四月", "五月", "六月", "七月", "八月", "九月", "十月", "十一月", "十二月"],
  MMM: ["1月", "2月", "3月", "4月", "5月", "6月", "7月", "8月", "9月", "10月", "11月", "12月"],
  WWWW: ["星期日", "星期一", "星期二", "星期三", "星期四", "星期五", "星期六"],
  WWW: ["周日", "周一", "周二", "周三", "周四", "周五", "周六"],
};

function localisedDates(uPlot) {
  if (language() !== "zh-CN") return {};
  return { fmtDate: (template) => uPlot.fmtDate(template.replace("{MMM} {D}", "{M}月{D}日"), ZH_NAMES) };
}

// Time axes: hours and minutes only (the charts cover today), far enough apart not to overlap.
const TIME_AXIS = {
  space: 70,
  values: [
    [1, "{HH}:{mm}:{ss}", null, null, null, null, null, null, 1],
    [60, "{HH}:{mm}", null, null, null, null, null, null, 1],
  ],
};

function hoursSinceMidnight() {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  return Math.max(1, Math.min(24, Math.ceil((Date.now() - midnight) / 3600000)));
}

export function createCharts(root, store) {
  const charts = new Map(); // name -> uPlot instance
  const boxes = {};
  let data = { osa: null, oos: null, rfid: null };

  function width(box) {
    return Math.max(260, Math.floor(box.getBoundingClientRect().width) || 600);
  }

  function draw(name, options, series) {
    const box = boxes[name];
    const old = charts.get(name);
    if (old) old.destroy();
    charts.delete(name);
    clear(box);
    if (!series || !series[0] || series[0].length === 0) {
      box.append(h("p", { class: "muted" }, t("charts.noData")));
      return;
    }
    const uPlot = window.uPlot;
    const sized = { width: width(box), height: 220, ...localisedDates(uPlot), ...options };
    charts.set(name, new uPlot(sized, series, box));
  }

  function drawOsa() {
    const points = (data.osa && data.osa.points) || [];
    const xs = points.map((p) => Date.parse(p.at) / 1000);
    const ys = points.map((p) => (p.osa === null ? null : +(p.osa * 100).toFixed(2)));
    draw("osa", {
      scales: { y: { range: [0, 100] } },
      series: [
        { label: t("charts.time") },
        {
          label: t("kpi.osa"),
          stroke: COLORS[0],
          fill: "rgba(37,99,235,0.12)",
          width: 2,
          value: (u, v) => (v === null ? "–" : `${v} %`),
        },
      ],
      axes: [TIME_AXIS, { values: (u, vals) => vals.map((v) => `${v}%`) }],
    }, [xs, ys]);
  }

  function drawOos() {
    const periods = ((data.oos && data.oos.periods) || []).slice(0, 15);
    const xs = periods.map((_, i) => i);
    const ys = periods.map((p) => +(p.duration_s / 60).toFixed(1));
    const names = periods.map((p) => p.slot);
    const bars = window.uPlot.paths.bars({ size: [0.7, 60] });
    draw("oos", {
      scales: {
        x: { time: false, range: [-0.5, Math.max(0.5, xs.length - 0.5)] },
        // Bars grow from zero: an auto range starts at the shortest bar and makes it look empty.
        y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] },
      },
      series: [
        { label: t("charts.slot"), value: (u, i) => (i === null || names[i] === undefined ? "–" : names[i]) },
        {
          label: t("charts.minutes"),
          stroke: COLORS[4],
          fill: "rgba(220,38,38,0.35)",
          paths: bars,
          points: { show: false },
        },
      ],
      // One label per bar (uPlot would skip some to keep its default spacing), slanted to fit.
      axes: [{ values: (u, vals) => vals.map((i) => names[i] ?? ""), incrs: [1], space: 10, rotate: -40, size: 70 }, {}],
    }, [xs, ys]);
  }

  function drawRfid() {
    const readers = (data.rfid && data.rfid.readers) || [];
    // uPlot wants one x column for all series: every reader's timestamps, null where one has none.
    const all = readers.flatMap((reader) => reader.series.map(([ts]) => Date.parse(ts) / 1000));
    const stamps = [...new Set(all)].sort((a, b) => a - b);
    const columns = readers.map((reader) => {
      const byTime = new Map(reader.series.map(([ts, rate]) => [Date.parse(ts) / 1000, rate]));
      return stamps.map((s) => (byTime.has(s) ? byTime.get(s) : null));
    });
    draw("rfid", {
      axes: [TIME_AXIS, {}],
      series: [
        { label: t("charts.time") },
        ...readers.map((reader, i) => ({
          label: reader.reader,
          stroke: COLORS[i % COLORS.length],
          width: 2,
          spanGaps: true,
        })),
      ],
    }, [stamps, ...columns]);
  }

  function render() {
    if (!window.uPlot) return;
    drawOsa();
    drawOos();
    drawRfid();
  }

  function layout() {
    clear(root);
    for (const [name, title] of [["osa", "charts.osa"], ["oos", "charts.oos"], ["rfid", "charts.rfid"]]) {
      boxes[name] = h("div", { class: "chart", "data-chart": name });
      root.append(h("figure", { class: "chart-card" }, h("figcaption", {}, t(title)), boxes[name]));
    }
  }

  async function fetchAll() {
    const hours = hoursSinceMidnight();
    const [osa, oos, rfid] = await Promise.all([
      get(storePath(store, `/history/osa?hours=${hours}`)),
      get(storePath(store, `/history/oos?hours=${hours}&limit=15`)),
      get(storePath(store, "/telemetry/rfid")),
    ]);
    data = { osa, oos, rfid };
  }

  async function load() {
    layout();
    await Promise.all([loadLibrary(), fetchAll()]);
    render();
  }

  const reload = coalesce(() => fetchAll().then(render).catch(() => {}), 5000);
  const resize = coalesce(render, 300);
  window.addEventListener("resize", resize);
  const timer = setInterval(reload, 30000); // RFID telemetry arrives without a live event

  return {
    load,
    render() {
      layout();
      render();
    },
    onEvent(type) {
      if (type === "osa" || type === "tasks") reload();
    },
    stop() {
      clearInterval(timer);
      window.removeEventListener("resize", resize);
    },
  };
}
