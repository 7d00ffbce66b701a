// Inventory table: server-side search, sort, state filter and paging; rows on screen follow live events.
import { get, storePath } from "./api.js";
import { ago, badge, button, clear, debounce, flash, h, percent } from "./dom.js";
import { t } from "./i18n.js";

const PAGE = 100;
const STATES = ["ok", "low", "empty", "unknown"];
const FIGURES = ["on_hand", "shelf_state", "reserved"];
const COLUMNS = [
  { key: "product", label: "inventory.product", sort: "name" },
  { key: "salesfloor", label: "inventory.salesfloor", num: true },
  { key: "backroom", label: "inventory.backroom", num: true },
  { key: "on_hand", label: "inventory.onHand", num: true, sort: "on_hand" },
  { key: "reserved", label: "inventory.reserved", num: true },
  { key: "available_to_promise", label: "inventory.atp", num: true, sort: "available_to_promise" },
  { key: "shelf", label: "inventory.shelf", sort: "shelf_fill" },
  { key: "sources", label: "inventory.sources", sort: "updated_at" },
  { key: "flags", label: "inventory.flags" },
];

/** Camera sees the shelf empty while RFID counts units on the floor: misplaced or phantom stock. */
export function flags(item) {
  const found = [];
  if (item.shelf_state === "empty" && item.salesfloor > 0) {
    found.push(badge(t("inventory.flag.phantom", { n: item.salesfloor }), "flag"));
  }
  return found;
}

export function createInventory(root, store) {
  const query = { q: "", state: "", sort: "name", order: "asc" };
  let items = [];
  let total = 0;
  let body = null;
  let footer = null;
  let head = null;
  let generation = 0;

  /** Which source set each figure, and how long ago: "stock: rfid · 3 min". */
  function sourceLines(item) {
    const sources = item.sources || {};
    return FIGURES.filter((figure) => sources[figure]).map((figure) => {
      const { source, at } = sources[figure];
      return h("div", {}, `${t("inventory.figure." + figure)}: ${source} · `, ago(at, { suffix: false }));
    });
  }

  function row(item) {
    const fill = item.shelf_fill === null ? "" : ` ${percent(item.shelf_fill)}`;
    return h(
      "tr",
      { "data-gtin": item.gtin, class: flags(item).length ? "flagged" : "" },
      h("td", {}, h("strong", {}, item.name || "–"), h("small", {}, `${item.gtin} · ${item.sku || ""}`)),
      h("td", { class: "num" }, String(item.salesfloor)),
      h("td", { class: "num" }, String(item.backroom)),
      h("td", { class: "num" }, String(item.on_hand)),
      h("td", { class: "num" }, String(item.reserved)),
      h("td", { class: "num" }, String(item.available_to_promise)),
      h("td", {}, badge(t("state." + item.shelf_state), item.shelf_state), fill),
      h("td", { class: "sources" }, sourceLines(item)),
      h("td", {}, flags(item)),
    );
  }

  function header() {
    return h(
      "tr",
      {},
      COLUMNS.map((column) => {
        const sorted = column.sort && query.sort === column.sort;
        const ascending = query.order === "asc";
        const label = t(column.label) + (sorted ? (ascending ? " ▲" : " ▼") : "");
        const order = sorted ? (ascending ? "ascending" : "descending") : null;
        const cell = h("th", { class: column.num ? "num" : "", "aria-sort": order });
        cell.append(column.sort ? button(label, () => sortBy(column.sort), { class: "link" }) : label);
        return cell;
      }),
    );
  }

  function controls() {
    const search = h("input", {
      type: "search",
      value: query.q,
      placeholder: t("inventory.search"),
      "aria-label": t("inventory.search"),
      class: "search",
    });
    search.addEventListener("input", debounce(() => {
      query.q = search.value.trim();
      load();
    }, 250));
    const filter = h(
      "select",
      { "aria-label": t("inventory.all"), class: "state-filter" },
      h("option", { value: "" }, t("inventory.all")),
      STATES.map((state) => h("option", { value: state }, t("state." + state))),
      h("option", { value: "flagged" }, t("inventory.flagged")),
    );
    filter.value = query.state;
    filter.addEventListener("change", () => {
      query.state = filter.value;
      load();
    });
    return h("div", { class: "controls" }, search, filter);
  }

  function renderFooter() {
    clear(footer).append(
      h("span", { class: "muted count" }, t("inventory.count", { shown: items.length, total })),
      items.length < total ? h("button", { type: "button", onclick: () => more() }, t("inventory.more")) : "",
    );
  }

  /** The whole panel (first load, language change). */
  function render() {
    body = h("tbody");
    head = h("thead");
    footer = h("div", { class: "table-footer" });
    clear(root).append(
      controls(),
      h("div", { class: "table-scroll" }, h("table", { class: "inventory" }, head, body)),
      footer,
    );
    renderRows();
  }

  /** Rows only: the search box keeps its focus while the answers come in. */
  function renderRows() {
    if (!body) return render();
    head.replaceChildren(header());
    body.replaceChildren(...items.map(row));
    renderFooter();
  }

  function path(offset) {
    const params = new URLSearchParams({ sort: query.sort, order: query.order, offset: String(offset) });
    if (query.q) params.set("q", query.q);
    if (query.state === "flagged") {
      params.set("state", "empty");
      params.set("limit", "500"); // flagged rows are the empty ones with units on the floor
    } else {
      params.set("limit", String(PAGE));
      if (query.state) params.set("state", query.state);
    }
    return storePath(store, `/inventory?${params}`);
  }

  async function fetchPage(offset) {
    const page = await get(path(offset));
    if (query.state !== "flagged") return page;
    const kept = page.items.filter((item) => flags(item).length);
    return { ...page, items: kept, total: kept.length };
  }

  async function load() {
    const mine = ++generation; // a slower, older answer must not overwrite a newer one
    const page = await fetchPage(0);
    if (mine !== generation) return;
    items = page.items;
    total = page.total;
    renderRows();
  }

  async function more() {
    const page = await fetchPage(items.length);
    items = items.concat(page.items);
    total = page.total;
    body.append(...page.items.map(row));
    renderFooter();
  }

  function sortBy(key) {
    query.order = query.sort === key && query.order === "asc" ? "desc" : "asc";
    query.sort = key;
    load();
  }

  return {
    load,
    render,
    onEvent(type, data) {
      if (type !== "inventory") return;
      const index = items.findIndex((item) => item.gtin === data.gtin);
      if (index < 0) return;
      items[index] = data;
      const existing = body.querySelector(`tr[data-gtin="${CSS.escape(data.gtin)}"]`);
      if (!existing) return;
      const replacement = row(data);
      existing.replaceWith(replacement);
      flash(replacement);
    },
  };
}
