// Alerts: active (open, acknowledged) or cleared, with severity and history; acknowledge and clear.
// Grouped by severity and kind of cause (the cause up to its first ':', e.g. rfid.low_stock), each
// group a few compact rows at a time: a busy store raises dozens of alerts of one kind.
import { get, post, storePath } from "./api.js";
import { ago, badge, button, clear, h, tab } from "./dom.js";
import { t } from "./i18n.js";

const FILTERS = {
  active: ["open", "acknowledged"],
  cleared: ["cleared"],
  all: ["open", "acknowledged", "cleared"],
};
const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };
const PAGE = 8; // rows shown per group, and added by each "show more"
// Groups this small start open; larger ones start folded, their size in the summary.
const OPEN_UP_TO = 3;

function kindOf(alert) {
  return (alert.cause || "").split(":")[0];
}

export function createAlerts(root, store) {
  const alerts = new Map();
  const shownPerGroup = new Map(); // group key -> rows shown
  const openGroups = new Map(); // group key -> folded or not, as the user left it
  let filter = "active";
  let notice = "";

  async function act(alert, step) {
    notice = "";
    try {
      const updated = await post(`/alerts/${alert.id}/${step}`);
      alerts.set(updated.id, updated);
    } catch (error) {
      notice = error.message;
    }
    render();
  }

  function item(alert) {
    const actions = h("div", { class: "actions" });
    if (alert.state === "open") {
      const attrs = { "data-action": "acknowledge" };
      actions.append(button(t("alerts.acknowledge"), () => act(alert, "acknowledge"), attrs));
    }
    if (alert.state !== "cleared") {
      actions.append(button(t("alerts.clear"), () => act(alert, "clear"), { "data-action": "clear" }));
    }
    return h(
      "li",
      { class: `alert severity-${alert.severity} state-${alert.state}`, "data-alert": alert.id },
      h("div", { class: "task-head" },
        badge(t("severity." + alert.severity), "severity-" + alert.severity),
        h("strong", {}, alert.message || alert.cause),
        badge(t("state." + alert.state), "task-" + alert.state)),
      h(
        "div",
        { class: "task-meta" },
        alert.cause,
        alert.device ? ` · ${alert.device}` : "",
        " · ",
        ago(alert.opened_at),
        alert.acknowledged_by ? ` · ${t("alerts.by", { by: alert.acknowledged_by })}` : "",
      ),
      actions,
      history(alert),
    );
  }

  function history(alert) {
    const steps = (alert.history || []).map((step) =>
      h(
        "li",
        {},
        ago(step.at),
        ` · ${t("event." + step.event)}`,
        step.by ? ` · ${step.by}` : "",
        step.severity ? ` · ${t("severity." + step.severity)}` : "",
      ),
    );
    return h("details", { class: "history" }, h("summary", {}, t("alerts.history")), h("ol", {}, steps));
  }

  function groupsOf(shown) {
    const groups = new Map();
    for (const alert of shown) {
      const key = `${alert.severity}|${kindOf(alert)}`;
      if (!groups.has(key)) groups.set(key, { key, severity: alert.severity, kind: kindOf(alert), items: [] });
      groups.get(key).items.push(alert);
    }
    return [...groups.values()].sort((a, b) => (SEVERITY_RANK[a.severity] ?? 3) - (SEVERITY_RANK[b.severity] ?? 3)
      || b.items.length - a.items.length || a.kind.localeCompare(b.kind));
  }

  function group({ key, severity, kind, items }) {
    const limit = shownPerGroup.get(key) ?? PAGE;
    const rows = h("ul", { class: "alert-list" }, items.slice(0, limit).map(item));
    const rest = items.length - limit;
    const more = rest > 0
      ? button(t("alerts.more", { n: Math.min(rest, PAGE), total: rest }), () => {
        shownPerGroup.set(key, limit + PAGE);
        render();
      }, { "data-action": "more" })
      : "";
    const open = openGroups.get(key) ?? items.length <= OPEN_UP_TO;
    const details = h(
      "details",
      { class: `alert-group severity-${severity}`, "data-group": key, ...(open ? { open: "" } : {}) },
      h("summary", {},
        badge(t("severity." + severity), "severity-" + severity),
        h("strong", {}, kind || "–"),
        h("span", { class: "group-count" }, String(items.length))),
      rows,
      more,
    );
    details.addEventListener("toggle", () => openGroups.set(key, details.open));
    return details;
  }

  function render() {
    const wanted = FILTERS[filter];
    const shown = [...alerts.values()]
      .filter((alert) => wanted.includes(alert.state))
      .sort((a, b) => (a.state === "cleared") - (b.state === "cleared")
        || Date.parse(b.opened_at) - Date.parse(a.opened_at));
    const tabs = h(
      "div",
      { class: "tabs" },
      Object.keys(FILTERS).map((name) => tab(t("alerts." + name), name === filter, () => setFilter(name))),
    );
    clear(root).append(
      tabs,
      notice ? h("p", { class: "error" }, notice) : "",
      shown.length ? h("div", { class: "alert-groups" }, groupsOf(shown).map(group)) : h("p", { class: "muted" }, t("alerts.none")),
    );
  }

  async function setFilter(name) {
    filter = name;
    await load();
  }

  async function load() {
    const params = new URLSearchParams({ limit: "200" });
    for (const state of FILTERS[filter]) params.append("state", state);
    const page = await get(storePath(store, `/alerts?${params}`));
    alerts.clear();
    for (const alert of page.items) alerts.set(alert.id, alert);
    render();
  }

  return {
    load,
    render,
    onEvent(type, data) {
      if (type !== "alert") return;
      alerts.set(data.id, data);
      render();
    },
  };
}
