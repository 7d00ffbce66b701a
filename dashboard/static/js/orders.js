// Orders (统一订单管理): one list of the store's fulfilment orders across channels and ways of fulfilling,
// with an SLA clock on deliveries; filters by fulfilment and by open/done; live on "orders" events.
// A second view, the pick list, walks the orders still to pick zone by zone (picklist.js).
// Read defensively: a gateway without the orders route shows "no orders data".
import { get, post, storePath } from "./api.js";
import { ago, badge, button, clear, coalesce, h, svg, tab } from "./dom.js";
import { language, t } from "./i18n.js";
import { createPickList } from "./picklist.js";

export const FULFILMENTS = ["locker_pickup", "counter_pickup", "delivery", "ship"];
// Until then the store still holds the goods: the order is open for the store.
const OPEN_STATES = ["created", "reserved", "picking", "loaded", "ready", "staged"];
const DONE_STATES = ["handed_to_courier", "shipped", "picked_up", "delivered", "expired", "cancelled"];
// The SLA clock stops when the courier has the goods (or the order stopped).
const CLOCK_STOPS = new Set(DONE_STATES);
export const AT_RISK_MINUTES = 10;
const SLA_TICK_MS = 5000;
const LIMIT = 200;

// Small line icons (16 × 16), drawn with the label beside them: the label carries the meaning.
const ICONS = {
  locker_pickup: "M2 2h12v12H2z M8 2v12 M2 6h6 M2 10h6 M8 8h6",
  counter_pickup: "M1 12h14 M3 12V10a5 5 0 0 1 10 0v2 M8 3v2 M6.5 3h3",
  delivery: "M9 1 3 9h4l-1 6 6-8H8z",
  ship: "M2 5l6-3 6 3v7l-6 3-6-3z M2 5l6 3 6-3 M8 8v7",
};

function label(prefix, value) {
  const text = t(prefix + value);
  return text === prefix + value ? value : text;
}

function icon(fulfilment) {
  return svg(
    "svg",
    { class: "fulfilment-icon", viewBox: "0 0 16 16", width: 16, height: 16, "aria-hidden": "true", focusable: "false" },
    svg("path", { d: ICONS[fulfilment] || ICONS.locker_pickup }),
  );
}

function units(order) {
  return (order.lines || []).reduce((sum, line) => sum + (Number(line.quantity) || 0), 0);
}

/** The SLA of a delivery now: {kind: on-time|at-risk|late|stopped, minutes}; null without a promise. */
export function slaOf(order, now = Date.now()) {
  if (!order.promised_by) return null;
  if (CLOCK_STOPS.has(order.state)) return { kind: "stopped", minutes: null };
  const ms = Date.parse(order.promised_by) - now;
  if (ms <= 0) return { kind: "late", minutes: Math.max(1, Math.floor(-ms / 60000)) };
  const minutes = Math.ceil(ms / 60000);
  return { kind: minutes <= AT_RISK_MINUTES ? "at-risk" : "on-time", minutes };
}

function due(order) {
  const at = order.promised_by || order.slot_start || order.expires_at;
  return at ? Date.parse(at) : Number.POSITIVE_INFINITY;
}

function compareOpen(a, b) {
  return due(a) - due(b) || Date.parse(b.created_at) - Date.parse(a.created_at);
}

function compareDone(a, b) {
  return Date.parse(b.updated_at) - Date.parse(a.updated_at);
}

export function createOrders(root, store, { timezone } = {}) {
  const orders = new Map();
  let available = true;
  let fulfilment = "all";
  let status = "open";
  let notice = "";
  let ticker = null;
  let loads = 0; // only the latest of overlapping loads (quick filter clicks) is drawn
  let view = "orders"; // or "pick": the pick list
  const pickRoot = h("div", { class: "pick-list", id: "pick-list", role: "region", "aria-label": t("pick.title") });
  const pickList = createPickList(pickRoot, store);

  function states() {
    if (status === "open") return OPEN_STATES;
    if (status === "done") return DONE_STATES;
    return null;
  }

  function matchesStatus(order) {
    const wanted = states();
    return !wanted || wanted.includes(order.state);
  }

  /** A time in the store's own time zone ("Mon 14:00"), whatever the tablet's clock is set to. */
  function storeTime(iso) {
    const options = { weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (timezone) options.timeZone = timezone;
    try {
      return new Intl.DateTimeFormat(language(), options).format(new Date(iso));
    } catch {
      return new Date(iso).toLocaleString(); // an unknown zone: the tablet's time rather than nothing
    }
  }

  function slaText(sla) {
    const d = t("unit.min", { n: sla.minutes });
    return t(sla.kind === "late" ? "orders.sla.lateBy" : "orders.sla.left", { d });
  }

  function refreshClock(node) {
    const sla = slaOf({ state: node.dataset.state, promised_by: node.dataset.promised });
    if (!sla || sla.kind === "stopped") return;
    const text = slaText(sla);
    node.className = `sla sla-${sla.kind}`;
    node.dataset.sla = sla.kind;
    node.textContent = text;
    node.setAttribute("aria-label", `${t("orders.sla." + sla.kind)}: ${text}`);
    const row = node.closest("tr");
    if (row) row.dataset.sla = sla.kind;
  }

  /** Slot or promise: a counting-down clock for a running delivery, else the time in the store's zone. */
  function dueCell(order) {
    const sla = slaOf(order);
    if (sla && sla.kind !== "stopped") {
      const node = h("span", { class: "sla", dataset: { promised: order.promised_by, state: order.state } });
      node.title = `${t("orders.promise")} ${storeTime(order.promised_by)}`;
      refreshClock(node);
      return node;
    }
    if (order.promised_by) return h("span", { class: "muted" }, `${t("orders.promise")} ${storeTime(order.promised_by)}`);
    if (order.slot_start) return h("span", {}, `${t("orders.slot")} ${storeTime(order.slot_start)}`);
    return h("span", { class: "muted" }, "–");
  }

  async function act(order, step) {
    notice = "";
    try {
      upsert(await post(storePath(store, `/orders/${encodeURIComponent(order.id)}/${step}`)));
    } catch (error) {
      // The store-side steps may not exist on this gateway yet: say so in the panel, do not break it.
      notice = t("orders.actionFailed", { message: error.message });
    }
    render();
  }

  function actions(order) {
    const node = h("td", { class: "actions-cell" });
    if (order.state === "reserved") {
      node.append(button(t("orders.pick"), () => act(order, "pick"), { "data-action": "pick" }));
    }
    if (order.state === "picking" && order.fulfilment !== "locker_pickup") {
      node.append(button(t("orders.stage"), () => act(order, "stage"), { "data-action": "stage" }));
    }
    return node;
  }

  function row(order) {
    const kind = order.fulfilment || "locker_pickup";
    const sla = slaOf(order);
    const lines = (order.lines || []).length;
    return h(
      "tr",
      {
        "data-order": order.id,
        "data-fulfilment": kind,
        "data-state": order.state,
        "data-sla": sla ? sla.kind : null,
      },
      h("th", { scope: "row", class: "order-id" },
        order.id,
        order.customer_order ? h("small", {}, order.customer_order) : null),
      h("td", { class: "channel" }, order.channel ? label("orders.channel.", order.channel) : "–"),
      h("td", { class: "fulfilment" },
        h("span", { class: `fulfilment-label fulfilment-${kind}` }, icon(kind), label("orders.fulfilment.", kind))),
      h("td", {}, badge(label("order.", order.state), "order-" + order.state)),
      h("td", { class: "num", title: t("orders.linesTitle", { lines, units: units(order) }) },
        `${lines} / ${units(order)}`),
      h("td", { class: "due" }, dueCell(order)),
      h("td", {}, ago(order.created_at, { suffix: false })),
      actions(order),
    );
  }

  function visible() {
    const compare = status === "done" ? compareDone : compareOpen;
    return [...orders.values()].filter((o) => fulfilment === "all" || o.fulfilment === fulfilment).sort(compare);
  }

  function filters() {
    const counts = Object.fromEntries(FULFILMENTS.map((kind) => [kind, 0]));
    for (const order of orders.values()) counts[order.fulfilment] = (counts[order.fulfilment] || 0) + 1;
    const late = [...orders.values()].filter((o) => (slaOf(o) || {}).kind === "late").length;
    const risk = [...orders.values()].filter((o) => (slaOf(o) || {}).kind === "at-risk").length;
    const byKind = h(
      "div",
      { class: "tabs order-counts", role: "group", "aria-label": t("orders.byFulfilment") },
      tab([t("orders.all"), " ", h("span", { class: "count" }, orders.size)],
        fulfilment === "all", () => setFulfilment("all"), {
          "data-fulfilment": "all",
          "aria-pressed": fulfilment === "all" ? "true" : "false",
        }),
      FULFILMENTS.map((kind) =>
        tab([icon(kind), ` ${label("orders.fulfilment.", kind)} `, h("span", { class: "count" }, counts[kind])],
          fulfilment === kind, () => setFulfilment(kind), {
            "data-fulfilment": kind,
            "aria-pressed": fulfilment === kind ? "true" : "false",
          })),
    );
    const byStatus = h(
      "div",
      { class: "tabs", role: "group", "aria-label": t("orders.byState") },
      ["open", "done", "all"].map((value) =>
        tab(t("orders.status." + value), status === value, () => setStatus(value), {
          "data-status": value,
          "aria-pressed": status === value ? "true" : "false",
        })),
    );
    const sla = late || risk
      ? h("p", { class: "sla-summary" },
        late ? badge(t("orders.lateCount", { n: late }), "bad") : null,
        risk ? badge(t("orders.riskCount", { n: risk }), "warn") : null)
      : null;
    return [h("div", { class: "order-filters" }, byKind, byStatus), sla];
  }

  function table(items) {
    const headings = ["order", "channel", "fulfilment", "state", "lines", "due", "age", "actions"];
    return h(
      "div",
      { class: "table-scroll" },
      h("table", { class: "orders", "aria-label": t("orders.title") },
        h("thead", {}, h("tr", {}, headings.map((key) =>
          h("th", { scope: "col", class: key === "lines" ? "num" : null }, t("orders.col." + key))))),
        h("tbody", {}, items.map(row))),
    );
  }

  function views() {
    return h(
      "div",
      { class: "tabs order-views", role: "group", "aria-label": t("orders.views") },
      ["orders", "pick"].map((value) =>
        tab(t("orders.view." + value), view === value, () => setView(value), {
          "data-view": value,
          "aria-pressed": view === value ? "true" : "false",
          "aria-controls": value === "pick" ? "pick-list" : null,
        })),
    );
  }

  function render() {
    if (view === "pick") {
      pickRoot.setAttribute("aria-label", t("pick.title"));
      pickList.render();
      clear(root).append(views(), pickRoot);
      return;
    }
    if (!available) {
      clear(root).append(views(), h("p", { class: "muted" }, t("orders.unavailable")));
      return;
    }
    const items = visible();
    clear(root).append(
      views(),
      ...filters().filter(Boolean),
      notice ? h("p", { class: "error", role: "alert" }, notice) : "",
      items.length ? table(items) : h("p", { class: "muted empty-note" }, t("orders.none")),
    );
  }

  function upsert(order) {
    if (!order || !order.id || (order.store && order.store !== store)) return;
    if (!order.fulfilment) order.fulfilment = "locker_pickup"; // orders from before fulfilment types
    if (matchesStatus(order)) orders.set(order.id, order);
    else orders.delete(order.id);
  }

  async function load() {
    if (view === "pick") pickList.load(); // after a reconnect: what was missed
    const query = new URLSearchParams({ limit: String(LIMIT) });
    for (const state of states() || []) query.append("state", state);
    const mine = ++loads;
    try {
      const body = await get(storePath(store, `/orders?${query}`));
      if (mine !== loads) return;
      orders.clear();
      for (const order of body.items || []) upsert(order);
      available = true;
    } catch {
      if (mine !== loads) return;
      available = false; // 404 while the gateway has no orders route; anything else: same panel
    }
    render();
    startClock();
  }

  function setFulfilment(next) {
    fulfilment = next;
    render();
  }

  /** Opening the pick list reads it afresh: it is only kept live while it is shown. */
  function setView(next) {
    if (next === view) return;
    view = next;
    render();
    if (view === "pick") pickList.load();
  }

  async function setStatus(next) {
    status = next;
    await load();
  }

  /** Delivery clocks count down by themselves; the list is redrawn when one changes colour. */
  function startClock() {
    if (ticker) return;
    ticker = setInterval(() => {
      let changed = false;
      for (const node of root.querySelectorAll(".sla[data-promised]")) {
        const before = node.dataset.sla;
        refreshClock(node);
        changed ||= before !== node.dataset.sla;
      }
      if (changed) render(); // the late and at-risk counts at the top
    }, SLA_TICK_MS);
  }

  const reload = coalesce(load, 1000);

  return {
    load,
    render,
    stop() {
      clearInterval(ticker);
      ticker = null;
    },
    onEvent(type, data) {
      if (view === "pick") pickList.onEvent(type, data);
      if (type !== "orders") return;
      if (data && data.id) {
        upsert(data);
        render();
      } else {
        reload(); // an event without an order in it: read the list again
      }
    },
  };
}
