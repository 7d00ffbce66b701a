// Shelf view: per camera, the planogram's slots drawn over the latest annotated snapshot, coloured by state.
import { get, snapshot, storePath } from "./api.js";
import { ago, badge, clear, coalesce, duration, h, percent, since, svg, tab } from "./dom.js";
import { t } from "./i18n.js";

const SNAPSHOT_EVERY_MS = 10000;
const NEEDS_TIME = new Set(["empty", "low"]);

export function createShelves(root, store, { onLatency } = {}) {
  let plan = null;
  let camera = null;
  const slots = new Map(); // slot id -> slot (plan fields + live state)
  const snapshots = new Map(); // camera -> {url, takenAt} | null
  let selected = null;
  let timer = null;

  function cameraSlots(cameraId) {
    const shelves = plan.shelves.filter((shelf) => shelf.camera === cameraId);
    return shelves.flatMap((shelf) => shelf.slots.map((slot) => slots.get(slot.id)));
  }

  function counts(cameraId) {
    const result = { ok: 0, low: 0, empty: 0, unknown: 0 };
    for (const slot of cameraSlots(cameraId)) result[slot.state] = (result[slot.state] || 0) + 1;
    return result;
  }

  /** A camera's name with how many of its slots are empty and low. */
  function tabLabel(cameraId) {
    const c = counts(cameraId);
    return [cameraId, c.empty ? badge(String(c.empty), "empty") : "", c.low ? badge(String(c.low), "low") : ""];
  }

  function tabs() {
    const buttons = plan.cameras.map((cam) =>
      tab(tabLabel(cam.id), cam.id === camera, () => select(cam.id), { role: "tab", "data-camera": cam.id }),
    );
    return h("div", { class: "tabs", role: "tablist" }, buttons);
  }

  /** Whether the slot's state changed after the picture under it was taken. */
  function changedSincePicture(slot, shot) {
    return Boolean(shot && slot.updated_at && Date.parse(slot.updated_at) > Date.parse(shot.takenAt));
  }

  function slotClass(slot, shot) {
    return [
      "slot",
      `state-${slot.state}`,
      slot.stale ? "stale" : "",
      slot.id === selected ? "selected" : "",
      changedSincePicture(slot, shot) ? "newer-than-picture" : "",
    ].filter(Boolean).join(" ");
  }

  function slotShape(slot, shot) {
    const points = slot.polygon.map(([x, y]) => `${x},${y}`).join(" ");
    const xs = slot.polygon.map((p) => p[0]);
    const ys = slot.polygon.map((p) => p[1]);
    const cx = (Math.min(...xs) + Math.max(...xs)) / 2;
    const cy = (Math.min(...ys) + Math.max(...ys)) / 2;
    const label = svg("text", { class: "slot-age", "text-anchor": "middle", x: cx, y: cy + 8 });
    const group = svg(
      "g",
      {
        class: slotClass(slot, shot),
        "data-slot": slot.id,
        "data-state": slot.state,
        tabindex: "0",
        onclick: () => showDetails(slot.id),
        onkeydown: (event) => {
          if (event.key === "Enter" || event.key === " ") showDetails(slot.id);
        },
      },
      svg("title", {}, `${slot.name || slot.gtin} · ${t("state." + slot.state)}`),
      svg("polygon", { points }),
      // The annotated snapshot labels its slots itself: a second label on top made both unreadable.
      shot ? "" : svg("text", { class: "slot-id", x: Math.min(...xs) + 8, y: Math.min(...ys) + 22 }, slot.id),
      label,
    );
    refreshLabel(group, slot);
    return group;
  }

  function refreshLabel(group, slot) {
    const label = group.querySelector(".slot-age");
    if (NEEDS_TIME.has(slot.state) && slot.since) {
      label.dataset.since = slot.since;
      label.dataset.bare = "1";
      label.textContent = duration(since(slot.since)); // the age ticker keeps it current
    } else {
      delete label.dataset.since;
      label.textContent = "";
    }
  }

  function stage(cam) {
    const shot = snapshots.get(cam.id);
    const picture = shot
      ? svg("image", { href: shot.url, x: 0, y: 0, width: cam.width, height: cam.height, preserveAspectRatio: "none" })
      : svg(
          "g",
          { class: "no-snapshot" },
          svg("rect", { x: 0, y: 0, width: cam.width, height: cam.height }),
          svg("text", { x: cam.width / 2, y: cam.height / 2, "text-anchor": "middle" }, t("shelves.noSnapshot")),
        );
    return svg(
      "svg",
      {
        class: "shelf-stage",
        viewBox: `0 0 ${cam.width} ${cam.height}`,
        role: "img",
        "aria-label": `${t("shelves.camera")} ${cam.id}`,
        "data-camera": cam.id,
      },
      picture,
      cameraSlots(cam.id).map((slot) => slotShape(slot, shot)),
    );
  }

  function details() {
    const slot = selected && slots.get(selected);
    if (!slot) return h("p", { class: "slot-details muted" });
    return h(
      "p",
      { class: "slot-details" },
      h("strong", {}, slot.name || slot.gtin),
      ` · ${t("shelves.slot")} ${slot.id} · `,
      badge(t("state." + slot.state), slot.state),
      slot.fill === null ? "" : ` · ${t("shelves.fill")} ${percent(slot.fill)}`,
      slot.since ? " · " : "",
      slot.since ? ago(slot.since) : "",
    );
  }

  function render() {
    if (!plan) return;
    if (!plan.cameras.length) {
      clear(root).append(h("p", { class: "muted" }, t("shelves.none")));
      return;
    }
    const cam = plan.cameras.find((c) => c.id === camera) || plan.cameras[0];
    camera = cam.id;
    clear(root).append(tabs(), stage(cam), caption(cam.id), details());
  }

  function caption(cameraId) {
    const shot = snapshots.get(cameraId);
    const taken = shot ? [t("shelves.snapshot"), " ", ago(shot.takenAt)] : "";
    return h("p", { class: "muted snapshot-age" }, taken, newerNote(cameraId, shot));
  }

  /** The picture is taken every minute or so; slots are live: say how many moved on since the picture. */
  function newerNote(cameraId, shot) {
    const newer = cameraSlots(cameraId).filter((slot) => changedSincePicture(slot, shot)).length;
    return newer ? h("span", { class: "newer-note" }, " · ", t("shelves.newerThanPicture", { n: newer })) : "";
  }

  function showDetails(slotId) {
    selected = slotId;
    render();
  }

  async function loadSnapshot(cameraId) {
    let shot = null;
    try {
      shot = await snapshot(storePath(store, `/cameras/${encodeURIComponent(cameraId)}/snapshot.jpg`));
    } catch {
      shot = null; // no snapshot route, or not allowed: the planogram alone still shows the states
    }
    const old = snapshots.get(cameraId);
    snapshots.set(cameraId, shot);
    if (old) URL.revokeObjectURL(old.url);
    if (cameraId !== camera || (!shot && !old)) return;
    render();
  }

  const refreshSnapshot = coalesce(() => camera && loadSnapshot(camera), 2000);

  function select(cameraId) {
    camera = cameraId;
    selected = null;
    render();
    loadSnapshot(cameraId);
  }

  async function load() {
    plan = await get(storePath(store, "/planogram"));
    slots.clear();
    for (const shelf of plan.shelves) for (const slot of shelf.slots) slots.set(slot.id, { ...slot, shelf: shelf.id });
    if (!camera || !plan.cameras.some((c) => c.id === camera)) {
      // Start where the trouble is: the camera with the most empty slots.
      const ranked = [...plan.cameras].sort((a, b) => counts(b.id).empty - counts(a.id).empty);
      camera = ranked.length ? ranked[0].id : null;
    }
    render();
    if (camera) loadSnapshot(camera);
    clearInterval(timer);
    timer = setInterval(() => {
      if (document.visibilityState === "visible" && camera) loadSnapshot(camera);
    }, SNAPSHOT_EVERY_MS);
  }

  function onSlot(data) {
    const slot = slots.get(data.slot);
    if (!slot) return;
    Object.assign(slot, {
      state: data.state,
      fill: data.fill,
      stale: data.stale,
      since: data.since,
      updated_at: data.updated_at,
    });
    const group = root.querySelector(`g.slot[data-slot="${CSS.escape(data.slot)}"]`);
    if (group) {
      group.setAttribute("class", slotClass(slot, snapshots.get(data.camera)));
      group.dataset.state = slot.state;
      group.querySelector("title").textContent = `${slot.name || slot.gtin} · ${t("state." + slot.state)}`;
      refreshLabel(group, slot);
      const note = root.querySelector(".snapshot-age");
      if (note && data.camera === camera) note.replaceWith(caption(camera));
      refreshSnapshot();
    }
    const cameraTab = root.querySelector(`.tab[data-camera="${CSS.escape(data.camera)}"]`);
    if (cameraTab) cameraTab.replaceChildren(...tabLabel(data.camera));
    if (selected === data.slot) root.querySelector(".slot-details").replaceWith(details());
    if (onLatency && data.updated_at) onLatency("slot", data.updated_at);
  }

  return {
    load,
    render,
    onEvent(type, data) {
      if (type === "slot") onSlot(data);
    },
    cameras() {
      return plan ? plan.cameras : [];
    },
    stop() {
      clearInterval(timer);
    },
  };
}
