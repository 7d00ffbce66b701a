// Devices: online/offline, last seen, firmware, and read rate (RFID telemetry) or frame rate (cameras).
import { get, storePath } from "./api.js";
import { ago, badge, clear, coalesce, h } from "./dom.js";
import { t } from "./i18n.js";

const HEADERS = ["devices.id", "devices.state", "devices.lastSeen", "devices.firmware", "devices.rate"];

export function createDevices(root, store, { cameras } = {}) {
  const devices = new Map(); // "kind/id" -> device
  let readRates = {};

  function rate(device) {
    if (device.kind === "rfid" && device.id in readRates) {
      return t("devices.readsPerS", { n: readRates[device.id].toFixed(1) });
    }
    if (device.kind === "camera") {
      const info = device.info || {};
      const fps = info.fps ?? info.frame_rate ?? info.frames_per_s;
      if (typeof fps === "number") return t("devices.fps", { n: fps.toFixed(2) });
      const configured = (cameras ? cameras() : []).find((camera) => camera.id === device.id);
      if (configured) return t("devices.everyS", { n: configured.interval_s });
    }
    return "–";
  }

  function render() {
    const rows = [...devices.values()].sort(
      // offline first: that is what needs someone
      (a, b) =>
        (a.state === "online") - (b.state === "online") || a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id),
    );
    if (!rows.length) {
      clear(root).append(h("p", { class: "muted" }, t("devices.none")));
      return;
    }
    clear(root).append(
      h("div", { class: "table-scroll" },
        h("table", { class: "devices" },
          h("thead", {}, h("tr", {}, HEADERS.map((key) => h("th", {}, t(key))))),
          h("tbody", {}, rows.map((device) =>
            h("tr", { "data-device": `${device.kind}/${device.id}`, class: `device-${device.state}` },
              h("td", {}, h("strong", {}, device.id), h("small", {}, device.kind)),
              h("td", {}, badge(t("state." + device.state), device.state)),
              h("td", {}, device.last_seen ? ago(device.last_seen) : "–"),
              h("td", {}, device.firmware || "–"),
              h("td", { class: "num" }, rate(device)))),
          ))),
    );
  }

  async function loadRates() {
    try {
      const telemetry = await get(storePath(store, "/telemetry/rfid"));
      readRates = Object.fromEntries(telemetry.readers.map((reader) => [reader.reader, reader.reads_per_s]));
    } catch {
      readRates = {};
    }
  }

  async function load() {
    const [list] = await Promise.all([get(storePath(store, "/devices")), loadRates()]);
    devices.clear();
    for (const device of list) devices.set(`${device.kind}/${device.id}`, device);
    render();
  }

  const refreshRates = coalesce(() => loadRates().then(render), 10000);

  return {
    load,
    render,
    onEvent(type, data) {
      if (type !== "device") return;
      const device = { ...data, id: data.id ?? data.device, state: data.state === "online" ? "online" : "offline" };
      devices.set(`${device.kind}/${device.id}`, device);
      render();
      refreshRates();
    },
  };
}
