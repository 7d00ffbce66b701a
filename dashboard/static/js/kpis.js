// Header KPIs: availability, empty slots, time to replenish, pickups, devices offline; reloaded on events.
import { get, storePath } from "./api.js";
import { clear, coalesce, duration, h, percent } from "./dom.js";
import { t } from "./i18n.js";

export function createKpis(root, store) {
  let data = null;

  function tile(id, label, value, detail, tone) {
    return h(
      "div",
      { class: `kpi ${tone || ""}`.trim(), "data-kpi": id },
      h("span", { class: "kpi-label" }, label),
      h("strong", { class: "kpi-value" }, value),
      h("span", { class: "kpi-detail" }, detail || ""),
    );
  }

  function render() {
    if (!data) return;
    const pickups =
      data.pickups_waiting === null ? "–" : `${data.pickups_waiting} / ${data.pickups_overdue}`;
    clear(root).append(
      tile(
        "osa",
        t("kpi.osa"),
        percent(data.osa),
        t("kpi.slots", {
          ok: data.slots_ok,
          low: data.slots_low,
          empty: data.slots_empty,
          unknown: data.slots_unknown,
        }),
        data.osa !== null && data.osa < 0.9 ? "warn" : "",
      ),
      tile("oos", t("kpi.oos"), String(data.open_oos_slots), `${t("kpi.tasks")}: ${data.open_tasks}`,
        data.open_oos_slots > 0 ? "bad" : "good"),
      tile("mttr", t("kpi.mttr"), duration(data.mean_time_to_replenish_s),
        t("kpi.replenished", { n: data.replenished_today })),
      tile("pickups", t("kpi.pickups"), pickups, "", data.pickups_overdue > 0 ? "bad" : ""),
      tile("devices", t("kpi.devices"), String(data.devices_offline), t("kpi.ofDevices", { n: data.devices }),
        data.devices_offline > 0 ? "warn" : "good"),
    );
  }

  async function load() {
    data = await get(storePath(store, "/kpis"));
    render();
  }

  const reload = coalesce(() => load().catch(() => {}), 1000);

  return {
    load,
    render,
    onEvent(type) {
      if (["slot", "tasks", "device", "orders", "lockers", "alert"].includes(type)) reload();
    },
  };
}
