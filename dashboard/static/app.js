// Placeholder dashboard: a store's inventory from the REST API, rows updated live from the SSE stream.
"use strict";

const KEY_STORAGE = "smartstore.key";
const $ = (id) => document.getElementById(id);
let stream = null;

function key() { return sessionStorage.getItem(KEY_STORAGE); }

async function api(path) {
  const response = await fetch("/api/v1" + path, { headers: { Authorization: "Bearer " + key() } });
  const body = await response.json();
  if (!response.ok) {
    throw new Error(body.error ? body.error.message : response.statusText);
  }
  return body;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function renderRow(item, row) {
  row = row || document.createElement("tr");
  row.id = "gtin-" + item.gtin;
  row.replaceChildren(
    cell(item.gtin),
    cell(item.name),
    cell(item.on_hand, "num"),
    cell(item.available_to_promise, "num"),
    cell(item.shelf_state, "state-" + item.shelf_state),
    cell(new Date(item.updated_at).toLocaleTimeString()),
  );
  return row;
}

async function showStore(storeId) {
  if (stream) stream.close();
  const page = await api("/stores/" + encodeURIComponent(storeId) + "/inventory?limit=500&sort=name");
  $("rows").replaceChildren(...page.items.map((item) => renderRow(item)));
  $("message").textContent = page.total + " products";
  const query = "store=" + encodeURIComponent(storeId) + "&key=" + encodeURIComponent(key());
  stream = new EventSource("/api/v1/events?" + query);
  stream.onopen = () => { $("live").hidden = false; };
  stream.onerror = () => { $("live").hidden = true; };
  stream.addEventListener("inventory", (event) => {
    const item = JSON.parse(event.data);
    const existing = $("gtin-" + item.gtin);
    if (!existing) return;
    renderRow(item, existing);
    existing.classList.remove("flash");
    void existing.offsetWidth; // restart the highlight animation
    existing.classList.add("flash");
  });
}

async function start() {
  if (!key()) {
    $("sign-in").hidden = false;
    return;
  }
  try {
    const stores = await api("/stores");
    $("store").replaceChildren(...stores.map((store) => new Option(store.name, store.id)));
    $("store-view").hidden = false;
    $("sign-out").hidden = false;
    if (stores.length) await showStore(stores[0].id);
  } catch (error) {
    $("message").textContent = "Cannot load: " + error.message;
    sessionStorage.removeItem(KEY_STORAGE);
    $("sign-in").hidden = false;
  }
}

$("sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORAGE, $("key").value.trim());
  $("sign-in").hidden = true;
  $("message").textContent = "";
  start();
});
$("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORAGE);
  location.reload();
});
$("store").addEventListener("change", (event) => {
  showStore(event.target.value).catch((error) => { $("message").textContent = error.message; });
});
start();
