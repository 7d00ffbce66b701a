// Pickup lockers: compartments with their orders, what waits and what is overdue, pickup-code lockouts
// with a button to lift them. Read defensively: a gateway without the lockers route (404) or with
// another shape shows "no lockers data".
import { get, post, storePath } from "./api.js";
import { ago, badge, button, clear, coalesce, h } from "./dom.js";
import { t } from "./i18n.js";

// A lockout starting or lifted comes as an alert (locker.code_lockout:…); a session's comes with none.
const LIVE_TYPES = new Set(["orders", "lockers", "alert"]);

function orderState(state) {
  const label = t("order." + state);
  return label === "order." + state ? state : label;
}

function asList(value) {
  return Array.isArray(value) ? value : [];
}

/** The overview in the shape this panel draws, or null when it is not one. */
export function normalize(body) {
  const lockers = Array.isArray(body) ? body : body && (body.lockers || body.items);
  if (!Array.isArray(lockers)) return null;
  return {
    lockers: lockers.map((locker) => ({
      id: String(locker.id ?? locker.locker ?? "?"),
      free: typeof locker.free === "number" ? locker.free : null,
      lockouts: asList(locker.lockouts).map((lockout) => ({
        scope: String(lockout.scope ?? ""),
        what: lockout.what ?? null,
        until: lockout.until ?? null,
      })),
      compartments: asList(locker.compartments).map((c) => ({
        id: String(c.compartment ?? c.id ?? "?"),
        door: c.door_number ?? null,
        size: c.size ?? "",
        inService: c.in_service !== false,
        doorOpen: Boolean(c.door_open),
        attention: c.needs_attention || null,
        order: c.order && typeof c.order === "object" ? c.order : c.order ? { id: String(c.order) } : null,
      })),
    })),
    waiting: typeof body.waiting === "number" ? body.waiting : asList(body.waiting).length,
    overdue: asList(body.overdue),
  };
}

export function createLockers(root, store) {
  let data = null;
  let notice = "";

  async function lift(locker) {
    notice = "";
    try {
      await post(storePath(store, `/lockers/${encodeURIComponent(locker.id)}/lockouts/lift`));
    } catch (error) {
      notice = error.message;
    }
    await load();
  }

  /** Who is locked out of pickups by code at this bank, and the button that lets them in again. */
  function lockouts(locker) {
    if (!locker.lockouts.length) return null;
    const bank = locker.lockouts.some((lockout) => lockout.scope === "bank");
    const sessions = locker.lockouts.filter((lockout) => lockout.scope === "source").length;
    const orders = locker.lockouts.filter((lockout) => lockout.scope === "order").map((lockout) => lockout.what);
    const parts = [];
    if (bank) parts.push(t("lockers.lockedBank"));
    if (sessions) parts.push(t("lockers.lockedSessions", { n: sessions }));
    if (orders.length) parts.push(t("lockers.lockedOrders", { orders: orders.join(", ") }));
    const until = locker.lockouts.map((lockout) => lockout.until).filter(Boolean).sort().pop();
    return h(
      "p",
      { class: "lockouts", "data-lockouts": locker.id },
      badge(t("lockers.lockout"), bank ? "bad" : "warn"),
      " ",
      parts.join(" · "),
      until ? ` · ${t("lockers.until", { time: new Date(until).toLocaleTimeString() })} ` : " ",
      button(t("lockers.lift"), () => lift(locker), { "data-action": "lift-lockout" }),
    );
  }

  function compartment(c) {
    const classes = ["compartment"];
    if (c.order) classes.push("held");
    if (c.order && c.order.overdue) classes.push("overdue");
    if (!c.inService) classes.push("out");
    return h(
      "li",
      { class: classes.join(" "), "data-compartment": c.id },
      h("strong", {}, c.door ? `${c.door}` : c.id),
      h("small", {}, c.size),
      c.order ? h("span", { class: "order" }, c.order.id) : null,
      c.order && c.order.state ? badge(orderState(c.order.state), c.order.overdue ? "bad" : "") : null,
      c.order && c.order.expires_at ? ago(c.order.expires_at, { suffix: false }) : null,
      !c.inService ? badge(t("lockers.outOfService"), "bad") : null,
      c.doorOpen ? badge(t("lockers.door"), "warn") : null,
      c.attention ? h("small", { class: "attention" }, c.attention) : null,
    );
  }

  function render() {
    if (!data) {
      clear(root).append(h("p", { class: "muted" }, t("lockers.none")));
      return;
    }
    clear(root).append(
      h("p", { class: "locker-summary" },
        badge(t("lockers.waiting", { n: data.waiting }), ""),
        " ",
        badge(t("lockers.overdue", { n: data.overdue.length }), data.overdue.length ? "bad" : "")),
      notice ? h("p", { class: "error" }, notice) : "",
      ...data.lockers.map((locker) =>
        h("div", { class: "locker", "data-locker": locker.id },
          h("h3", {}, locker.id, locker.free === null ? "" : ` · ${t("lockers.free", { n: locker.free })}`),
          lockouts(locker),
          h("ul", { class: "compartments" }, locker.compartments.map(compartment)))),
    );
  }

  async function load() {
    try {
      data = normalize(await get(storePath(store, "/lockers")));
    } catch {
      data = null; // 404 while the gateway has no lockers route; anything else: same panel
    }
    render();
  }

  const reload = coalesce(load, 1000);

  return {
    load,
    render,
    onEvent(type) {
      if (LIVE_TYPES.has(type)) reload();
    },
  };
}
