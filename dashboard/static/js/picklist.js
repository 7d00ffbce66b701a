// Pick list (拣货单): the store's orders still to pick, zone by zone in the store file's order, each line
// with its shelf and slot and the RFID pick check; GTINs in the staging area that no order wants are
// flagged. Read defensively: a gateway without the pick-list route shows "no pick list data".
import { get, storePath } from "./api.js";
import { badge, clear, coalesce, h } from "./dom.js";
import { t } from "./i18n.js";

const RELOAD_MS = 750;
// The RFID check of a line as a badge look: confirmed, still waiting, or no tag (the associate confirms).
const RFID_LOOK = { confirmed: "ok", pending: "warn", not_tagged: "unknown" };

/** (order, GTIN) -> the line's RFID check, from the orders of the pick list. */
function checks(body) {
  const found = new Map();
  for (const order of body.orders || []) {
    for (const line of order.lines || []) {
      if (line.rfid) found.set(`${order.id}\u0000${line.gtin}`, line.rfid);
    }
  }
  return found;
}

function rfidBadge(check) {
  if (!check) return h("span", { class: "muted" }, "–");
  const node = badge(t("pick.rfid." + check.status), "rfid-" + check.status + " " + (RFID_LOOK[check.status] || ""));
  node.dataset.rfid = check.status;
  if (check.status !== "not_tagged") node.title = t("pick.rfidCounted", { counted: check.counted, wanted: check.wanted });
  return node;
}

function place(stop) {
  if (!stop.shelf) return h("span", { class: "muted" }, t("pick.noShelf"));
  return stop.slot ? `${stop.shelf} / ${stop.slot}` : stop.shelf;
}

export function createPickList(root, store) {
  let body = null; // the last pick list read; null until the first load
  let available = true;
  let loads = 0; // only the latest of overlapping loads is drawn

  function unexpected(items) {
    if (!items.length) return null;
    return h(
      "div",
      { class: "pick-unexpected", role: "status" },
      h("h3", {}, t("pick.unexpected")),
      h("p", { class: "hint" }, t("pick.unexpectedHint")),
      h("ul", {}, items.map((item) =>
        h("li", { "data-gtin": item.gtin },
          h("strong", {}, item.name || item.gtin), " ",
          h("span", { class: "gtin" }, item.gtin), " ",
          t("pick.unexpectedCount", { n: item.count })))),
    );
  }

  function zone(walk, found, index) {
    const id = `pick-zone-${index}`;
    const headings = ["product", "gtin", "quantity", "order", "place", "rfid"];
    return h(
      "section",
      { class: "pick-zone", "data-zone": walk.zone ?? "", "aria-labelledby": id },
      h("h3", { id }, walk.zone ? walk.name || walk.zone : t("pick.noZone"),
        " ", h("span", { class: "count" }, t("pick.lineCount", { n: walk.lines.length }))),
      h("div", { class: "table-scroll" },
        h("table", { class: "pick-lines", "aria-labelledby": id },
          h("thead", {}, h("tr", {}, headings.map((key) =>
            h("th", { scope: "col", class: key === "quantity" ? "num" : null }, t("pick.col." + key))))),
          h("tbody", {}, walk.lines.map((stop) => {
            const check = found.get(`${stop.order}\u0000${stop.gtin}`);
            return h(
              "tr",
              { "data-order": stop.order, "data-gtin": stop.gtin, "data-rfid": check ? check.status : null },
              h("th", { scope: "row", class: "product" }, stop.name || stop.gtin),
              h("td", { class: "gtin" }, stop.gtin),
              h("td", { class: "num quantity" }, stop.quantity),
              h("td", { class: "order-id" }, stop.order),
              h("td", { class: "place" }, place(stop)),
              h("td", { class: "rfid" }, rfidBadge(check)),
            );
          })))),
    );
  }

  function render() {
    if (!available) {
      clear(root).append(h("p", { class: "muted" }, t("pick.unavailable")));
      return;
    }
    if (!body) {
      clear(root).append(h("p", { class: "muted" }, t("pick.loading")));
      return;
    }
    const walks = body.by_zone || [];
    const found = checks(body);
    const orders = (body.orders || []).length;
    const lines = walks.reduce((sum, walk) => sum + walk.lines.length, 0);
    clear(root).append(
      ...[unexpected(body.unexpected || [])].filter(Boolean),
      walks.length
        ? h("p", { class: "hint pick-summary" }, t("pick.summary", { orders, lines }))
        : h("p", { class: "muted empty-note" }, t("pick.none")),
      ...walks.map((walk, index) => zone(walk, found, index)),
    );
  }

  async function load() {
    const mine = ++loads;
    try {
      const next = await get(storePath(store, "/pick-list"));
      if (mine !== loads) return;
      body = next;
      available = true;
    } catch {
      if (mine !== loads) return;
      available = false; // 404 while the gateway has no pick-list route; anything else: same panel
    }
    root.dataset.loaded = String(mine);
    render();
  }

  const reload = coalesce(load, RELOAD_MS);

  return {
    load,
    render,
    /** Orders change what is to pick; inventory changes counts and so the RFID checks. */
    onEvent(type) {
      if (type === "orders" || type === "inventory") reload();
    },
  };
}
