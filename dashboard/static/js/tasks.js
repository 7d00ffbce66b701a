// Restock tasks, most urgent first: acknowledge (manager), refilled (associate); the camera closes them.
import { get, post, storePath } from "./api.js";
import { ago, badge, button, clear, duration, h, tab } from "./dom.js";
import { t } from "./i18n.js";

const SLOT_RANK = { empty: 0, low: 1 };
const KIND_RANK = { restock_from_backroom: 0, reorder: 1 };

// The gateway's order (gateway/restock.py): empty before low, backroom stock first, oldest first;
// resolved tasks wait for the camera at the end.
function rankKey(task) {
  return [
    task.state === "resolved" ? 1 : 0,
    SLOT_RANK[task.slot_state] ?? 2,
    KIND_RANK[task.kind] ?? 2,
    Date.parse(task.opened_at),
  ];
}

function compare(a, b) {
  const ka = rankKey(a);
  const kb = rankKey(b);
  for (let i = 0; i < ka.length; i += 1) if (ka[i] !== kb[i]) return ka[i] - kb[i];
  return a.id - b.id;
}

export function createTasks(root, store, { onLatency } = {}) {
  const live = new Map();
  let closed = [];
  let mode = "live";
  let notice = "";

  async function act(task, step) {
    notice = "";
    try {
      upsert(await post(`/tasks/${task.id}/${step}`));
    } catch (error) {
      notice = error.message;
    }
    render();
  }

  function historyList(task) {
    return h(
      "details",
      { class: "history" },
      h("summary", {}, t("tasks.historyTitle")),
      h(
        "ol",
        {},
        (task.history || []).map((step) =>
          h("li", {}, ago(step.at), " · ", t("event." + step.event),
            step.by ? ` · ${step.by}` : "", step.slot_state ? ` · ${t("state." + step.slot_state)}` : ""),
        ),
      ),
    );
  }

  function kindLabel(task) {
    const label = t("tasks.kind." + task.kind);
    const stocked = task.kind === "restock_from_backroom" && task.backroom;
    return stocked ? `${label} · ${t("tasks.backroom", { n: task.backroom })}` : label;
  }

  function actions(task) {
    const node = h("div", { class: "actions" });
    if (task.state === "open") {
      node.append(button(t("tasks.acknowledge"), () => act(task, "acknowledge"), { "data-action": "acknowledge" }));
    }
    if (task.state === "open" || task.state === "acknowledged") {
      const attrs = { class: "primary", "data-action": "resolve" };
      node.append(button(t("tasks.resolve"), () => act(task, "resolve"), attrs));
    }
    if (task.state === "resolved") node.append(h("span", { class: "muted" }, t("tasks.awaitingCamera")));
    if (task.state === "closed") {
      const by = task.closed_by === "camera" ? t("tasks.camera") : task.closed_by;
      const took = (Date.parse(task.closed_at) - Date.parse(task.opened_at)) / 1000;
      const text = `${t("tasks.closedBy", { by })} · ${t("tasks.took", { d: duration(took) })}`;
      node.append(h("span", { class: "muted" }, text));
    }
    return node;
  }

  function card(task, rank) {
    const isLive = task.state !== "closed";
    const attrs = {
      class: `task state-${task.state} slot-${task.slot_state}`,
      "data-task": task.id,
      "data-slot": task.slot,
      "data-state": task.state,
    };
    return h(
      "li",
      attrs,
      h("div", { class: "task-head" },
        isLive ? h("span", { class: "rank" }, `#${rank}`) : null,
        h("strong", {}, task.name || task.gtin),
        badge(t("state." + task.slot_state), task.slot_state),
        badge(t("state." + task.state), "task-" + task.state)),
      h("div", { class: "task-meta" },
        `${t("shelves.slot")} ${task.slot}${task.shelf ? " · " + task.shelf : ""} · `,
        h("span", { class: `kind kind-${task.kind}` }, kindLabel(task))),
      isLive
        ? h("div", { class: "task-meta" }, `${t("state." + task.slot_state)} `, ago(task.opened_at, { suffix: false }))
        : null,
      actions(task),
      historyList(task),
    );
  }

  function switcher() {
    return h(
      "div",
      { class: "tabs" },
      tab(`${t("tasks.live")} (${live.size})`, mode === "live", () => setMode("live")),
      tab(t("tasks.history"), mode === "history", () => setMode("history")),
    );
  }

  function render() {
    const items = mode === "live" ? [...live.values()].sort(compare) : closed;
    const list = items.length
      ? h("ol", { class: "task-list", "data-mode": mode }, items.map((task, i) => card(task, i + 1)))
      : h("p", { class: "muted empty-note" }, t(mode === "live" ? "tasks.none" : "tasks.noneClosed"));
    clear(root).append(switcher(), notice ? h("p", { class: "error" }, notice) : "", list);
  }

  async function setMode(next) {
    mode = next;
    if (mode === "history") closed = (await get(storePath(store, "/tasks?state=closed&limit=50"))).items;
    render();
  }

  function upsert(task) {
    if (task.state === "closed") {
      live.delete(task.id);
      closed = [task, ...closed.filter((c) => c.id !== task.id)].slice(0, 50);
    } else {
      live.set(task.id, task);
    }
  }

  async function load() {
    const body = await get(storePath(store, "/tasks"));
    live.clear();
    for (const task of body.items) live.set(task.id, task);
    if (mode === "history") closed = (await get(storePath(store, "/tasks?state=closed&limit=50"))).items;
    render();
  }

  return {
    load,
    render,
    onEvent(type, data) {
      if (type !== "tasks") return;
      upsert(data);
      render();
      if (onLatency && data.updated_at) onLatency("tasks", data.updated_at);
    },
  };
}
