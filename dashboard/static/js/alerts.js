// Alerts: active (open, acknowledged) or cleared, with severity and history; acknowledge and clear.
import { get, post, storePath } from "./api.js";
import { ago, badge, button, clear, h, tab } from "./dom.js";
import { t } from "./i18n.js";

const FILTERS = {
  active: ["open", "acknowledged"],
  cleared: ["cleared"],
  all: ["open", "acknowledged", "cleared"],
};
const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };

export function createAlerts(root, store) {
  const alerts = new Map();
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

  function render() {
    const wanted = FILTERS[filter];
    const shown = [...alerts.values()]
      .filter((alert) => wanted.includes(alert.state))
      .sort((a, b) => (a.state === "cleared") - (b.state === "cleared")
        || (SEVERITY_RANK[a.severity] ?? 3) - (SEVERITY_RANK[b.severity] ?? 3)
        || Date.parse(b.opened_at) - Date.parse(a.opened_at));
    const tabs = h(
      "div",
      { class: "tabs" },
      Object.keys(FILTERS).map((name) => tab(t("alerts." + name), name === filter, () => setFilter(name))),
    );
    clear(root).append(
      tabs,
      notice ? h("p", { class: "error" }, notice) : "",
      shown.length ? h("ul", { class: "alert-list" }, shown.map(item)) : h("p", { class: "muted" }, t("alerts.none")),
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
