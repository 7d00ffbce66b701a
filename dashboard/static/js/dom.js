// DOM helpers: elements built with textContent only (data never becomes markup), ages and durations.
import { t } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.setAttribute("class", value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** h("td", {class: "num"}, "12") — strings become text nodes, never HTML. */
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  apply(node, attrs);
  return append(node, children);
}

export function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  apply(node, attrs);
  return append(node, children);
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

/** Seconds as "45 s", "12 min", "3 h 5 min", "2 d 4 h" in the current language. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t("unit.s", { n: s });
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return t("unit.min", { n: minutes });
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return t("unit.h", { n: hours, m: minutes % 60 });
  return t("unit.d", { n: Math.floor(hours / 24), h: hours % 24 });
}

export function since(iso) {
  if (!iso) return null;
  return (Date.now() - Date.parse(iso)) / 1000;
}

/** "3 min ago"; the element keeps its timestamp so the ticker can refresh it. */
export function ago(iso, { suffix = true } = {}) {
  const node = h("time", { datetime: iso || "", class: "age" });
  if (iso) {
    node.dataset.since = iso;
    if (!suffix) node.dataset.bare = "1";
  }
  refreshAge(node);
  return node;
}

function refreshAge(node) {
  const iso = node.dataset.since;
  if (!iso) {
    node.textContent = "–";
    return;
  }
  const text = duration(since(iso));
  node.textContent = node.dataset.bare ? text : t("age.ago", { d: text });
  node.title = new Date(iso).toLocaleString();
}

/** Ages in the page move on by themselves; one timer for all of them. */
export function startAgeTicker(root, everyMs = 5000) {
  return setInterval(() => {
    for (const node of root.querySelectorAll("[data-since]")) refreshAge(node);
  }, everyMs);
}

export function percent(fraction) {
  return fraction === null || fraction === undefined ? "–" : `${(fraction * 100).toFixed(1)} %`;
}

export function badge(text, kind) {
  return h("span", { class: `badge ${kind || ""}`.trim() }, text);
}

/** Run `fn` once, `ms` after the first call of a burst: live events in bursts cost one reload each. */
export function coalesce(fn, ms) {
  let timer = null;
  return () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
}

export function flash(node) {
  node.classList.remove("flash");
  void node.offsetWidth; // restart the animation
  node.classList.add("flash");
}

/** Trailing debounce, for typing: run `ms` after the last call. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export function button(label, onclick, attrs = {}) {
  return h("button", { type: "button", ...attrs, onclick }, label);
}

/** A tab-like toggle button; `selected` drives its look and aria-selected. */
export function tab(label, selected, onclick, attrs = {}) {
  return button(label, onclick, { class: "tab", "aria-selected": selected ? "true" : "false", ...attrs });
}
