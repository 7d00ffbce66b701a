// The store dashboard: sign in with a key, pick a store, load the panels, keep them live over SSE.
import { KEY_STORAGE, currentKey, eventsUrl, get, storePath } from "./js/api.js";
import { createAlerts } from "./js/alerts.js";
import { createCharts } from "./js/charts.js";
import { createDevices } from "./js/devices.js";
import { startAgeTicker } from "./js/dom.js";
import { applyStatic, language, onLanguageChange, t, toggleLanguage } from "./js/i18n.js";
import { createInventory } from "./js/inventory.js";
import { createKpis } from "./js/kpis.js";
import { createLockers } from "./js/lockers.js";
import { createOrders } from "./js/orders.js";
import { createShelves } from "./js/shelves.js";
import { createTasks } from "./js/tasks.js";

const STORE_STORAGE = "smartstore.store";
const RECONNECT_MS = 3000;
const EVENT_TYPES = ["slot", "tasks", "inventory", "alert", "device", "osa", "orders", "lockers"];
const $ = (id) => document.getElementById(id);

// Measured by the browser tests (first meaningful paint, live latency) and handy in the console.
const metrics = (window.smartstoreMetrics = { ready: null, latency: [] });

let store = null;
let stores = [];
let panels = {};
let stream = null;
let reconnectTimer = null;
let lost = false;

function recordLatency(type, iso) {
  metrics.latency.push({ type, at: iso, ms: Date.now() - Date.parse(iso) });
  if (metrics.latency.length > 200) metrics.latency.shift();
}

function message(text) {
  $("message").textContent = text || "";
}

function signIn(text) {
  closeStream();
  sessionStorage.removeItem(KEY_STORAGE);
  $("dashboard").hidden = true;
  $("sign-out").hidden = true;
  document.querySelector(".store-picker").hidden = true;
  $("sign-in").hidden = false;
  message(text);
}

/** 401/403 send the user back to the key prompt with the reason; anything else is shown as is. */
function refuse(error) {
  if (error.status === 401) signIn(t("error.invalid"));
  else if (error.status === 403) signIn(t("error.forbidden", { message: error.message }));
  else message(t("error.load", { message: error.message }));
}

function setLive(on) {
  const badge = $("live");
  badge.dataset.state = on ? "on" : "off";
  badge.dataset.i18n = on ? "live.on" : "live.off";
  badge.textContent = t(badge.dataset.i18n);
  $("banner").hidden = on;
}

function closeStream() {
  clearTimeout(reconnectTimer);
  if (stream) stream.close();
  stream = null;
}

function dispatch(type, data) {
  for (const panel of Object.values(panels)) {
    try {
      panel.onEvent(type, data);
    } catch (error) {
      console.warn("panel failed on a live event", type, error);
    }
  }
}

function connect() {
  closeStream();
  const source = new EventSource(eventsUrl(store));
  stream = source;
  source.onopen = () => {
    setLive(true);
    if (lost) reloadAll(); // events were missed while we were away
    lost = false;
  };
  source.onerror = () => {
    lost = true;
    setLive(false);
    // EventSource retries network errors itself; an HTTP error closes it for good, so we retry.
    if (source.readyState === EventSource.CLOSED) scheduleReconnect();
  };
  for (const type of EVENT_TYPES) {
    source.addEventListener(type, (event) => dispatch(type, JSON.parse(event.data)));
  }
}

function scheduleReconnect() {
  clearTimeout(reconnectTimer);
  reconnectTimer = setTimeout(async () => {
    try {
      await get(storePath(store, "/kpis")); // still allowed? (a revoked key must not retry forever)
    } catch (error) {
      if (error.status === 401 || error.status === 403) return refuse(error);
      return scheduleReconnect();
    }
    connect();
  }, RECONNECT_MS);
}

function reloadAll() {
  for (const panel of Object.values(panels)) panel.load().catch((error) => console.warn("reload failed", error));
}

async function openStore(id) {
  closeStream();
  for (const panel of Object.values(panels)) if (panel.stop) panel.stop();
  store = id;
  sessionStorage.setItem(STORE_STORAGE, id);
  const onLatency = recordLatency;
  const shelves = createShelves($("shelves"), store, { onLatency });
  const timezone = (stores.find((s) => s.id === store) || {}).timezone;
  panels = {
    kpis: createKpis($("kpis"), store),
    shelves,
    tasks: createTasks($("tasks"), store, { onLatency }),
    inventory: createInventory($("inventory"), store),
    alerts: createAlerts($("alerts"), store),
    devices: createDevices($("devices"), store, { cameras: () => shelves.cameras() }),
    lockers: createLockers($("lockers"), store),
    orders: createOrders($("orders"), store, { timezone }),
    charts: createCharts($("charts"), store),
  };
  try {
    // What a manager needs first; a key without the dashboard role fails here (403).
    await Promise.all([panels.kpis.load(), shelves.load(), panels.tasks.load(), panels.inventory.load()]);
  } catch (error) {
    return refuse(error);
  }
  message("");
  $("dashboard").hidden = false;
  requestAnimationFrame(() => {
    performance.mark("smartstore:ready");
    metrics.ready = performance.now();
  });
  connect();
  const rest = [panels.alerts, panels.devices, panels.lockers, panels.orders, panels.charts];
  await Promise.allSettled(rest.map((panel) => panel.load()));
}

async function start() {
  applyStatic();
  if (!currentKey()) return signIn("");
  try {
    stores = await get("/stores");
  } catch (error) {
    return refuse(error);
  }
  if (!stores.length) return signIn(t("error.noStores"));
  const select = $("store");
  select.replaceChildren(...stores.map((s) => new Option(s.name, s.id)));
  const remembered = sessionStorage.getItem(STORE_STORAGE);
  select.value = stores.some((s) => s.id === remembered) ? remembered : stores[0].id;
  document.querySelector(".store-picker").hidden = stores.length < 2;
  $("sign-in").hidden = true;
  $("sign-out").hidden = false;
  await openStore(select.value);
}

function languageButton() {
  $("lang").textContent = language() === "en" ? "中文" : "English";
  $("lang").lang = language() === "en" ? "zh-CN" : "en";
}

$("sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORAGE, $("key").value.trim());
  $("key").value = "";
  start();
});
$("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORAGE);
  location.reload();
});
$("store").addEventListener("change", (event) => openStore(event.target.value));
$("lang").addEventListener("click", toggleLanguage);
onLanguageChange(() => {
  languageButton();
  for (const panel of Object.values(panels)) panel.render();
});
languageButton();
startAgeTicker(document.body);
start();
